// Compressed host caches (Plan::cache_format, model/cache_format.h) on the cpu backend.
// First the row format against its definition (hand-computed rows, the round trip's bound).
// Then the engine: under the kv policy, with every layer's cache on the host, its oracle is the
// reference model whose cache rows are replaced, once their step has run, by what the format
// keeps of them (compress, then expand): the rows a step writes are exact within it, and every
// later step loads them compressed. The engine must give its tokens and logits bit for bit. A
// GPU-resident cache is never compressed (bit for bit the uncompressed run); checkpoint
// policies stay near the uncompressed run; and every step moves the bytes the planner counts.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <map>
#include <random>

#include "backend/backend.h"
#include "backend/cpu/sampling.h"
#include "engine/engine.h"
#include "engine/reference.h"
#include "goldens.h"
#include "model/cache_format.h"
#include "model/quant.h"
#include "model/weights.h"
#include "plan/cost_model.h"
#include "plan/footprint.h"
#include "test_support.h"

namespace hs {
namespace {

std::vector<float> round_trip(CacheFormat f, const std::vector<float>& x, int64_t group) {
  const int64_t cols = static_cast<int64_t>(x.size());
  std::vector<uint8_t> row(static_cast<size_t>(cache_row_bytes(f, cols, group, 4)));
  compress_cache_row(f, x.data(), cols, group, row.data());
  std::vector<float> out(x.size());
  expand_cache_row(f, row.data(), cols, group, out.data());
  return out;
}

TEST(CacheFormat, RowBytesAndNames) {
  // int4: 64 codes in 32 bytes, then 2 groups x (scale, min) fp16 = 8 bytes.
  EXPECT_EQ(cache_row_bytes(CacheFormat::int4, 64, 32, 2), 32 + 8);
  // int8: 10 codes padded to 12, then 3 groups (4 + 4 + 2 elements) x 4 bytes.
  EXPECT_EQ(cache_row_bytes(CacheFormat::int8, 10, 4, 2), 12 + 12);
  EXPECT_EQ(cache_row_bytes(CacheFormat::native, 10, 4, 2), 20);
  EXPECT_EQ(cache_row_bytes(CacheFormat::native, 10, 4, 4), 40);
  // opt-13b's rows (5120) at group 64: int4 2880 bytes, 0.281 of fp16's 10240; int8 5440.
  EXPECT_EQ(cache_row_bytes(CacheFormat::int4, 5120, 64, 2), 2560 + 320);
  EXPECT_EQ(cache_row_bytes(CacheFormat::int8, 5120, 64, 2), 5120 + 320);
  // fp8: a code a byte, then one fp16 scale a group: 5120 + 80 x 2; 10 codes (12 bytes) and 3
  // scales (6 bytes, padded to 8).
  EXPECT_EQ(cache_row_bytes(CacheFormat::fp8, 5120, 64, 2), 5120 + 160);
  EXPECT_EQ(cache_row_bytes(CacheFormat::fp8, 10, 4, 2), 12 + 8);
  EXPECT_EQ(parse_cache_format("fp8"), CacheFormat::fp8);
  EXPECT_EQ(parse_cache_format("fp16"), CacheFormat::native);
  EXPECT_EQ(parse_cache_format("int4"), CacheFormat::int4);
  EXPECT_THROW(parse_cache_format("int3"), Error);
  EXPECT_THROW(cache_row_bytes(CacheFormat::int4, 64, 7, 2), Error);  // odd int4 group
}

TEST(CacheFormat, AHandComputedInt4Row) {
  // One group of 4: min -1, max 2, scale 3/15 = 0.2 (fp16 0.199951171875), min -1.
  const std::vector<float> x{-1.f, 0.f, 2.f, 0.5f};
  std::vector<uint8_t> row(static_cast<size_t>(cache_row_bytes(CacheFormat::int4, 4, 4, 4)));
  compress_cache_row(CacheFormat::int4, x.data(), 4, 4, row.data());
  const float s = f16_to_f32(f32_to_f16(0.2f));
  // codes: 0, round(1 / s) = 5, round(3 / s) = 15, round(1.5 / s) = 8 (7.5018...)
  EXPECT_EQ(row[0], 0x50);
  EXPECT_EQ(row[1], 0x8f);
  uint16_t params[2];
  std::memcpy(params, row.data() + 4, 4);  // codes padded to 4 bytes
  EXPECT_EQ(params[0], f32_to_f16(0.2f));
  EXPECT_EQ(params[1], f32_to_f16(-1.f));
  std::vector<float> y(4);
  expand_cache_row(CacheFormat::int4, row.data(), 4, 4, y.data());
  EXPECT_EQ(y[0], -1.f);
  EXPECT_EQ(y[1], std::fma(5.f, s, -1.f));
  EXPECT_EQ(y[2], std::fma(15.f, s, -1.f));
  EXPECT_EQ(y[3], std::fma(8.f, s, -1.f));
}

TEST(CacheFormat, AHandComputedFp8Row) {
  // Groups of 2: {-448, 1} has scale 1 exactly; {0.3, 0.1} scale 0.3 / 448 in fp16 (a
  // subnormal-free 6.6959e-4 after rounding), codes of x / scale.
  const std::vector<float> x{-448.f, 1.f, 0.3f, 0.1f, 0.f};
  const int64_t cols = 5, group = 2;
  std::vector<uint8_t> row(static_cast<size_t>(cache_row_bytes(CacheFormat::fp8, cols, group, 4)));
  ASSERT_EQ(row.size(), 8u + 8u);             // 5 codes padded to 8, 3 scales padded to 8 bytes
  std::memset(row.data(), 0xab, row.size());  // padding must come out zero
  compress_cache_row(CacheFormat::fp8, x.data(), cols, group, row.data());
  EXPECT_EQ(row[0], 0xfe);  // -448: sign, exponent 15, mantissa 6
  EXPECT_EQ(row[1], 0x38);  // 1: exponent 7, mantissa 0
  const float s1 = f16_to_f32(f32_to_f16(0.3f / 448.f));
  EXPECT_EQ(row[2], f32_to_e4m3(0.3f / s1));
  EXPECT_EQ(row[3], f32_to_e4m3(0.1f / s1));
  EXPECT_EQ(row[4], 0);  // an all-zero group: scale 0, code 0
  for (int b = 5; b < 8; ++b) EXPECT_EQ(row[b], 0) << "code padding " << b;
  uint16_t scales[4];
  std::memcpy(scales, row.data() + 8, 8);
  EXPECT_EQ(scales[0], f32_to_f16(1.f));
  EXPECT_EQ(scales[1], f32_to_f16(0.3f / 448.f));
  EXPECT_EQ(scales[2], 0);
  EXPECT_EQ(scales[3], 0);  // the parameters' padding
  std::vector<float> y(cols);
  expand_cache_row(CacheFormat::fp8, row.data(), cols, group, y.data());
  EXPECT_EQ(y[0], -448.f);
  EXPECT_EQ(y[1], 1.f);
  EXPECT_EQ(y[2], e4m3_to_f32(row[2]) * s1);
  EXPECT_NEAR(y[3], 0.1f, 0.1f / 16);  // 3 mantissa bits: within 1/16 relative
  EXPECT_EQ(y[4], 0.f);
}

// fp8 keeps every value to 3 mantissa bits relative to itself (1/16 of its magnitude), or to
// the subnormal step scale * 2^-9 for values far below the group's largest.
TEST(CacheFormat, Fp8RoundTripIsWithinItsRelativeStep) {
  std::mt19937 rng(11);
  std::normal_distribution<float> d(0.f, 3.f);
  for (const int64_t group : {int64_t{2}, int64_t{16}, int64_t{64}})
    for (const int64_t cols : {int64_t{64}, int64_t{100}, int64_t{6}}) {
      std::vector<float> x(static_cast<size_t>(cols));
      for (float& v : x) v = d(rng);
      const std::vector<float> y = round_trip(CacheFormat::fp8, x, group);
      for (int64_t g0 = 0; g0 < cols; g0 += group) {
        float amax = 0;
        for (int64_t c = g0; c < std::min(cols, g0 + group); ++c)
          amax = std::max(amax, std::fabs(x[c]));
        const float scale = amax / 448.f;
        for (int64_t c = g0; c < std::min(cols, g0 + group); ++c)
          // Half of e4m3's relative step, the scale's fp16 rounding (2^-11), and half a
          // subnormal step.
          EXPECT_LE(std::fabs(y[c] - x[c]),
                    std::fabs(x[c]) * (1.f / 16 + 1e-3f) + scale * 0.002f + 1e-7f)
              << "group " << group << " col " << c;
      }
    }
}

TEST(CacheFormat, RoundTripIsWithinHalfAStepOfEachGroup) {
  std::mt19937 rng(7);
  std::normal_distribution<float> d(0.f, 3.f);
  for (const CacheFormat f : {CacheFormat::int8, CacheFormat::int4})
    for (const int64_t group : {int64_t{2}, int64_t{16}, int64_t{64}})
      for (const int64_t cols : {int64_t{64}, int64_t{100}, int64_t{6}}) {
        std::vector<float> x(static_cast<size_t>(cols));
        for (float& v : x) v = d(rng);
        x[0] = 0;  // a group may hold equal values
        const std::vector<float> y = round_trip(f, x, group);
        for (int64_t g0 = 0; g0 < cols; g0 += group) {
          const int64_t g1 = std::min(cols, g0 + group);
          float mn = x[g0], mx = x[g0];
          for (int64_t c = g0; c < g1; ++c) mn = std::min(mn, x[c]), mx = std::max(mx, x[c]);
          const float step = (mx - mn) / static_cast<float>(cache_row_levels(f));
          for (int64_t c = g0; c < g1; ++c)
            // Half a step, plus the fp16 rounding of the parameters (min and scale * levels).
            EXPECT_LE(std::fabs(y[c] - x[c]),
                      0.5f * step + 2e-3f * (std::fabs(mn) + std::fabs(mx)) + 1e-6f)
                << cache_format_name(f) << " group " << group << " col " << c;
        }
      }
  // A constant group expands to its value (rounded to fp16 as the minimum is stored).
  const std::vector<float> flat(8, 1.25f);
  EXPECT_EQ(round_trip(CacheFormat::int4, flat, 8), flat);
}

// The reference model, its cache rows replaced by the format's round trip after each step.
std::vector<GenResult> reference_with_cache(const WeightSource& w,
                                            const std::vector<GenRequest>& batch, CacheFormat f,
                                            int64_t group, test::LogitsRows& rows) {
  const ReferenceModel model(w);
  const ModelConfig& c = model.config();
  const int64_t KV = c.kv_dim();
  std::vector<GenResult> out;
  for (size_t i = 0; i < batch.size(); ++i) {
    const GenRequest& r = batch[i];
    GenResult res;
    const int64_t budget = generation_budget(c, r);
    ReferenceModel::Cache cache =
        model.new_cache(static_cast<int64_t>(r.prompt.size()) + std::max<int64_t>(budget, 1));
    auto keep = [&](int64_t from) {  // rows [from, len) of every layer, as the format keeps them
      for (int64_t l = 0; l < c.n_layers; ++l)
        for (auto* kv : {&cache.k[l], &cache.v[l]})
          for (int64_t t = from; t < cache.len; ++t) {
            std::vector<float> row(kv->begin() + t * KV, kv->begin() + (t + 1) * KV);
            row = round_trip(f, row, group);
            std::copy(row.begin(), row.end(), kv->begin() + t * KV);
          }
    };
    std::vector<float> logits = model.forward(cache, r.prompt);
    keep(0);
    for (int64_t step = 0; step < budget; ++step) {
      rows[{i, step}] = logits;
      const int32_t tok =
          sample_token(logits.data(), c.vocab_size, SamplingParams{}, request_key(r.id), step);
      res.output.push_back(tok);
      if (is_eos(c, tok)) break;
      if (step + 1 < budget) {
        const int64_t before = cache.len;
        logits = model.forward(cache, {tok});
        keep(before);
      }
    }
    out.push_back(std::move(res));
  }
  return out;
}

Plan cache_plan(Policy policy, double act, int64_t gpu_cache_layers, CacheFormat f, int64_t group) {
  Plan p = test::hand_plan(policy, act, 0, gpu_cache_layers, 2);
  p.cache_format = f;
  p.cache_group = group;
  return p;
}

struct CacheRun {
  std::vector<GenResult> out;
  test::LogitsRows logits;
  std::vector<TraceEvent> trace;
  Plan plan;
};

CacheRun run_engine(const WeightSource& w, const std::vector<GenRequest>& batch, const Plan& plan) {
  auto backend = make_backend("cpu");
  CacheRun r;
  HybridEngine engine(w, *backend, plan, test::workload_of(batch));
  engine.set_logits_observer(test::record_logits(r.logits));
  r.out = engine.generate(batch, SamplingParams{});
  r.trace = engine.trace();
  r.plan = engine.plan();
  return r;
}

TEST(EngineCacheFormat, KvPolicyGivesTheReferenceOnWhatTheFormatKeeps) {
  for (const std::string model : {"opt-tiny", "llama-tiny", "llama-gqa"})
    for (const auto& [f, group] :
         {std::pair{CacheFormat::int8, int64_t{64}}, std::pair{CacheFormat::int4, int64_t{64}},
          std::pair{CacheFormat::int4, int64_t{16}}, std::pair{CacheFormat::fp8, int64_t{64}}}) {
      const std::string what = cat(model, " ", cache_format_name(f), " group ", group);
      const test::Golden g = test::load_golden(model);
      auto weights = open_model_dir(test::data_path("models/" + model));
      const std::vector<GenRequest> batch = test::golden_batch(g);
      const CacheRun got = run_engine(*weights, batch, cache_plan(Policy::kv, 0, 0, f, group));
      test::LogitsRows want;
      const auto ref = reference_with_cache(*weights, batch, f, group, want);
      for (size_t i = 0; i < ref.size(); ++i)
        EXPECT_EQ(got.out[i].output, ref[i].output) << what << " case " << i;
      EXPECT_EQ(got.logits, want) << what;
      // And it is not the uncompressed run.
      const CacheRun native =
          run_engine(*weights, batch, cache_plan(Policy::kv, 0, 0, CacheFormat::native, group));
      EXPECT_NE(got.logits, native.logits) << what << ": nothing was compressed";
    }
}

TEST(EngineCacheFormat, AGpuResidentCacheIsNotCompressed) {
  const test::Golden g = test::load_golden("opt-tiny");
  auto weights = open_model_dir(test::data_path("models/opt-tiny"));
  const std::vector<GenRequest> batch = test::golden_batch(g);
  const int64_t L = weights->config().n_layers;
  for (const Policy policy : {Policy::kv, Policy::hybrid}) {
    const double act = policy == Policy::kv ? 0 : 0.5;
    const CacheRun native =
        run_engine(*weights, batch, cache_plan(policy, act, L, CacheFormat::native, 64));
    const CacheRun int4 =
        run_engine(*weights, batch, cache_plan(policy, act, L, CacheFormat::int4, 64));
    EXPECT_EQ(int4.logits, native.logits) << policy_name(policy);
  }
}

// Checkpoints are compressed too (K/V recomputed from what the format keeps of them): the
// worst logits row of the whole generation against the uncompressed run, teacher-forced on
// nothing (greedy), stays under a bound, and above zero. On these random narrow models int8
// costs about 0.01, int4 about 0.15 and fp8 about 0.05.
TEST(EngineCacheFormat, CheckpointPoliciesStayNearTheUncompressedRun) {
  for (const std::string model : {"opt-tiny", "llama-tiny"})
    for (const auto& [policy, act] : {std::pair{Policy::act, 1.0}, std::pair{Policy::hybrid, 0.5}})
      for (const auto& [f, bound] :
           {std::pair{CacheFormat::int8, 0.05}, std::pair{CacheFormat::int4, 0.4},
            std::pair{CacheFormat::fp8, 0.1}}) {
        const std::string what = cat(model, " ", policy_name(policy), " ", cache_format_name(f));
        const test::Golden g = test::load_golden(model);
        auto weights = open_model_dir(test::data_path("models/" + model));
        const std::vector<GenRequest> batch = test::golden_batch(g);
        const CacheRun native =
            run_engine(*weights, batch, cache_plan(policy, act, 1, CacheFormat::native, 16));
        const CacheRun lossy = run_engine(*weights, batch, cache_plan(policy, act, 1, f, 16));
        // Compare the rows both runs reached with the same tokens before them.
        double worst = 0;
        for (size_t i = 0; i < batch.size(); ++i)
          for (size_t s = 0; s < native.out[i].output.size() && s < lossy.out[i].output.size();
               ++s) {
            worst = std::max(
                worst, test::norm_rel_error(lossy.logits.at({i, s}), native.logits.at({i, s})));
            if (native.out[i].output[s] != lossy.out[i].output[s]) break;
          }
        std::printf("[ cache ] %s: worst logits row %.3g (norm-wise)\n", what.c_str(), worst);
        EXPECT_GT(worst, 0) << what;
        EXPECT_LT(worst, bound) << what;
      }
}

// Sums of the trace's transfer bytes by step.
std::map<int64_t, StepTraffic> traced_traffic(const std::vector<TraceEvent>& trace) {
  std::map<int64_t, StepTraffic> t;
  for (const TraceEvent& e : trace) {
    StepTraffic& s = t[e.step];
    if (e.kind == TraceKind::kv) s.kv_h2d += e.bytes;
    if (e.kind == TraceKind::act) s.act_h2d += e.bytes;
    if (e.kind == TraceKind::write_back) s.write_back_d2h += e.bytes;
  }
  return t;
}

// Each step moves the planner's bytes (predict_step_traffic), with rows of the format's size
// (closed form from the models' widths), and the host pool holds the compressed blocks.
TEST(EngineCacheFormat, StepsMoveTheCompressedBytesThePlannerCounts) {
  for (const Policy policy : {Policy::kv, Policy::hybrid, Policy::act}) {
    const double act = policy == Policy::kv ? 0 : policy == Policy::act ? 1 : 0.5;
    const test::Golden g = test::load_golden("llama-gqa");
    auto weights = open_model_dir(test::data_path("models/llama-gqa"));
    const ModelConfig& c = weights->config();
    const std::vector<GenRequest> batch = test::golden_batch(g);
    const CacheRun r =
        run_engine(*weights, batch, cache_plan(policy, act, 1, CacheFormat::int4, 16));
    // int4 rows: ceil(cols / 2) bytes padded to 4, then 4 bytes a group of 16.
    const int64_t kv_row = (c.kv_dim() / 2 + 3) / 4 * 4 + c.kv_dim() / 16 * 4;
    const int64_t act_row = (c.hidden / 2 + 3) / 4 * 4 + c.hidden / 16 * 4;
    EXPECT_EQ(r.plan.kv_bytes_per_token, 2 * kv_row);
    EXPECT_EQ(r.plan.act_bytes_per_token, act_row);
    const auto traced = traced_traffic(r.trace);
    for (int64_t s = 1; s < g.max_new_tokens; ++s) {
      std::vector<int64_t> cached;
      for (size_t i = 0; i < batch.size(); ++i)
        if (static_cast<int64_t>(r.out[i].output.size()) > s)
          cached.push_back(static_cast<int64_t>(batch[i].prompt.size()) + s - 1);
      if (cached.empty()) break;
      const StepTraffic want = predict_step_traffic(c, r.plan, cached);
      const StepTraffic got = traced.count(s) ? traced.at(s) : StepTraffic{};
      EXPECT_EQ(got.kv_h2d, want.kv_h2d) << policy_name(policy) << " step " << s;
      EXPECT_EQ(got.act_h2d, want.act_h2d) << policy_name(policy) << " step " << s;
      EXPECT_EQ(got.write_back_d2h, want.write_back_d2h) << policy_name(policy) << " step " << s;
      EXPECT_GT(got.kv_h2d + got.act_h2d, 0);
    }
    Plan p32 = r.plan;
    p32.dtype = DType::f32;
    const Footprint fp = plan_footprint(c, p32, test::workload_of(batch));
    int64_t want_cache = 0;
    for (const GenRequest& q : batch) {
      const int64_t blocks = (static_cast<int64_t>(q.prompt.size()) + q.max_new_tokens + 3) / 4;
      const int64_t act_blocks = static_cast<int64_t>(std::floor(blocks * act));
      want_cache += 4 * ((blocks - act_blocks) * 2 * kv_row + act_blocks * act_row);
    }
    EXPECT_EQ(fp.host_cache_bytes, want_cache * (c.n_layers - 1)) << policy_name(policy);
  }
}

}  // namespace
}  // namespace hs

// The engine's trace against closed-form byte counts: every decode step moves exactly the bytes
// plan/plan.h's block accounting says (predict_step_traffic), the prefill writes back one cache
// row per prompt token and host-cache layer, and cache rows cost 2*kv_dim*elem (K/V) or
// hidden*elem (checkpoint) bytes, numbers read off the models' config.json.
#include <gtest/gtest.h>

#include <map>

#include "backend/backend.h"
#include "engine/engine.h"
#include "goldens.h"
#include "model/weights.h"
#include "plan/cost_model.h"
#include "test_support.h"

namespace hs {
namespace {

struct EngineRun {
  std::vector<GenRequest> batch;
  std::vector<GenResult> results;
  std::vector<TraceEvent> trace;
  Plan plan;
  ModelConfig config;
};

// `prompts`: the model whose goldens' prompts to run ("": the model's own).
EngineRun run(const std::string& model, Policy policy, double f, int64_t gpu_weight_layers,
              int64_t gpu_cache_layers, const std::string& prompts = "") {
  const test::Golden g = test::load_golden(prompts.empty() ? model : prompts);
  auto weights = open_model_dir(test::data_path("models/" + model));
  auto backend = make_backend("cpu");
  EngineRun r;
  Workload w;
  for (size_t i = 0; i < g.cases.size(); ++i) {
    r.batch.push_back({"r" + std::to_string(i), g.cases[i].prompt, g.max_new_tokens, {}});
    w.prompt_lens.push_back(static_cast<int64_t>(g.cases[i].prompt.size()));
    w.gen_lens.push_back(g.max_new_tokens);
  }
  HybridEngine engine(*weights, *backend,
                      test::hand_plan(policy, f, gpu_weight_layers, gpu_cache_layers), w);
  r.results = engine.generate(r.batch, SamplingParams{});
  r.trace = engine.trace();
  r.plan = engine.plan();
  r.config = weights->config();
  return r;
}

// Sums of the trace's transfer bytes by step.
std::map<int64_t, StepTraffic> traced_traffic(const std::vector<TraceEvent>& trace) {
  std::map<int64_t, StepTraffic> t;
  for (const TraceEvent& e : trace) {
    StepTraffic& s = t[e.step];
    if (e.kind == TraceKind::weights) s.weights_h2d += e.bytes;
    if (e.kind == TraceKind::kv) s.kv_h2d += e.bytes;
    if (e.kind == TraceKind::act) s.act_h2d += e.bytes;
    if (e.kind == TraceKind::write_back) s.write_back_d2h += e.bytes;
  }
  return t;
}

struct TrafficCase {
  std::string model;
  Policy policy;
  double f;
  int64_t gpu_weight_layers, gpu_cache_layers;
  std::string prompts = "";  // whose goldens' prompts ("": the model's)
};

class EngineTraffic : public ::testing::TestWithParam<TrafficCase> {};

TEST_P(EngineTraffic, DecodeStepsMoveExactlyThePredictedBytes) {
  const TrafficCase& tc = GetParam();
  const EngineRun r =
      run(tc.model, tc.policy, tc.f, tc.gpu_weight_layers, tc.gpu_cache_layers, tc.prompts);
  const auto traced = traced_traffic(r.trace);
  int64_t steps = 0;
  for (const auto& res : r.results) steps = std::max<int64_t>(steps, res.output.size());
  ASSERT_GT(steps, 2);
  for (int64_t s = 1; s < steps; ++s) {
    // Request i runs in step s iff it generated a token there; it then holds prompt + s - 1.
    std::vector<int64_t> cached;
    for (size_t i = 0; i < r.batch.size(); ++i)
      if (static_cast<int64_t>(r.results[i].output.size()) > s)
        cached.push_back(static_cast<int64_t>(r.batch[i].prompt.size()) + s - 1);
    const StepTraffic want = predict_step_traffic(r.config, r.plan, cached);
    const StepTraffic got = traced.count(s) ? traced.at(s) : StepTraffic{};
    EXPECT_EQ(got.weights_h2d, want.weights_h2d) << "step " << s;
    EXPECT_EQ(got.kv_h2d, want.kv_h2d) << "step " << s;
    EXPECT_EQ(got.act_h2d, want.act_h2d) << "step " << s;
    EXPECT_EQ(got.write_back_d2h, want.write_back_d2h) << "step " << s;
  }
}

TEST_P(EngineTraffic, PrefillWritesBackEveryPromptRowOnce) {
  const TrafficCase& tc = GetParam();
  const EngineRun r =
      run(tc.model, tc.policy, tc.f, tc.gpu_weight_layers, tc.gpu_cache_layers, tc.prompts);
  const ModelConfig& c = r.config;
  const StepTraffic got = traced_traffic(r.trace)[0];
  // Closed form: each prompt token's row by its block's kind, for each host-cache layer.
  int64_t write_back = 0;
  if (tc.policy != Policy::recompute_tokens) {
    for (const auto& req : r.batch)
      for (int64_t p = 0; p < static_cast<int64_t>(req.prompt.size()); ++p)
        write_back += is_act_block(p / 4, tc.f) ? c.hidden * 4 : 2 * c.kv_dim() * 4;
    write_back *= c.n_layers - tc.gpu_cache_layers;
  }
  int64_t layer_bytes = 0;
  for (const PartSpec& s : layer_parts(c, 0)) layer_bytes += s.numel() * 4;
  EXPECT_EQ(got.write_back_d2h, write_back);
  EXPECT_EQ(got.kv_h2d + got.act_h2d, 0);  // nothing is cached before the prefill
  EXPECT_EQ(got.weights_h2d, (c.n_layers - tc.gpu_weight_layers) * layer_bytes);
}

TEST_P(EngineTraffic, EventsAreWellFormed) {
  const TrafficCase& tc = GetParam();
  const EngineRun r =
      run(tc.model, tc.policy, tc.f, tc.gpu_weight_layers, tc.gpu_cache_layers, tc.prompts);
  std::map<std::pair<int64_t, int>, int64_t> weight_bytes;  // by (step, layer)
  // The cpu backend runs each call as it is made, so times never go back in filing order: an
  // event whose times were never read (left 0) would.
  double last_end = 0;
  for (const TraceEvent& e : r.trace) {
    EXPECT_LE(e.start_ms, e.end_ms);
    EXPECT_GE(e.start_ms, 0);
    EXPECT_GE(e.end_ms, last_end) << "step " << e.step << " layer " << e.layer;
    last_end = e.end_ms;
    switch (e.kind) {
      case TraceKind::weights:
        EXPECT_EQ(e.stream, static_cast<int>(Stream::weights));
        EXPECT_EQ(e.mini_batch, -1);
        EXPECT_TRUE(streams_weights(r.plan, r.config.n_layers, e.layer)) << e.layer;
        weight_bytes[{e.step, e.layer}] += e.bytes;
        break;
      case TraceKind::kv:
      case TraceKind::act:
        EXPECT_EQ(e.stream, static_cast<int>(Stream::cache_in));
        EXPECT_TRUE(host_cache_layer(r.plan, r.config.n_layers, e.layer)) << e.layer;
        break;
      case TraceKind::write_back:
        EXPECT_EQ(e.stream, static_cast<int>(Stream::cache_out));
        EXPECT_TRUE(host_cache_layer(r.plan, r.config.n_layers, e.layer)) << e.layer;
        break;
      default:
        EXPECT_EQ(e.stream, static_cast<int>(Stream::compute));
        EXPECT_EQ(e.bytes, 0);
    }
  }
  // Layer-major: each streamed layer's weights are loaded once per step (in slices beside the
  // previous layer's mini-batches), for every mini-batch.
  const ModelConfig c = open_model_dir(test::data_path("models/" + tc.model))->config();
  int64_t layer_bytes = 0;
  for (const PartSpec& p : layer_parts(c, 0)) layer_bytes += p.numel() * 4;
  for (const auto& [key, bytes] : weight_bytes)
    EXPECT_EQ(bytes, layer_bytes) << "step " << key.first << " layer " << key.second;
  const TraceSummary sum = summarize(r.trace);
  const std::string text = format_summary(sum);
  EXPECT_NE(text.find("attention"), std::string::npos);
  EXPECT_NE(text.find("weights"), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(
    Policies, EngineTraffic,
    ::testing::Values(TrafficCase{"opt-tiny", Policy::kv, 0.0, 0, 0},
                      TrafficCase{"opt-tiny", Policy::act, 1.0, 0, 0},
                      TrafficCase{"opt-tiny", Policy::hybrid, 0.5, 1, 1},
                      TrafficCase{"llama-gqa", Policy::hybrid, 0.3, 0, 0},
                      TrafficCase{"llama-mqa-odd", Policy::hybrid, 0.6, 1, 2},
                      TrafficCase{"opt-postln-proj", Policy::recompute_tokens, 0.0, 0, 0},
                      // 4 layers: streamed and host-cache layers
                      // interleave with resident ones (plan.h)
                      TrafficCase{"demo-opt", Policy::hybrid, 0.5, 2, 2, "opt-tiny"},
                      TrafficCase{"demo-opt", Policy::kv, 0.0, 3, 1, "opt-tiny"}),
    [](const auto& info) {
      std::string n = info.param.model + "_" + policy_name(info.param.policy) + "_" +
                      std::to_string(info.index);
      for (char& ch : n)
        if (ch == '-') ch = '_';
      return n;
    });

// Bytes per token and layer, from config.json: opt-tiny has hidden 64 and 4 heads of 16 (MHA),
// llama-gqa hidden 96 and 2 K/V heads of 16. fp32 on the cpu backend.
TEST(EngineTraffic, CacheRowBytesFollowTheFormulas) {
  const EngineRun mha = run("opt-tiny", Policy::hybrid, 0.5, 0, 0);
  EXPECT_EQ(mha.plan.kv_bytes_per_token, 2 * 64 * 4);
  EXPECT_EQ(mha.plan.act_bytes_per_token, 64 * 4);
  EXPECT_EQ(2 * mha.plan.act_bytes_per_token, mha.plan.kv_bytes_per_token);  // half for MHA
  const EngineRun gqa = run("llama-gqa", Policy::hybrid, 0.5, 0, 0);
  EXPECT_EQ(gqa.plan.kv_bytes_per_token, 2 * 32 * 4);
  EXPECT_EQ(gqa.plan.act_bytes_per_token, 96 * 4);
  EXPECT_GT(gqa.plan.act_bytes_per_token, gqa.plan.kv_bytes_per_token);  // larger for GQA
}

// A checkpoint-only cache moves half the cache bytes of a K/V cache for the same tokens (MHA).
TEST(EngineTraffic, CheckpointsHalveMhaCacheTraffic) {
  const auto kv = traced_traffic(run("opt-tiny", Policy::kv, 0.0, 0, 0).trace);
  const auto act = traced_traffic(run("opt-tiny", Policy::act, 1.0, 0, 0).trace);
  for (int64_t s = 1; s < 5; ++s) {
    EXPECT_GT(kv.at(s).kv_h2d, 0);
    EXPECT_EQ(act.at(s).kv_h2d, 0);
    EXPECT_EQ(2 * act.at(s).act_h2d, kv.at(s).kv_h2d) << "step " << s;
  }
}

}  // namespace
}  // namespace hs

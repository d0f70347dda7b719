// Compressed weights in the planner (Plan::weight_format): a streamed layer's bytes by the
// formats' definitions (model/quant.h), fewer PCIe bytes and a faster predicted step where the
// weights bind, and auto-lossy taking a compressed format only where it pays.
#include <gtest/gtest.h>

#include <algorithm>

#include "model/shapes.h"
#include "plan/cost_model.h"
#include "plan/footprint.h"
#include "plan/planner.h"

namespace hs {
namespace {

// The brief's machine: PCIe 25 GB/s each way, 150 TFLOP/s fp16, a 24 GiB GPU.
PlanOptions paper_machine(WeightFormat f) {
  PlanOptions o;
  o.constants.h2d_gbps = 25;
  o.constants.d2h_gbps = 25;
  o.constants.gemm_tflops = 150;
  o.gpu_mem_gib = 24;
  o.host_mem_gib = 4096;
  o.weight_format = f;
  return o;
}

// int4 bytes of a [rows, cols] matrix: codes (two a byte) padded to 16, then two fp16 a group.
int64_t int4(int64_t rows, int64_t cols) {
  return (rows * ((cols + 1) / 2) + 15) / 16 * 16 + rows * ((cols + 63) / 64) * 4;
}

TEST(PlanWeightFormat, AStreamedLayerIsItsPartsAsStored) {
  const ModelConfig c = model_shape("opt-13b");  // hidden 5120, ffn 20480, biases, layernorms
  Plan p;
  p.dtype = DType::f16;
  p.weight_format = WeightFormat::int4;
  const int64_t h = 5120, f = 20480;
  const int64_t matrices = 4 * int4(h, h) + int4(f, h) + int4(h, f);
  const int64_t vectors = 2 * (4 * h + f + h + 4 * h);  // biases and both layernorms, fp16
  EXPECT_EQ(streamed_layer_bytes(c, p), matrices + vectors);
  p.weight_format = WeightFormat::int8;  // int8 codes, padded, then an fp32 scale a row
  EXPECT_EQ(streamed_layer_bytes(c, p),
            4 * (h * h + 4 * h) + (f * h + 4 * f) + (h * f + 4 * h) + vectors);
  p.weight_format = WeightFormat::native;
  EXPECT_EQ(streamed_layer_bytes(c, p), layer_weight_bytes(c, DType::f16));
}

// opt-30b at 24 GiB, batch 64, prompt 512, gen 32: the weights cross PCIe every step. Each
// format moves its share of them, and the predicted throughput rises with the bytes saved.
TEST(PlanWeightFormat, CompressedWeightsCrossInFewerBytesAndPredictFaster) {
  const ModelConfig c = model_shape("opt-30b");
  const Workload w = Workload::uniform(64, 512, 32);
  double tok[3] = {};
  int i = 0;
  for (WeightFormat f : {WeightFormat::native, WeightFormat::int8, WeightFormat::int4}) {
    const Plan p = make_plan(c, w, paper_machine(f));
    EXPECT_EQ(p.weight_format, f);
    const StepTraffic t = predict_step_traffic(c, p, std::vector<int64_t>(64, 600));
    // Compressed formats hold on the GPU, as stored, what does not fit in fp16; the rest
    // crosses PCIe every step, and the host pool holds it as stored.
    const int64_t crossing = c.n_layers - p.gpu_weight_layers - p.gpu_stored_weight_layers;
    EXPECT_EQ(p.gpu_stored_weight_layers > 0, f != WeightFormat::native) << weight_format_name(f);
    EXPECT_EQ(t.weights_h2d, crossing * streamed_layer_bytes(c, p));
    EXPECT_EQ(plan_footprint(c, p, w).host_weight_bytes, crossing * streamed_layer_bytes(c, p));
    tok[i++] = p.predicted_tokens_per_s;
  }
  EXPECT_GT(tok[1], 1.3 * tok[0]);   // int8
  EXPECT_GT(tok[2], 1.15 * tok[1]);  // int4
}

TEST(PlanWeightFormat, AutoLossyTakesACompressedFormatOnlyWhereItPays) {
  PlanOptions o = paper_machine(WeightFormat::native);
  o.weight_format_auto = true;
  const Plan weight_bound = make_plan(model_shape("opt-30b"), Workload::uniform(64, 512, 32), o);
  EXPECT_EQ(weight_bound.weight_format, WeightFormat::int4);
  EXPECT_NE(weight_bound.explanation.find("auto-lossy"), std::string::npos);
  // Everything resident on a 40 GiB budget: no weight crosses PCIe, so nothing to gain.
  o.gpu_mem_gib = 40;
  const Plan resident = make_plan(model_shape("opt-6.7b"), Workload::uniform(8, 64, 32), o);
  EXPECT_EQ(resident.gpu_weight_layers, 32);
  EXPECT_EQ(resident.weight_format, WeightFormat::native);
}

}  // namespace
}  // namespace hs

namespace hs {
namespace {

// Compressed caches in the planner: host rows of the format's bytes (model/cache_format.h), and
// issue 23's bar with fixed constants (opt-30b, batch 64, prompt 512, 32 new tokens, 24 GiB,
// PCIe 25 GB/s, 150 TFLOP/s): weights and caches in int8 predict at least 1.5x fp16's
// throughput, in int4 at least 2x.
TEST(PlanCacheFormat, CompressedWeightsAndCachesClearTheBar) {
  const ModelConfig c = model_shape("opt-30b");
  const Workload w = Workload::uniform(64, 512, 32);
  auto plan_in = [&](WeightFormat wf, CacheFormat cf) {
    PlanOptions o = paper_machine(wf);
    o.host_mem_gib = 101;
    o.cache_format = cf;
    return make_plan(c, w, o);
  };
  const Plan native = plan_in(WeightFormat::native, CacheFormat::native);
  const Plan int8 = plan_in(WeightFormat::int8, CacheFormat::int8);
  const Plan int4 = plan_in(WeightFormat::int4, CacheFormat::int4);
  // Host rows: 7168 codes (int8) or 3584 (int4), then 112 groups of (scale, min) fp16.
  EXPECT_EQ(int8.kv_bytes_per_token, 2 * (7168 + 112 * 4));
  EXPECT_EQ(int4.act_bytes_per_token, 3584 + 112 * 4);
  EXPECT_EQ(native.kv_bytes_per_token, 2 * 7168 * 2);
  const double base = predict_run(c, native, w).tokens_per_s;
  const double r8 = predict_run(c, int8, w).tokens_per_s / base;
  const double r4 = predict_run(c, int4, w).tokens_per_s / base;
  std::printf("[bar] opt-30b b64 p512 g32: fp16 %.2f tok/s, int8 %.2fx, int4 %.2fx\n", base, r8,
              r4);
  EXPECT_GE(r8, 1.5);
  EXPECT_GE(r4, 2.0);
}

// --cache-format auto-lossy (alone and with the weights'): on the bar's workload the caches
// are most of what crosses once the weights are int4, so the planner takes int4 caches, and the
// plan it picks is the fastest of the combinations tried, or a less lossy one within 2% of it.
// Where every cache fits on the GPU nothing crosses, and native stays.
TEST(PlanCacheFormat, AutoLossyCachesTakeACompressedFormatOnlyWhereItPays) {
  const ModelConfig c = model_shape("opt-30b");
  const Workload w = Workload::uniform(64, 512, 32);
  PlanOptions o = paper_machine(WeightFormat::int4);
  o.host_mem_gib = 101;
  o.cache_format_auto = true;
  const Plan caches = make_plan(c, w, o);
  EXPECT_EQ(caches.weight_format, WeightFormat::int4);
  EXPECT_EQ(caches.cache_format, CacheFormat::int4);
  EXPECT_NE(caches.explanation.find("--cache-format auto-lossy"), std::string::npos)
      << caches.explanation;
  double fastest = 0;
  for (CacheFormat f : {CacheFormat::native, CacheFormat::int8, CacheFormat::int4}) {
    PlanOptions at = o;
    at.cache_format_auto = false;
    at.cache_format = f;
    fastest = std::max(fastest, make_plan(c, w, at).predicted_tokens_per_s);
  }
  EXPECT_GE(caches.predicted_tokens_per_s * 1.02, fastest);
  // Both chosen: int4 and int4 here, the two formats the bar's best plan uses.
  o.weight_format_auto = true;
  const Plan both = make_plan(c, w, o);
  EXPECT_EQ(both.weight_format, WeightFormat::int4);
  EXPECT_EQ(both.cache_format, CacheFormat::int4);
  EXPECT_NE(both.explanation.find("weights native caches native"), std::string::npos)
      << both.explanation;
  // Everything on a 40 GiB GPU: no cache crosses PCIe.
  o.gpu_mem_gib = 40;
  const Plan resident = make_plan(model_shape("opt-6.7b"), Workload::uniform(8, 64, 32), o);
  EXPECT_EQ(resident.gpu_cache_layers, 32);
  EXPECT_EQ(resident.cache_format, CacheFormat::native);
  EXPECT_EQ(resident.weight_format, WeightFormat::native);
}

TEST(PlanCacheFormat, MaxGpuCacheLayersKeepsCachesOnTheHost) {
  const ModelConfig c = model_shape("opt-6.7b");
  const Workload w = Workload::uniform(16, 128, 16);  // small caches: they would all fit
  PlanOptions o = paper_machine(WeightFormat::native);
  o.policy = Policy::kv;
  o.cache_format = CacheFormat::int4;
  const Plan free = make_plan(c, w, o);
  ASSERT_GT(free.gpu_cache_layers, 0);
  o.max_gpu_cache_layers = 3;
  EXPECT_EQ(make_plan(c, w, o).gpu_cache_layers, 3);
  o.max_gpu_cache_layers = 0;
  const Plan none = make_plan(c, w, o);
  EXPECT_EQ(none.gpu_cache_layers, 0);
  // Every layer's cache now crosses, compressed: the step's cache bytes are int4 rows.
  const StepTraffic t = predict_step_traffic(c, none, std::vector<int64_t>(16, 130));
  const int64_t row = 2 * (4096 / 2 + 64 * 4);          // K and V: 2048 code bytes, 64 groups
  EXPECT_EQ(t.kv_h2d, c.n_layers * 16 * 9 * 16 * row);  // 9 blocks of 16 hold 130 tokens
}

}  // namespace
}  // namespace hs

// Compressed weights in the planner (Plan::weight_format): a streamed layer's bytes by the
// formats' definitions (model/quant.h), fewer PCIe bytes and a faster predicted step where the
// weights bind, and auto-lossy taking a compressed format only where it pays.
#include <gtest/gtest.h>

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
    EXPECT_EQ(t.weights_h2d, (c.n_layers - p.gpu_weight_layers) * streamed_layer_bytes(c, p));
    // The host pool holds the streamed layers as stored.
    EXPECT_EQ(plan_footprint(c, p, w).host_weight_bytes,
              (c.n_layers - p.gpu_weight_layers) * streamed_layer_bytes(c, p));
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

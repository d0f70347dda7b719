// The cost model against its formulas (plan/cost_model.h, docs/PLANNER.md), evaluated here by
// hand from the published shape of OPT-13B: bytes, FLOPs and milliseconds of a decode step and
// a prefill, and the throughput of a run.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "model/shapes.h"
#include "plan/cost_model.h"

namespace hs {
namespace {

// OPT-13B: h 5120, 40 layers, ffn 20480, vocab 50272, every projection h x h with bias.
constexpr double h = 5120, ffn = 20480, vocab = 50272, L = 40;
// Per layer: 4 h^2 (q, k, v, out) + 2 h ffn (fc1, fc2) + 9 h (2 LayerNorms' w and b, 5 biases of
// width h) + ffn (fc1 bias) elements, fp16.
constexpr double W = (4 * h * h + 2 * h * ffn + 9 * h + ffn) * 2;
constexpr double kv_row = 2 * h * 2, act_row = h * 2;

Plan opt13b_plan(Policy policy, double f) {
  Plan p;
  p.policy = policy;
  p.act_fraction = f;
  p.block_tokens = 16;
  p.num_mini_batches = 1;
  p.dtype = DType::f16;
  return p;  // constants: 25 GB/s both ways, 150 TFLOP/s, 2000 GB/s
}

double rel(double a, double b) {
  return std::fabs(a - b) / std::max(std::fabs(b), 1e-300);
}

TEST(CostModel, DecodeStepAllKv) {
  const ModelConfig c = model_shape("opt-13b");
  EXPECT_EQ(layer_weight_bytes(c, DType::f16), static_cast<int64_t>(W));
  const Plan p = opt13b_plan(Policy::kv, 0);
  const PhaseCost s = decode_step_cost(c, p, std::vector<int64_t>(128, 1024));

  const double h2d = L * W + L * 128 * 1024 * kv_row;  // 1024 = 64 whole blocks
  const double d2h = L * 128 * kv_row;
  EXPECT_EQ(s.traffic.total_h2d(), static_cast<int64_t>(h2d));
  EXPECT_EQ(s.traffic.write_back_d2h, static_cast<int64_t>(d2h));
  EXPECT_LT(rel(s.h2d_ms, h2d / 25e6), 1e-12);  // 25 GB/s = 25e6 B/ms
  EXPECT_LT(rel(s.pcie_ms, h2d / 25e6), 1e-12);

  const double layer_flops = 2 * 128 * (4 * h * h) + 2 * 128 * h * ffn * 2;
  const double layer_ms = std::max(layer_flops / 150e9, W / 2000e6) +  // 150 TFLOP/s, 1 pass
                          128 * 1025 * kv_row / 2000e6;  // attention reads n + 1 K/V rows
  const double head_ms = std::max(2 * 128 * h * vocab / 150e9, vocab * h * 2 / 2000e6);
  EXPECT_LT(rel(s.gpu_ms, L * layer_ms + head_ms), 1e-12);
  EXPECT_LT(rel(s.total_ms, std::max(h2d / 25e6, L * layer_ms + head_ms)), 1e-12);
  EXPECT_EQ(s.recompute_ms, 0);
  // The brief's sanity figure: ~2.7 GB of K/V per layer per step, heavily PCIe-bound.
  EXPECT_NEAR(128 * 1024 * kv_row / 1e9, 2.68, 0.01);
  EXPECT_GT(s.pcie_ms, 10 * s.gpu_ms);
}

TEST(CostModel, DecodeStepAllActivations) {
  const ModelConfig c = model_shape("opt-13b");
  const Plan p = opt13b_plan(Policy::act, 1);
  const PhaseCost s = decode_step_cost(c, p, std::vector<int64_t>(128, 1024));
  EXPECT_EQ(s.traffic.act_h2d, static_cast<int64_t>(L * 128 * 1024 * act_row));
  EXPECT_EQ(s.traffic.kv_h2d, 0);
  EXPECT_EQ(s.traffic.write_back_d2h, static_cast<int64_t>(L * 128 * act_row));
  // K and V of all 131072 cached tokens recomputed: 2 * 131072 * h * 2h = 13.7 TFLOP per layer,
  // 92 ms per layer at 150 TFLOP/s.
  const double recompute = 2 * 131072 * h * 2 * h;
  EXPECT_NEAR(recompute / 1e12, 13.7, 0.05);
  EXPECT_LT(rel(s.recompute_ms, L * recompute / 150e9), 1e-12);
  EXPECT_NEAR(s.recompute_ms / L, 91.6, 0.1);
  const double layer_flops = 2 * 128 * (4 * h * h) + 2 * 128 * h * ffn * 2 + recompute;
  const double layer_ms = layer_flops / 150e9 + 128 * 1025 * kv_row / 2000e6;
  const double head_ms = 2 * 128 * h * vocab / 150e9;
  EXPECT_LT(rel(s.gpu_ms, L * layer_ms + head_ms), 1e-12);
  // ... against 54 ms of PCIe per layer for the checkpoints (the brief's figure; plus weights).
  EXPECT_NEAR(128 * 1024 * act_row / 25e6, 53.7, 0.1);
  EXPECT_GT(s.gpu_ms, s.pcie_ms);
}

TEST(CostModel, DecodeMatchesStepTrafficOnMixedLengths) {
  const ModelConfig c = model_shape("llama-2-13b");
  Plan p = opt13b_plan(Policy::hybrid, 0.375);
  p.gpu_weight_layers = 7;
  p.gpu_cache_layers = 3;
  const std::vector<int64_t> lens = {1, 15, 16, 17, 100, 100, 100, 513, 2000, 31};
  const StepTraffic t = predict_step_traffic(c, p, lens);
  const PhaseCost s = decode_step_cost(c, p, lens);
  EXPECT_EQ(s.traffic.weights_h2d, t.weights_h2d);
  EXPECT_EQ(s.traffic.kv_h2d, t.kv_h2d);
  EXPECT_EQ(s.traffic.act_h2d, t.act_h2d);
  EXPECT_EQ(s.traffic.write_back_d2h, t.write_back_d2h);
}

TEST(CostModel, SmallMiniBatchesRereadTheWeights) {
  const ModelConfig c = model_shape("opt-13b");
  Plan p = opt13b_plan(Policy::kv, 0);
  p.num_mini_batches = 64;
  // 64 requests of 16 tokens: the GEMMs' 2 * 64 * 12.6e9 FLOPs take 0.01 ms a layer, the 64
  // passes over W bytes of weights 64 * 0.31 ms.
  const PhaseCost s = decode_step_cost(c, p, std::vector<int64_t>(64, 16));
  const double head_ms = 64 * vocab * h * 2 / 2000e6;
  EXPECT_LT(rel(s.gpu_ms, L * (64 * W / 2000e6 + 64 * 17 * kv_row / 2000e6) + head_ms), 1e-12);
}

TEST(CostModel, PrefillWritesBackThePromptCache) {
  const ModelConfig c = model_shape("opt-13b");
  Plan p = opt13b_plan(Policy::hybrid, 0.5);  // odd blocks are checkpoints
  p.gpu_cache_layers = 10;
  // 40 tokens: blocks 0 (K/V), 1 (activation), 2 (K/V, 8 tokens): 24 K/V rows and 16 checkpoint
  // rows, for each of the 30 host-cache layers and each of 4 requests.
  const PhaseCost s = prefill_cost(c, p, std::vector<int64_t>(4, 40));
  EXPECT_EQ(s.traffic.write_back_d2h, static_cast<int64_t>(30 * 4 * (24 * kv_row + 16 * act_row)));
  EXPECT_EQ(s.traffic.total_h2d(), static_cast<int64_t>(L * W));
  // 160 tokens through every layer, causal attention over 4 sequences of 40 (2 q n (n + 1)
  // each), the head for the last token of each.
  const double layer_flops = 2 * 160 * (4 * h * h) + 2 * 160 * h * ffn * 2 + 4 * (2 * h * 40 * 41);
  const double head_flops = 2 * 4 * h * vocab;
  EXPECT_LT(rel(s.flops, L * layer_flops + head_flops), 1e-12);
  const double gpu = L * std::max(layer_flops / 150e9, W / 2000e6) +
                     std::max(head_flops / 150e9, vocab * h * 2 / 2000e6);
  EXPECT_LT(rel(s.gpu_ms, gpu), 1e-12);
}

TEST(CostModel, RecomputeTokensMovesOnlyWeights) {
  const ModelConfig c = model_shape("opt-13b");
  const Plan p = opt13b_plan(Policy::recompute_tokens, 0);
  const PhaseCost s = decode_step_cost(c, p, {99, 99});
  EXPECT_EQ(s.traffic.total_h2d(), static_cast<int64_t>(L * W));
  EXPECT_EQ(s.traffic.write_back_d2h, 0);
  // Both requests run all 100 positions again.
  const double layer_flops =
      2 * 200 * (4 * h * h) + 2 * 200 * h * ffn * 2 + 2 * (2 * h * 100 * 101);
  EXPECT_LT(rel(s.flops, L * layer_flops + 2 * 2 * h * vocab), 1e-12);
}

TEST(CostModel, RunThroughputCountsPrefillAndEveryStep) {
  const ModelConfig c = model_shape("opt-13b");
  const Plan p = opt13b_plan(Policy::kv, 0);
  // gen 3: the prefill yields token 1, steps 1 and 2 (cached 64 and 65 tokens) tokens 2 and 3.
  const RunCost r = predict_run(c, p, Workload::uniform(8, 64, 3));
  const double prefill = prefill_cost(c, p, std::vector<int64_t>(8, 64)).total_ms;
  const double s1 = decode_step_cost(c, p, std::vector<int64_t>(8, 64)).total_ms;
  const double s2 = decode_step_cost(c, p, std::vector<int64_t>(8, 65)).total_ms;
  EXPECT_EQ(r.decode_steps, 2);
  EXPECT_EQ(r.generated_tokens, 24);
  EXPECT_LT(rel(r.decode_ms, s1 + s2), 1e-12);
  EXPECT_LT(rel(r.mean_step_ms, (s1 + s2) / 2), 1e-12);
  EXPECT_LT(rel(r.tokens_per_s, 24 / ((prefill + s1 + s2) / 1e3)), 1e-12);

  // Requests that finish early leave the later steps.
  Workload w;
  w.prompt_lens = {64, 10};
  w.gen_lens = {3, 2};
  const RunCost mixed = predict_run(c, p, w);
  const double m1 = decode_step_cost(c, p, {64, 10}).total_ms;
  const double m2 = decode_step_cost(c, p, {65}).total_ms;
  EXPECT_LT(rel(mixed.decode_ms, m1 + m2), 1e-12);
  EXPECT_EQ(mixed.generated_tokens, 5);
}

}  // namespace
}  // namespace hs

// The cost model against its formulas (plan/cost_model.h, docs/PLANNER.md), evaluated here by
// hand from the published shape of OPT-13B: bytes, FLOPs and milliseconds of a decode step and
// a prefill, and the throughput of a run.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "model/shapes.h"
#include "plan/cost_model.h"
#include "plan/gemm_time.h"

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

// The header's formulas by hand, at the default constants (150 TFLOP/s, 2000 GB/s, 5 us a
// kernel, prefill attention at 50 TFLOP/s) and no measured GEMM curves: each linear at its
// roofline, max(2 r k n / 150e9, (r k + k n + r n) 2 / 2000e6) ms.
double roof(double r, double k, double n) {
  return std::max(2 * r * k * n / 150e9, (r * k + k * n + r * n) * 2 / 2000e6);
}
// One OPT-13B layer for `t` rows: its six linears, 16 h + 4 q + 8 kv + 4 ffn elements of
// element-wise passes a row, 25 kernels; plus attention_ms.
double item_ms(double t, double attention_ms) {
  return 4 * roof(t, h, h) + roof(t, h, ffn) + roof(t, ffn, h) +
         t * (28 * h + 4 * ffn) * 2 / 2000e6 + attention_ms + 25 * 5e-3;
}
// K/V recompute of r checkpoint rows: two linears, 2 h + 4 kv elements a row, 5 kernels.
double recompute_item_ms(double r) {
  return 2 * roof(r, h, h) + r * 6 * h * 2 / 2000e6 + 5 * 5e-3;
}
double head_item_ms(double r) {
  return roof(r, h, vocab) + 10 * 5e-3;
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

  // One pass; attention reads n + 1 K/V rows of each request.
  const double gpu = L * item_ms(128, 128 * 1025 * kv_row / 2000e6) + head_item_ms(128);
  EXPECT_LT(rel(s.gpu_ms, gpu), 1e-12);
  // PCIe-bound: the last item's compute and the head wait for the last copy.
  const double head = head_item_ms(128);
  EXPECT_LT(rel(s.total_ms, h2d / 25e6 + (gpu - head) / 40 + head), 1e-12);
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
  // 91.6 ms per layer at 150 TFLOP/s, plus 4 ms of norm and bias passes over 8 GB.
  EXPECT_NEAR(2 * 131072 * h * 2 * h / 1e12, 13.7, 0.05);
  EXPECT_LT(rel(s.recompute_ms, L * recompute_item_ms(131072)), 1e-12);
  EXPECT_NEAR(s.recompute_ms / L, 95.6, 0.1);
  const double gpu = L * (recompute_item_ms(131072) + item_ms(128, 128 * 1025 * kv_row / 2000e6)) +
                     head_item_ms(128);
  EXPECT_LT(rel(s.gpu_ms, gpu), 1e-12);
  // ... against 54 ms of PCIe per layer for the checkpoints (the brief's figure; plus weights).
  EXPECT_NEAR(128 * 1024 * act_row / 25e6, 53.7, 0.1);
  EXPECT_GT(s.gpu_ms, s.pcie_ms);
  // GPU-bound: only layer 0's weights and first load stick out.
  EXPECT_LT(rel(s.total_ms, (W + 128 * 1024 * act_row) / 25e6 + gpu), 1e-12);
}

// Host-cache items take turns on two working sets of their own (plan.h: working_set_turns), so a
// host layer's load waits only for the host layer two back, not for the resident layer between:
// with host caches on the odd layers and one mini-batch, the loads run back to back and the step
// is PCIe time plus the last host layer's compute and the head. When the resident layers shared
// the host layers' pair, every load waited for the compute before it and the step cost a load
// plus a compute per host layer (20 (load + host_item) + 19 store + head).
TEST(CostModel, HostLoadsRunAheadThroughResidentLayers) {
  const ModelConfig c = model_shape("opt-13b");
  Plan p = opt13b_plan(Policy::kv, 0);
  p.gpu_weight_layers = 40;
  p.gpu_cache_layers = 20;  // host caches: the odd layers
  const PhaseCost s = decode_step_cost(c, p, std::vector<int64_t>(128, 1024));
  const double load = 128 * 1024 * kv_row / 25e6;
  const double attention = 128 * 1025 * kv_row / 2000e6;
  const double host_item = item_ms(128, attention);
  const double resident_item = host_item + 2 * 128 * 1024 * kv_row / 2000e6;  // working-set copy
  EXPECT_LT(rel(s.gpu_ms, 20 * (host_item + resident_item) + head_item_ms(128)), 1e-12);
  EXPECT_LT(rel(s.pcie_ms, 20 * load), 1e-12);
  EXPECT_LT(rel(s.total_ms, 20 * load + host_item + head_item_ms(128)), 1e-12);
}

// A third working set (Plan::host_sets) lets host loads run through longer resident stretches.
// opt-13b, kv, host caches on layers 3, 7, .., 39 (three resident layers between), 6
// mini-batches, and a link at which a host load takes a = 6.5 r + h (r, h: a resident and a host
// item's compute): PCIe-bound (a layer's six loads outlast its stretch of 18 resident items), yet
// two loads (2a = 13 r + 2h) do not outlast the stretch before the next host layer's first
// compute, which the third load of that layer waits for with two sets. Three loads do (19.5 r +
// 3h), so with three sets the loads run back to back from the step's start.
TEST(CostModel, AThirdHostSetRunsLoadsThroughLongerResidentStretches) {
  const ModelConfig c = model_shape("opt-13b");
  Plan p = opt13b_plan(Policy::kv, 0);
  p.gpu_weight_layers = 40;
  p.gpu_cache_layers = 30;
  p.num_mini_batches = 6;
  const double m = 6, rows = 128 / m;
  const double h = item_ms(rows, 128 * 1025 * kv_row / 2000e6 / m);
  const double r = h + 2 * 128 * 1024 * kv_row / 2000e6 / m;  // plus the working-set copy
  const double a = 6.5 * r + h, load_bytes = 128 * 1024 * kv_row / m;
  p.constants.h2d_gbps = load_bytes / a / 1e6;
  const double store = rows * kv_row / 25e6;  // an item's write-back, which a load also waits for
  const std::vector<int64_t> lens(128, 1024);

  p.host_sets = 3;
  const PhaseCost three = decode_step_cost(c, p, lens);
  // Each mini-batch's head follows its last-layer compute, within the last loads: one sticks out.
  const double head = head_item_ms(rows);
  EXPECT_LT(rel(three.pcie_ms, 60 * a), 1e-12);
  EXPECT_LT(rel(three.total_ms, 60 * a + h + head), 1e-12);

  // Two sets: the third load of each host layer waits for the layer's first compute, behind
  // the 18 resident items (from the step's start for the first host layer).
  p.host_sets = 2;
  const PhaseCost two = decode_step_cost(c, p, lens);
  const double first_wait = 18 * r + h + store - 2 * a, wait = 18 * r + 2 * h + store - 2 * a;
  ASSERT_GT(first_wait, 0);
  EXPECT_LT(rel(two.total_ms, 60 * a + first_wait + 9 * wait + h + head), 1e-12);
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
  // 64 requests of 16 tokens, one a mini-batch: each of the 64 passes reads the layer's
  // weights (0.31 ms at 2000 GB/s), where the GEMMs' FLOPs would take 0.01 ms a layer.
  const PhaseCost s = decode_step_cost(c, p, std::vector<int64_t>(64, 16));
  EXPECT_LT(rel(s.gpu_ms, L * 64 * item_ms(1, 17 * kv_row / 2000e6) + 64 * head_item_ms(1)), 1e-12);
  EXPECT_GT(s.gpu_ms, L * 64 * W / 2000e6);
  p.num_mini_batches = 1;
  EXPECT_LT(decode_step_cost(c, p, std::vector<int64_t>(64, 16)).gpu_ms * 20, s.gpu_ms);
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
  const double attention_flops = 4 * (2 * h * 40 * 41);
  const double layer_flops = 2 * 160 * (4 * h * h) + 2 * 160 * h * ffn * 2 + attention_flops;
  const double head_flops = 2 * 4 * h * vocab;
  EXPECT_LT(rel(s.flops, L * layer_flops + head_flops), 1e-12);
  const double gpu = L * item_ms(160, attention_flops / 50e9) + head_item_ms(4);
  EXPECT_LT(rel(s.gpu_ms, gpu), 1e-12);
}

// Measured curves replace the roofline for their (k, n): linear in rows between points, flat
// below the first, proportional to rows past the last.
TEST(CostModel, GemmTimesFollowTheirCurves) {
  CostConstants k;
  k.gemms.push_back({5120, 5120, {4, 256, 1024, 4096}, {0.026, 0.031, 0.088, 0.31}});
  EXPECT_DOUBLE_EQ(gemm_ms(k, DType::f16, 1, 5120, 5120), 0.026);
  EXPECT_DOUBLE_EQ(gemm_ms(k, DType::f16, 256, 5120, 5120), 0.031);
  EXPECT_DOUBLE_EQ(gemm_ms(k, DType::f16, 640, 5120, 5120), 0.031 + 0.5 * (0.088 - 0.031));
  EXPECT_DOUBLE_EQ(gemm_ms(k, DType::f16, 16384, 5120, 5120), 0.31 * 4);
  EXPECT_DOUBLE_EQ(gemm_ms(k, DType::f16, 0, 5120, 5120), 0);
  // Another shape: the roofline of the constants.
  EXPECT_DOUBLE_EQ(gemm_ms(k, DType::f16, 4096, 5120, 20480), 2 * 4096 * 5120 * 20480. / 150e9);
  EXPECT_DOUBLE_EQ(gemm_ms(k, DType::f16, 1, 5120, 20480),
                   (5120 + 5120 * 20480. + 20480) * 2 / 2000e6);
  // The cost model uses them: a decode step with the curve is slower than the roofline says.
  const ModelConfig c = model_shape("opt-13b");
  Plan p = opt13b_plan(Policy::kv, 0);
  const double without = decode_step_cost(c, p, std::vector<int64_t>(256, 16)).gpu_ms;
  p.constants = k;
  const double with = decode_step_cost(c, p, std::vector<int64_t>(256, 16)).gpu_ms;
  EXPECT_NEAR(with - without, L * 4 * (0.031 - roof(256, h, h)), 1e-9);
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

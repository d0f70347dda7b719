// The planner's choices on known shapes: activation share 0 wherever a checkpoint is not
// smaller than K/V (GQA), strictly inside (0, 1) where OPT-13B is PCIe-bound, balanced
// mini-batches, and errors that say how much memory is needed.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <set>

#include "model/shapes.h"
#include "plan/cost_model.h"
#include "plan/mini_batches.h"
#include "plan/planner.h"
#include "util/error.h"

namespace hs {
namespace {

// The brief's machine: PCIe 25 GB/s each way, 150 TFLOP/s fp16, a 24 GiB GPU; host memory
// plentiful unless a test says otherwise.
PlanOptions paper_machine(Policy policy) {
  PlanOptions o;
  o.policy = policy;
  o.constants.h2d_gbps = 25;
  o.constants.d2h_gbps = 25;
  o.constants.gemm_tflops = 150;
  o.gpu_mem_gib = 24;
  o.host_mem_gib = 4096;
  o.dtype = DType::f16;
  return o;
}

TEST(Planner, GqaShapesHoldNoActivations) {
  const Workload w = Workload::uniform(128, 1024, 32);
  for (const char* name : {"llama-2-70b", "llama-3-8b", "llama-3-70b"}) {
    const ModelConfig c = model_shape(name);
    // 2 kv_dim < hidden: a checkpoint is larger than the K/V it stands for.
    ASSERT_LT(2 * c.kv_dim(), c.hidden) << name;
    for (Policy policy : {Policy::hybrid, Policy::automatic}) {
      PlanOptions o = paper_machine(policy);
      const Plan p = make_plan(c, w, o);
      EXPECT_EQ(p.act_fraction, 0) << name << " " << policy_name(policy);
      EXPECT_NE(p.policy, Policy::act) << name;
      // Even with PCIe 25 times slower, checkpoints would only add bytes.
      o.constants.h2d_gbps = o.constants.d2h_gbps = 1;
      EXPECT_EQ(make_plan(c, w, o).act_fraction, 0) << name << " at 1 GB/s";
    }
  }
}

TEST(Planner, Opt13bMixesKvAndActivations) {
  // K/V alone: 2.7 GB per layer per step at 25 GB/s (~107 ms) against ~1 ms of GEMMs; all
  // checkpoints: 92 ms of recompute per layer against 54 ms of PCIe. The optimum is inside.
  const ModelConfig c = model_shape("opt-13b");
  const Workload w = Workload::uniform(128, 1024, 32);
  for (Policy policy : {Policy::hybrid, Policy::automatic}) {
    const Plan p = make_plan(c, w, paper_machine(policy));
    EXPECT_GT(p.act_fraction, 0) << policy_name(policy);
    EXPECT_LT(p.act_fraction, 1) << policy_name(policy);
    EXPECT_EQ(p.policy, Policy::hybrid);
    EXPECT_EQ(p.requested, policy);
    // It beats both pure policies.
    const Plan kv = make_plan(c, w, paper_machine(Policy::kv));
    const Plan act = make_plan(c, w, paper_machine(Policy::act));
    EXPECT_GT(p.predicted_tokens_per_s, kv.predicted_tokens_per_s);
    EXPECT_GT(p.predicted_tokens_per_s, act.predicted_tokens_per_s);
    EXPECT_EQ(kv.act_fraction, 0);
    EXPECT_EQ(act.act_fraction, 1);
  }
}

TEST(Planner, GpuBoundMhaHoldsNoActivations) {
  // With PCIe as fast as the GPU's own memory, recompute can only cost: the cost model, not
  // the model's name, keeps f at 0.
  const ModelConfig c = model_shape("opt-6.7b");
  PlanOptions o = paper_machine(Policy::hybrid);
  o.constants.h2d_gbps = o.constants.d2h_gbps = 2000;
  EXPECT_EQ(make_plan(c, Workload::uniform(64, 512, 16), o).act_fraction, 0);
}

TEST(Planner, BytesPerTokenFollowTheShape) {
  // Per layer: K/V 2 * kv_heads * head_dim * elem, checkpoint hidden * elem.
  struct Case {
    const char* name;
    int64_t kv, act;
  };
  for (const Case& k :
       {Case{"opt-6.7b", 2 * 32 * 128 * 2, 4096 * 2}, Case{"opt-13b", 2 * 40 * 128 * 2, 5120 * 2},
        Case{"opt-30b", 2 * 56 * 128 * 2, 7168 * 2}, Case{"llama-2-70b", 2 * 8 * 128 * 2, 8192 * 2},
        Case{"llama-3-8b", 2 * 8 * 128 * 2, 4096 * 2}}) {
    const Plan p = make_plan(model_shape(k.name), Workload::uniform(4, 64, 4),
                             paper_machine(Policy::automatic));
    EXPECT_EQ(p.kv_bytes_per_token, k.kv) << k.name;
    EXPECT_EQ(p.act_bytes_per_token, k.act) << k.name;
  }
}

TEST(Planner, StaysWithinBothBudgets) {
  for (const char* name : {"opt-6.7b", "opt-13b", "opt-30b", "llama-2-13b"}) {
    PlanOptions o = paper_machine(Policy::automatic);
    o.host_mem_gib = 200;
    const Plan p = make_plan(model_shape(name), Workload::uniform(64, 512, 32), o);
    EXPECT_LE(p.device_bytes, int64_t(24) << 30) << name;
    EXPECT_LE(p.host_pool_bytes, int64_t(200) << 30) << name;
    EXPECT_GT(p.predicted_tokens_per_s, 0) << name;
    EXPECT_GE(p.predicted_step_ms, std::max(p.predicted_pcie_ms, p.predicted_gpu_ms) - 1e-9);
  }
}

TEST(Planner, StaysWithinTheBudgetWhenEveryLayerAlmostFits) {
  // An H100 (55 GB/s, 600 TFLOP/s) with 78 GiB: near the point where every layer's weights and
  // most caches fit, where dropping the last resident layer brings back the double buffer.
  PlanOptions o = paper_machine(Policy::automatic);
  o.constants.h2d_gbps = o.constants.d2h_gbps = 55;
  o.constants.gemm_tflops = 600;
  o.constants.mem_gbps = 3350;
  o.gpu_mem_gib = 78;
  for (const char* name : {"opt-6.7b", "opt-13b", "opt-30b"})
    for (int64_t prompt : {512, 1024}) {
      const Plan p = make_plan(model_shape(name), Workload::uniform(128, prompt, 32), o);
      EXPECT_LE(p.device_bytes, int64_t(78) << 30) << name << " prompt " << prompt;
    }
}

TEST(Planner, MiniBatchesBalanceMixedLengths) {
  const ModelConfig c = model_shape("opt-6.7b");
  Workload w;
  for (int i = 0; i < 96; ++i) {
    w.prompt_lens.push_back(50 + (i * 37) % 900);
    w.gen_lens.push_back(1 + (i * 13) % 64);
  }
  PlanOptions o = paper_machine(Policy::hybrid);
  o.act_fraction = 0.5;
  o.mini_batch_size = 12;
  const Plan p = make_plan(c, w, o);
  ASSERT_EQ(p.num_mini_batches, 8);
  ASSERT_EQ(p.mini_batches.size(), 8u);

  // A request's cache per layer: ceil(final / 16) blocks, floor(blocks / 2) of them
  // checkpoints (8192 B a row), the rest K/V (16384 B a row).
  auto bytes = [&](int i) {
    const int64_t blocks = (w.prompt_lens[i] + w.gen_lens[i] + 15) / 16, act = blocks / 2;
    return 16 * ((blocks - act) * 16384 + act * 8192);
  };
  std::multiset<int32_t> seen;
  int64_t lo = INT64_MAX, hi = 0, req_lo = INT64_MAX, req_hi = 0;
  for (const auto& mb : p.mini_batches) {
    EXPECT_EQ(mb.size(), 12u);
    int64_t load = 0;
    for (int32_t i : mb) {
      seen.insert(i);
      load += bytes(i);
    }
    lo = std::min(lo, load);
    hi = std::max(hi, load);
  }
  for (int i = 0; i < 96; ++i) {
    EXPECT_EQ(seen.count(i), 1u) << "request " << i;
    req_lo = std::min(req_lo, bytes(i));
    req_hi = std::max(req_hi, bytes(i));
  }
  EXPECT_EQ(seen.size(), 96u);
  // The stated bound (plan/mini_batches.h): spread <= max - min of a request's bytes.
  EXPECT_LE(hi - lo, req_hi - req_lo);
  EXPECT_LT(static_cast<double>(hi) / static_cast<double>(lo), 1.1);
}

TEST(MiniBatches, BoundsHoldOnRandomSizes) {
  std::mt19937_64 rng(7);
  for (int trial = 0; trial < 200; ++trial) {
    const int n = 1 + static_cast<int>(rng() % 300);
    const int m = 1 + static_cast<int>(rng() % n);
    std::vector<int64_t> b(static_cast<size_t>(n));
    for (auto& x : b) x = 1 + static_cast<int64_t>(rng() % 100000);
    const auto mbs = assign_mini_batches(b, m);
    ASSERT_EQ(mbs.size(), static_cast<size_t>(m));
    std::vector<int> count(static_cast<size_t>(n), 0);
    int64_t lo = INT64_MAX, hi = 0;
    size_t smallest = SIZE_MAX, largest = 0;
    for (const auto& mb : mbs) {
      int64_t load = 0;
      for (int32_t i : mb) {
        ++count[i];
        load += b[i];
      }
      lo = std::min(lo, load);
      hi = std::max(hi, load);
      smallest = std::min(smallest, mb.size());
      largest = std::max(largest, mb.size());
      EXPECT_TRUE(std::is_sorted(mb.begin(), mb.end()));
    }
    for (int i = 0; i < n; ++i) ASSERT_EQ(count[i], 1);
    EXPECT_LE(largest - smallest, 1u);
    const int64_t bmax = *std::max_element(b.begin(), b.end());
    const int64_t bmin = *std::min_element(b.begin(), b.end());
    EXPECT_LE(hi - lo, n % m == 0 ? bmax - bmin : bmax) << "n " << n << " m " << m;
  }
}

std::string error_of(const ModelConfig& c, const Workload& w, const PlanOptions& o) {
  try {
    make_plan(c, w, o);
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

std::string two_decimals(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", x);
  return buf;
}

// OPT-175B: h 12288, ffn 49152, 96 layers. A layer is (4 h^2 + 2 h ffn + 9 h + ffn) * 2 B =
// 3.62 GB; the model-wide weights (50272 + 2050 positions + 2 norm rows) * h * 2 B = 1.29 GB.
constexpr double kOpt175bLayer =
    (4.0 * 12288 * 12288 + 2.0 * 12288 * 49152 + 9 * 12288 + 49152) * 2;
constexpr double kOpt175bGlobal = (50272.0 + 2050 + 2) * 12288 * 2;

TEST(Planner, TooLittleHostMemorySaysHowMuchIsNeeded) {
  // One request of 16 + 16 tokens under a 10 GiB GPU: 7.95 GiB go to the model-wide weights and
  // two layers in flight, so no further layer's weights fit, but every layer's 1.5 MB cache
  // does. The host needs all 96 layers' weights + the staging (32 token ids * 4 B + one
  // 49152 B row): 324.03 GiB.
  PlanOptions o = paper_machine(Policy::kv);
  o.gpu_mem_gib = 10;
  o.host_mem_gib = 100;
  const std::string m = error_of(model_shape("opt-175b"), Workload::uniform(1, 16, 16), o);
  const double need_gib = (96 * kOpt175bLayer + 32 * 4 + 49152) / (1024.0 * 1024 * 1024);
  EXPECT_NE(m.find("needs " + two_decimals(need_gib) + " GiB of host memory"), std::string::npos)
      << m;
  EXPECT_NE(m.find("budget is 100.00 GiB"), std::string::npos) << m;
  EXPECT_NE(m.find("lower --batch"), std::string::npos) << m;
}

TEST(Planner, TooLittleGpuMemorySaysHowMuchIsNeeded) {
  PlanOptions o = paper_machine(Policy::automatic);
  o.gpu_mem_gib = 5;
  const std::string m = error_of(model_shape("opt-175b"), Workload::uniform(1, 16, 16), o);
  EXPECT_NE(m.find("GiB of GPU memory but the budget is 5.00 GiB"), std::string::npos) << m;
  EXPECT_NE(m.find("--gpu-mem-gib"), std::string::npos) << m;
  // The least it could need: model-wide weights + two layers in flight (+ a small working set).
  const size_t at = m.find("needs ");
  ASSERT_NE(at, std::string::npos) << m;
  const double need_gib = std::stod(m.substr(at + 6));
  const double floor_gib = (kOpt175bGlobal + 2 * kOpt175bLayer) / (1024.0 * 1024 * 1024);
  EXPECT_GE(need_gib, floor_gib - 0.005) << m;
  EXPECT_LE(need_gib, floor_gib + 0.05) << m;
}

TEST(Planner, FixedChoicesAreKept) {
  const ModelConfig c = model_shape("opt-6.7b");
  const Workload w = Workload::uniform(32, 256, 8);
  PlanOptions o = paper_machine(Policy::hybrid);
  o.act_fraction = 0.3;
  o.mini_batch_size = 8;
  const Plan p = make_plan(c, w, o);
  EXPECT_DOUBLE_EQ(p.act_fraction, 0.3);
  EXPECT_EQ(p.mini_batch_size, 8);
  EXPECT_EQ(p.num_mini_batches, 4);

  o.policy = Policy::kv;
  EXPECT_NE(error_of(c, w, o).find("--act-fraction"), std::string::npos);
  o.act_fraction.reset();
  o.policy = Policy::recompute_tokens;
  const Plan rt = make_plan(c, w, o);
  EXPECT_EQ(rt.policy, Policy::recompute_tokens);
  EXPECT_EQ(rt.gpu_cache_layers, 0);
  // Prompt + gen beyond the model's 2048 positions.
  EXPECT_NE(error_of(c, Workload::uniform(1, 2040, 10), o).find("2048"), std::string::npos);
}

// The planner weighs a third working set for host-cache items (Plan::host_sets) by the
// replay: opt-6.7b p256 kv at 24 GiB on an H100-like link (55 GB/s, device memory at 2000 GB/s)
// keeps about half the caches resident, in stretches whose compute outlasts two host loads, and
// the third set shortens the predicted step by more than the caches it displaces cost, and by
// more than the 2% a third set must win by. Where every cache is resident, no host set is laid
// out and the plan keeps two (the same plan). A fixed --host-sets is kept.
TEST(Planner, AThirdHostSetIsChosenWhereTheReplaySaysItPays) {
  const ModelConfig c = model_shape("opt-6.7b");
  const Workload w = Workload::uniform(128, 256, 32);
  PlanOptions o = paper_machine(Policy::kv);
  o.constants.h2d_gbps = o.constants.d2h_gbps = 55;
  o.constants.gemm_tflops = 700;
  o.constants.mem_gbps = 2000;
  o.constants.launch_us = 3;
  const Plan chosen = make_plan(c, w, o);
  o.host_sets = 2;
  const Plan two = make_plan(c, w, o);
  EXPECT_EQ(two.host_sets, 2);
  ASSERT_GT(two.gpu_cache_layers, 0);
  ASSERT_LT(two.gpu_cache_layers, c.n_layers);
  EXPECT_EQ(chosen.host_sets, 3);
  EXPECT_GT(chosen.predicted_tokens_per_s, 1.02 * two.predicted_tokens_per_s);
  o.host_sets = 3;
  EXPECT_EQ(make_plan(c, w, o).host_sets, 3);

  // Device memory at 3000 GB/s: the resident stretches are shorter and a third set gains under
  // 2% (predicted), within the replay's error: two are kept.
  o.constants.mem_gbps = 3000;
  const Plan three_fixed = make_plan(c, w, o);
  o.host_sets.reset();
  const Plan kept = make_plan(c, w, o);
  EXPECT_EQ(kept.host_sets, 2);
  EXPECT_GT(three_fixed.predicted_tokens_per_s, kept.predicted_tokens_per_s);
  EXPECT_LT(three_fixed.predicted_tokens_per_s, 1.02 * kept.predicted_tokens_per_s);
  o.constants.mem_gbps = 2000;

  o.host_sets.reset();
  o.gpu_mem_gib = 80;  // every cache fits on the device
  const Plan resident = make_plan(c, w, o);
  EXPECT_EQ(resident.gpu_cache_layers, c.n_layers);
  EXPECT_EQ(resident.host_sets, 2);
  o.host_sets = 5;
  EXPECT_NE(error_of(c, w, o).find("--host-sets"), std::string::npos);
}

}  // namespace
}  // namespace hs

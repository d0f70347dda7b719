// The planner's memory is the engine's layout: for named shapes, workloads and policies, a plan's
// device_bytes and host_pool_bytes equal RunMemory(run_shape(...))'s pools to the byte, and every
// plan made under a budget fits it as laid out.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "cache/run_memory.h"
#include "model/shapes.h"
#include "plan/footprint.h"
#include "plan/planner.h"
#include "util/error.h"

namespace hs {
namespace {

Workload mixed_workload() {
  Workload w;
  w.prompt_lens = {7, 100, 33, 64, 1, 250, 17, 128, 90, 3};
  w.gen_lens = {5, 20, 1, 64, 9, 6, 100, 32, 8, 40};
  return w;
}

struct Case {
  std::string shape;
  Workload workload;
  Policy policy;
  double gpu_gib, host_gib;
};

void expect_plan_is_layout(const ModelConfig& c, const Workload& w, const PlanOptions& o,
                           const std::string& what, int& made) {
  Plan p;
  try {
    p = make_plan(c, w, o);
  } catch (const Error&) {
    return;  // nothing fits this budget: fine, as long as enough cases do
  }
  ++made;
  const RunMemory m(run_shape(c, p, w, p.dtype));
  EXPECT_EQ(p.device_bytes, static_cast<int64_t>(m.device.bytes())) << what;
  EXPECT_EQ(p.host_pool_bytes, static_cast<int64_t>(m.host.bytes())) << what;
  EXPECT_EQ(p.device_bytes, plan_footprint(c, p, w).device_bytes) << what;
  EXPECT_LE(p.device_bytes, static_cast<int64_t>(o.gpu_mem_gib * kBytesPerGib)) << what;
  EXPECT_LE(p.host_pool_bytes, static_cast<int64_t>(o.host_mem_gib * kBytesPerGib)) << what;
}

TEST(PlanLayout, PlansAreTheEnginesLayoutAndFitTheirBudgets) {
  const std::vector<Case> cases = {
      {"opt-125m", Workload::uniform(8, 64, 16), Policy::automatic, 0.5, 4},
      {"opt-125m", mixed_workload(), Policy::hybrid, 0.4, 4},
      {"opt-125m", mixed_workload(), Policy::recompute_tokens, 1, 4},
      {"opt-1.3b", Workload::uniform(32, 256, 32), Policy::kv, 4, 64},
      {"opt-6.7b", Workload::uniform(64, 512, 32), Policy::act, 16, 100},
      {"opt-13b", Workload::uniform(128, 512, 32), Policy::automatic, 24, 100},
      {"llama-2-7b", mixed_workload(), Policy::automatic, 16, 64},
      {"llama-3-8b", Workload::uniform(16, 1024, 64), Policy::hybrid, 20, 64},
  };
  int made = 0;
  for (const Case& k : cases) {
    const ModelConfig c = model_shape(k.shape);
    // The named budget, and tighter ones down to where nothing fits.
    for (double scale : {1.0, 0.75, 0.5, 0.3}) {
      PlanOptions o;
      o.policy = k.policy;
      o.gpu_mem_gib = k.gpu_gib * scale;
      o.host_mem_gib = k.host_gib;
      expect_plan_is_layout(
          c, k.workload, o,
          k.shape + " " + policy_name(k.policy) + " at " + std::to_string(o.gpu_mem_gib) + " GiB",
          made);
    }
  }
  EXPECT_GE(made, 16);
}

// The H100 case that used to plan what run then refused: opt-13b, 128 x (512 + 32) at 24 GiB.
TEST(PlanLayout, Opt13bAt24GibFitsAsLaidOut) {
  const ModelConfig c = model_shape("opt-13b");
  const Workload w = Workload::uniform(128, 512, 32);
  PlanOptions o;
  o.constants = {55, 25, 600, 3000};
  o.gpu_mem_gib = 24;
  o.host_mem_gib = 100;
  const Plan p = make_plan(c, w, o);
  const RunMemory m(run_shape(c, p, w, p.dtype));
  EXPECT_EQ(p.device_bytes, static_cast<int64_t>(m.device.bytes()));
  EXPECT_LE(p.device_bytes, static_cast<int64_t>(24 * kBytesPerGib));
}

}  // namespace
}  // namespace hs

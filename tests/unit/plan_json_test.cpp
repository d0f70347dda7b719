// A plan as JSON (plan/plan_json.h), the schema `plan --json`, `bench --json` and /meta share:
// the node layout adds up as NodeLayout::host_bytes says, on plans the planner made.
#include <gtest/gtest.h>

#include "model/shapes.h"
#include "plan/plan_json.h"
#include "plan/planner.h"

namespace hs {
namespace {

using json = nlohmann::json;

// opt-1.3b, 16 requests of 128 + 8 tokens, 4 ranks a node: with and without shared weights, on
// a device of its own and on one whose memory is host memory (the cpu backend).
TEST(PlanJson, TheNodesHostMemoryIsTheSharedWeightsPlusEveryRanksOwn) {
  const ModelConfig c = model_shape("opt-1.3b");
  const Workload w = Workload::uniform(16, 128, 8);
  for (const bool shared : {false, true}) {
    for (const bool in_host : {false, true}) {
      PlanOptions o;
      o.gpu_mem_gib = 2;
      o.host_mem_gib = 1024;
      o.node.ranks = 4;
      o.node.shared_weights = shared;
      o.node.device_in_host = in_host;
      const Plan p = make_plan(c, w, o);
      const json j = plan_to_json(p);
      const json& n = j.at("node");
      const std::string what =
          std::string(shared ? "shared" : "copies") + (in_host ? ", device in host memory" : "");
      EXPECT_EQ(n.at("ranks").get<int64_t>(), 4) << what;
      EXPECT_EQ(n.at("shared_weights").get<bool>(), shared) << what;
      EXPECT_EQ(n.at("device_in_host").get<bool>(), in_host) << what;
      const int64_t own = j.at("host_pool_bytes").get<int64_t>() +
                          (in_host ? j.at("device_bytes").get<int64_t>() : 0);
      EXPECT_EQ(n.at("rank_host_bytes").get<int64_t>(), own) << what;
      EXPECT_EQ(n.at("host_bytes").get<int64_t>(),
                n.at("shared_weight_bytes").get<int64_t>() + 4 * own)
          << what;
      EXPECT_EQ(n.at("shared_weight_bytes").get<int64_t>() > 0, shared) << what;
      // The mini-batches hold every request once.
      int64_t requests = 0;
      for (const json& mb : j.at("mini_batches")) requests += static_cast<int64_t>(mb.size());
      EXPECT_EQ(requests, 16) << what;
      EXPECT_EQ(j.at("requested_policy"), "auto") << what;
    }
  }
}

}  // namespace
}  // namespace hs

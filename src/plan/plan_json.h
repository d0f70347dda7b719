// A plan as JSON: the one schema of `plan --json`, `bench --json` and the plan a job keeps in
// its /meta (docs/OUTPUT.md), so that the three name every field alike and a plan can be set
// beside the run that carried it out. Callers add what is theirs around it: `plan` the model,
// workload and memory breakdown, `bench` its measurements.
#pragma once

#include <nlohmann/json.hpp>

#include "plan/plan.h"

namespace hs {

// Every field of the plan; the node layout under "node" (ranks, shared_weights,
// device_in_host, shared_weight_bytes, rank_host_bytes: a rank's own host memory, host_bytes:
// what the node's budget holds) and the cost constants under "constants" (plan/constants_json.h).
nlohmann::json plan_to_json(const Plan& p);

}  // namespace hs

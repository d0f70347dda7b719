// Choosing the engine batch (`run --batch-size auto`, `plan --batch auto`): an offloaded engine
// streams every layer's weights once per step whatever the batch, so throughput grows with the
// batch until the caches fill the memory budgets. The planner's prediction is taken at batches
// 16, 32, 64, ... up to a cap, the first batch that does not fit, or the first that predicts less
// than the one before (the budgets bind: caches give way to slower policies, and the planner's
// own time grows with the batch); below 16 only when 16 does not fit. The choice is the
// smallest batch within 1% of the best prediction: past that point a larger batch only makes
// units coarser (worse balance across ranks, longer time to first results).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "plan/plan.h"

namespace hs {

// The largest batch auto considers, and where its search starts.
constexpr int64_t kMaxAutoBatch = 4096;
constexpr int64_t kFirstAutoBatch = 16;

struct BatchCandidate {
  int64_t batch = 0;
  bool fits = false;
  double tokens_per_s = 0;  // the plan's prediction (when it fits)
  std::string why_not;      // the planner's reason (when it does not)
};

struct BatchChoice {
  int64_t batch = 0;
  double tokens_per_s = 0;
  std::vector<BatchCandidate> candidates;  // in increasing batch
  std::string why;                         // one line: the choice and what bounds it
};

// plan_at(b): the plan for a batch of b requests, or hs::Error when it does not fit. max_batch:
// the cap (at most kMaxAutoBatch; e.g. the job's requests per rank). Throws the smallest
// batch's error when not even batch 1 fits.
BatchChoice choose_batch(int64_t max_batch, const std::function<Plan(int64_t batch)>& plan_at);

}  // namespace hs

#include "plan/batch_choice.h"

#include <algorithm>
#include <cstdio>

#include "util/error.h"

namespace hs {

BatchChoice choose_batch(int64_t max_batch, const std::function<Plan(int64_t)>& plan_at) {
  const int64_t cap = std::clamp<int64_t>(max_batch, 1, kMaxAutoBatch);
  std::vector<int64_t> batches;
  for (int64_t b = 1; b < cap; b *= 2) batches.push_back(b);
  batches.push_back(cap);
  BatchChoice c;
  double best_so_far = 0;
  bool past_peak = false;
  for (int64_t b : batches) {
    BatchCandidate k;
    k.batch = b;
    try {
      k.tokens_per_s = plan_at(b).predicted_tokens_per_s;
      k.fits = true;
    } catch (const Error& e) {
      if (b == 1) throw;
      k.why_not = e.what();
    }
    c.candidates.push_back(k);
    if (!k.fits) break;  // a larger batch needs more memory still
    // Past the peak the budgets bind (caches give way to slower policies) and larger batches
    // only lose; the planner's time grows with the batch, so stop there.
    past_peak = k.tokens_per_s < best_so_far;
    if (past_peak) break;
    best_so_far = k.tokens_per_s;
  }
  double best = 0;
  for (const BatchCandidate& k : c.candidates)
    if (k.fits) best = std::max(best, k.tokens_per_s);
  for (const BatchCandidate& k : c.candidates)
    if (k.fits && k.tokens_per_s >= 0.99 * best) {
      c.batch = k.batch;
      c.tokens_per_s = k.tokens_per_s;
      break;
    }
  const BatchCandidate& last = c.candidates.back();
  char rate[64];
  std::snprintf(rate, sizeof rate, "%.1f", c.tokens_per_s);
  std::string bound;
  if (!last.fits)
    bound = cat("batch ", last.batch, " does not fit the memory budgets");
  else if (past_peak)
    bound = cat("batch ", last.batch, " predicts less (the memory budgets bind)");
  else if (c.batch < last.batch)
    bound = cat("larger batches predict less than 1% more, up to ", last.batch);
  else
    bound = cat("the cap: ", cap == kMaxAutoBatch ? "auto's largest batch" : "the job's requests "
                                                                             "per rank");
  c.why = cat("batch ", c.batch, ": predicted ", rate,
              " tokens/s, within 1% of the best prediction among batches 1-",
              last.fits ? last.batch : c.candidates[c.candidates.size() - 2].batch, "; ", bound);
  return c;
}

}  // namespace hs

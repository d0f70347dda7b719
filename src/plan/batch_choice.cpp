#include "plan/batch_choice.h"

#include <algorithm>
#include <cstdio>

#include "util/error.h"

namespace hs {

BatchChoice choose_batch(int64_t max_batch, const std::function<Plan(int64_t)>& plan_at) {
  const int64_t cap = std::clamp<int64_t>(max_batch, 1, kMaxAutoBatch);
  BatchChoice c;
  // Upward from kFirstAutoBatch (batches below it only lose, unless it does not fit: then
  // downward until one fits). The planner's time grows with the batch, so the search stops as
  // soon as more batch cannot help.
  auto evaluate = [&](int64_t b) {
    BatchCandidate k;
    k.batch = b;
    try {
      k.tokens_per_s = plan_at(b).predicted_tokens_per_s;
      k.fits = true;
    } catch (const Error& e) {
      if (b == 1) throw;
      k.why_not = e.what();
    }
    return k;
  };
  const int64_t first = std::min(cap, kFirstAutoBatch);
  BatchCandidate k = evaluate(first);
  c.candidates.push_back(k);
  for (int64_t b = first / 2; !k.fits && b >= 1; b /= 2) {
    k = evaluate(b);  // throws at batch 1 if even that does not fit
    c.candidates.push_back(k);
  }
  bool past_peak = false;
  if (c.candidates.front().fits) {
    double best_so_far = k.tokens_per_s;
    for (int64_t b = first; b < cap;) {
      b = std::min(b * 2, cap);
      k = evaluate(b);
      c.candidates.push_back(k);
      if (!k.fits) break;  // a larger batch needs more memory still
      // Past the peak the budgets bind (caches give way to slower policies) and larger
      // batches only lose.
      past_peak = k.tokens_per_s < best_so_far;
      if (past_peak) break;
      best_so_far = k.tokens_per_s;
    }
  }
  std::sort(c.candidates.begin(), c.candidates.end(),
            [](const BatchCandidate& x, const BatchCandidate& y) { return x.batch < y.batch; });
  double best = 0;
  for (const BatchCandidate& x : c.candidates)
    if (x.fits) best = std::max(best, x.tokens_per_s);
  for (const BatchCandidate& x : c.candidates)
    if (x.fits && x.tokens_per_s >= 0.99 * best) {
      c.batch = x.batch;
      c.tokens_per_s = x.tokens_per_s;
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
    bound = cap == kMaxAutoBatch ? "the cap: auto's largest batch"
                                 : "the cap: the job's requests per rank";
  int64_t hi = 0;
  for (const BatchCandidate& x : c.candidates)
    if (x.fits) hi = x.batch;
  c.why = cat("batch ", c.batch, ": predicted ", rate,
              " tokens/s, within 1% of the best prediction among batches ",
              c.candidates.front().batch, "-", hi, "; ", bound);
  return c;
}

}  // namespace hs

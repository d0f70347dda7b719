#include "engine/score.h"

#include <algorithm>
#include <cmath>

#include "util/error.h"

namespace hs {

double nll_of(const float* logits, int64_t vocab, int32_t target) {
  HS_CHECK(target >= 0 && target < vocab, "token ", target, " is outside the vocabulary of ",
           vocab);
  double mx = logits[0];
  for (int64_t i = 1; i < vocab; ++i) mx = std::max(mx, double(logits[i]));
  double sum = 0;
  for (int64_t i = 0; i < vocab; ++i) sum += std::exp(double(logits[i]) - mx);
  return std::log(sum) + mx - double(logits[target]);
}

std::vector<double> token_nll(Generator& g, const std::vector<int32_t>& ids, int64_t batch) {
  HS_CHECK(batch > 0, "scoring needs a batch of at least one prefix, got ", batch);
  const int64_t n = static_cast<int64_t>(ids.size());
  HS_CHECK(n <= g.config().max_positions, "a text of ", n, " tokens is longer than the model's ",
           g.config().max_positions, "-token context");
  std::vector<double> nll(static_cast<size_t>(std::max<int64_t>(0, n - 1)), NAN);
  int64_t first = 1;  // the prefix length of the batch's first request
  g.set_logits_observer([&](size_t index, int64_t step, const float* logits, int64_t vocab) {
    if (step != 0) return;  // only the token right after the prefix is scored
    const int64_t k = first + static_cast<int64_t>(index);
    nll[static_cast<size_t>(k - 1)] = nll_of(logits, vocab, ids[static_cast<size_t>(k)]);
  });
  for (; first < n; first += batch) {
    std::vector<GenRequest> requests;
    for (int64_t k = first; k < std::min(n, first + batch); ++k) {
      GenRequest r;
      r.id = cat("prefix-", k);
      r.prompt.assign(ids.begin(), ids.begin() + k);
      r.max_new_tokens = 1;
      requests.push_back(std::move(r));
    }
    g.generate(requests, SamplingParams{});
  }
  g.set_logits_observer(nullptr);
  for (double x : nll) HS_CHECK(!std::isnan(x), "internal: a token was not scored");
  return nll;
}

std::vector<std::vector<double>> token_nll_decode(Generator& g,
                                                  const std::vector<std::vector<int32_t>>& texts,
                                                  int64_t batch) {
  HS_CHECK(batch > 0, "scoring needs a batch of at least one text, got ", batch);
  std::vector<std::vector<double>> nll(texts.size());
  for (size_t i = 0; i < texts.size(); ++i) {
    const int64_t n = static_cast<int64_t>(texts[i].size());
    HS_CHECK(n <= g.config().max_positions, "a text of ", n, " tokens is longer than the model's ",
             g.config().max_positions, "-token context");
    nll[i].assign(static_cast<size_t>(std::max<int64_t>(0, n - 1)), NAN);
  }
  std::vector<size_t> scored;  // the texts with a token to score (two or more tokens)
  for (size_t i = 0; i < texts.size(); ++i)
    if (texts[i].size() > 1) scored.push_back(i);
  size_t first = 0;  // the batch's first text in `scored`
  g.set_logits_observer([&](size_t index, int64_t step, const float* logits, int64_t vocab) {
    const size_t t = scored[first + index];
    nll[t].at(static_cast<size_t>(step)) =
        nll_of(logits, vocab, texts[t][static_cast<size_t>(step + 1)]);
  });
  for (; first < scored.size(); first += static_cast<size_t>(batch)) {
    std::vector<GenRequest> requests;
    for (size_t k = first; k < std::min(scored.size(), first + static_cast<size_t>(batch)); ++k) {
      const std::vector<int32_t>& ids = texts[scored[k]];
      GenRequest r;
      r.id = cat("text-", scored[k]);
      r.prompt.assign(ids.begin(), ids.begin() + 1);
      r.forced.assign(ids.begin() + 1, ids.end());
      r.max_new_tokens = static_cast<int64_t>(r.forced.size());
      requests.push_back(std::move(r));
    }
    g.generate(requests, SamplingParams{});
  }
  g.set_logits_observer(nullptr);
  for (const auto& v : nll)
    for (double x : v) HS_CHECK(!std::isnan(x), "internal: a token was not scored");
  return nll;
}

}  // namespace hs

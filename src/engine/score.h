// Scoring text with a generator: the negative log-likelihood of each token given the tokens
// before it (teacher forcing), the measure behind perplexity. A generator computes the head only
// for a request's last token, so token k is scored by a prefill of its prefix ids[0, k) that
// generates one token, its logits shown to an observer (Generator::set_logits_observer): n
// tokens take n - 1 such requests, O(n^2) tokens of prefill in all. For measuring what a weight
// or cache format costs on short texts, not for scoring corpora.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/generator.h"

namespace hs {

// -log p(ids[k] | ids[0, k)) for k = 1 .. ids.size() - 1, in natural-log units; the prefixes run
// `batch` at a time. ids must fit the model's context.
std::vector<double> token_nll(Generator& g, const std::vector<int32_t>& ids, int64_t batch);

// -log softmax(logits)[target], in double.
double nll_of(const float* logits, int64_t vocab, int32_t target);

}  // namespace hs

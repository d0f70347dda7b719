// Scoring text with a generator: the negative log-likelihood of each token given the tokens
// before it (teacher forcing), the measure behind perplexity. A generator computes the head only
// for a request's last token, so token k is scored by a prefill of its prefix ids[0, k) that
// generates one token, its logits shown to an observer (Generator::set_logits_observer): n
// tokens take n - 1 such requests, O(n^2) tokens of prefill in all. For measuring what a weight
// or cache format costs on short texts, not for scoring corpora.
//
// A prefill writes the cache but never reads it, so what a cache format costs shows only in
// decode steps: token_nll_decode scores a text as one request whose prompt is its first token
// and whose generation is forced to the rest (GenRequest::forced), token k scored from the
// logits of decode step k - 1, which attend to every earlier token through the cache. Same
// numbers as token_nll up to rounding where the cache keeps what it is given.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/generator.h"

namespace hs {

// -log p(ids[k] | ids[0, k)) for k = 1 .. ids.size() - 1, in natural-log units; the prefixes run
// `batch` at a time. ids must fit the model's context.
std::vector<double> token_nll(Generator& g, const std::vector<int32_t>& ids, int64_t batch);

// token_nll for each text, through the decode path: up to `batch` texts a generate call.
std::vector<std::vector<double>> token_nll_decode(Generator& g,
                                                  const std::vector<std::vector<int32_t>>& texts,
                                                  int64_t batch);

// -log softmax(logits)[target], in double.
double nll_of(const float* logits, int64_t vocab, int32_t target);

}  // namespace hs

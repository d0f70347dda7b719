// What every engine offers the runner: a batch of tokenized requests in, their continuations
// out. Requests are validated by the caller (non-empty, in-vocabulary, within the context).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "engine/sampler.h"
#include "model/config.h"

namespace hs {

struct GenRequest {
  std::string id;
  std::vector<int32_t> prompt;
  int64_t max_new_tokens = 0;
};

struct GenResult {
  std::string id;
  std::vector<int32_t> output;  // generated tokens, EOS included if it was generated
  std::string finish_reason;    // "eos", "length" (max_new_tokens or the model's context), "stop"
};

// Asked after each generated token: true ends request `index` of the batch (e.g. a stop string
// appeared in its text).
using StopFn = std::function<bool(size_t index, const std::vector<int32_t>& output)>;

// Shown the logits each token is sampled from: request `index` of the batch, its generation
// `step` (0: the token after the prompt), `vocab` fp32 values. For tests that compare backends'
// logits; a generator calls it only when one is set.
using LogitsFn =
    std::function<void(size_t index, int64_t step, const float* logits, int64_t vocab)>;

class Generator {
 public:
  virtual ~Generator() = default;
  virtual const ModelConfig& config() const = 0;
  virtual std::vector<GenResult> generate(const std::vector<GenRequest>& batch,
                                          const SamplingParams& sampling,
                                          const StopFn& stop = nullptr) = 0;
  // Shows fn the logits of every token generate() samples from then on (copied to the host:
  // for scoring and tests, not for speed).
  virtual void set_logits_observer(LogitsFn fn) = 0;
};

// How many tokens request r may generate: its max_new_tokens, cut at the model's context.
int64_t generation_budget(const ModelConfig& c, const GenRequest& r);
// True if the token ends generation (one of the model's EOS ids).
bool is_eos(const ModelConfig& c, int32_t token);

}  // namespace hs

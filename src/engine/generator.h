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
  // Teacher forcing: generated token k is forced[k] whatever the sampler picks (its logits are
  // still computed and shown to the observer), and a forced EOS or stop does not end the
  // request. For scoring text through the decode path and its caches (engine/score.h).
  std::vector<int32_t> forced;
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
// Generated token `step` of request r: its forced token if it has one (checked against the
// vocabulary), else what was sampled.
int32_t next_token(const ModelConfig& c, const GenRequest& r, int64_t step, int32_t sampled);
// True if generated token `step` of r may end it (EOS, stop): it was not forced.
inline bool may_end(const GenRequest& r, int64_t step) {
  return step >= static_cast<int64_t>(r.forced.size());
}
// True if the token ends generation (one of the model's EOS ids).
bool is_eos(const ModelConfig& c, int32_t token);

}  // namespace hs

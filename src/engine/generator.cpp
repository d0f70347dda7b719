#include "engine/generator.h"

#include <algorithm>

#include "util/error.h"

namespace hs {

int64_t generation_budget(const ModelConfig& c, const GenRequest& r) {
  const int64_t room = c.max_positions - static_cast<int64_t>(r.prompt.size());
  return std::max<int64_t>(0, std::min(r.max_new_tokens, room));
}

int32_t next_token(const ModelConfig& c, const GenRequest& r, int64_t step, int32_t sampled) {
  if (step >= static_cast<int64_t>(r.forced.size())) return sampled;
  const int32_t t = r.forced[static_cast<size_t>(step)];
  HS_CHECK(t >= 0 && t < c.vocab_size, "request '", r.id, "': forced token ", step, " is ", t,
           ", outside the vocabulary of ", c.vocab_size);
  return t;
}

bool is_eos(const ModelConfig& c, int32_t token) {
  return std::find(c.eos_token_ids.begin(), c.eos_token_ids.end(), token) != c.eos_token_ids.end();
}

}  // namespace hs

#include "engine/generator.h"

#include <algorithm>

namespace hs {

int64_t generation_budget(const ModelConfig& c, const GenRequest& r) {
  const int64_t room = c.max_positions - static_cast<int64_t>(r.prompt.size());
  return std::max<int64_t>(0, std::min(r.max_new_tokens, room));
}

bool is_eos(const ModelConfig& c, int32_t token) {
  return std::find(c.eos_token_ids.begin(), c.eos_token_ids.end(), token) != c.eos_token_ids.end();
}

}  // namespace hs

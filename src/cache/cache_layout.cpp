#include "cache/cache_layout.h"

#include <algorithm>
#include <cmath>

#include "util/error.h"

namespace hs {

int64_t blocks_for(int64_t tokens, int64_t block_tokens) {
  return (tokens + block_tokens - 1) / block_tokens;
}

int64_t act_blocks_of(int64_t blocks, double f) {
  // The same expression plan's is_act_block uses, so the counts agree bit for bit.
  return static_cast<int64_t>(std::floor(static_cast<double>(blocks) * f));
}

CacheLayout make_cache_layout(const ModelConfig& c, DType dtype, int64_t block_tokens,
                              double act_fraction, const std::vector<int64_t>& capacity_tokens,
                              size_t max_segment_bytes, CacheFormat host_format,
                              int64_t host_group) {
  HS_CHECK(block_tokens > 0, "block_tokens must be > 0, got ", block_tokens);
  HS_CHECK(act_fraction >= 0 && act_fraction <= 1, "the activation share must be in [0, 1], got ",
           act_fraction);
  CacheLayout l;
  l.block_tokens = block_tokens;
  l.kv_dim = c.kv_dim();
  l.hidden = c.hidden;
  l.elem_bytes = static_cast<int64_t>(dtype_bytes(dtype));
  l.host_format = host_format;
  l.host_group = host_group;
  cache_row_bytes(host_format, l.kv_dim, host_group, l.elem_bytes);  // checks the group
  for (int64_t tokens : capacity_tokens) {
    const int64_t blocks = blocks_for(tokens, block_tokens);
    const int64_t act = act_blocks_of(blocks, act_fraction);
    l.act_slots += act;
    l.kv_slots += blocks - act;
  }
  const int64_t seg = static_cast<int64_t>(max_segment_bytes);
  l.kv_slots_per_segment = std::max<int64_t>(1, seg / std::max<int64_t>(1, l.k_block_bytes()));
  l.act_slots_per_segment = std::max<int64_t>(1, seg / std::max<int64_t>(1, l.act_block_bytes()));
  return l;
}

}  // namespace hs

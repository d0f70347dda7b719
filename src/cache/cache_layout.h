// The shape of a run's cache: how many blocks of each kind (K/V or activation checkpoint) it
// needs and how many bytes each takes, per layer. Every layer has the same block tables (a
// block's kind depends only on its index, plan/plan.h), so one layout serves every layer.
//
// Bytes per token and layer (elem = bytes of the cache dtype):
//   K/V block row        2 * kv_dim * elem   (K and V, stored as two arrays)
//   checkpoint block row hidden * elem       (the layer's input x, before its norm)
// For multi-head attention (kv_dim = hidden) a checkpoint is half a K/V row; with grouped-query
// attention (kv_dim < hidden / 2) it is larger, and only the planner's ratio decides.
// The host's blocks may be compressed (host_format, model/cache_format.h): a row then takes
// cache_row_bytes of its width instead; the device's blocks are always in the element type.
// Host and device arrays have the same slots per segment (the native block's), so one
// mini-batch's segment ranges serve either.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "model/cache_format.h"
#include "model/config.h"
#include "util/dtype.h"

namespace hs {

struct CacheLayout {
  int64_t block_tokens = 0;
  int64_t kv_dim = 0;  // elements of one K (or V) row
  int64_t hidden = 0;  // elements of one checkpoint row
  int64_t elem_bytes = 0;
  int64_t kv_slots = 0;   // K/V blocks of all requests (per layer)
  int64_t act_slots = 0;  // checkpoint blocks of all requests (per layer)
  // Slots of one contiguous segment of a layer's slot array (segments stay below the pool's
  // chunk size, so a multi-GiB cache never needs one multi-GiB pinned buffer).
  int64_t kv_slots_per_segment = 1;
  int64_t act_slots_per_segment = 1;

  CacheFormat host_format = CacheFormat::native;
  int64_t host_group = kDefaultCacheGroup;

  int64_t kv_bytes_per_token() const { return 2 * kv_dim * elem_bytes; }
  int64_t act_bytes_per_token() const { return hidden * elem_bytes; }
  // One row of K (or V) or of a checkpoint, in the host's blocks (host) or the device's.
  int64_t k_row_bytes(bool host = false) const { return row_bytes(kv_dim, host); }
  int64_t act_row_bytes(bool host = false) const { return row_bytes(hidden, host); }
  int64_t k_block_bytes(bool host = false) const { return block_tokens * k_row_bytes(host); }
  int64_t act_block_bytes(bool host = false) const { return block_tokens * act_row_bytes(host); }
  bool host_compressed() const { return host_format != CacheFormat::native; }
  // One layer's cache of every request.
  int64_t layer_bytes(bool host = false) const {
    return kv_slots * 2 * k_block_bytes(host) + act_slots * act_block_bytes(host);
  }

 private:
  int64_t row_bytes(int64_t cols, bool host) const {
    return host ? cache_row_bytes(host_format, cols, host_group, elem_bytes) : cols * elem_bytes;
  }
};

// Blocks covering `tokens` positions: ceil(tokens / block_tokens).
int64_t blocks_for(int64_t tokens, int64_t block_tokens);
// Checkpoint blocks among a request's first `blocks` blocks under activation share f:
// floor(blocks * f), the sum of plan's is_act_block(b, f) over b < blocks (it telescopes).
int64_t act_blocks_of(int64_t blocks, double f);

// capacity_tokens[i]: the most tokens request i ever holds in its cache.
// host_format, host_group: how the host's blocks are held.
CacheLayout make_cache_layout(const ModelConfig& c, DType dtype, int64_t block_tokens,
                              double act_fraction, const std::vector<int64_t>& capacity_tokens,
                              size_t max_segment_bytes,
                              CacheFormat host_format = CacheFormat::native,
                              int64_t host_group = kDefaultCacheGroup);

}  // namespace hs

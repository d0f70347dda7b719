// The cache blocks of every layer: per layer a K array, a V array and a checkpoint array of
// block slots, each cut into segments that fit a pool chunk. Layers whose cache lives on the
// host take their arrays from the host pool; layers kept on the GPU from the device pool; the
// slot numbering (from the block tables) is the same everywhere.
//
// K array of a layer: [kv_slots, block_tokens, kv_dim] (likewise V);
// checkpoint array:   [act_slots, block_tokens, hidden]; slot s lives in segment
// s / slots_per_segment at slot s % slots_per_segment.
#pragma once

#include <array>
#include <vector>

#include "cache/cache_layout.h"
#include "cache/memory_pool.h"

namespace hs {

// Slots of one kind for one layer, as segments of one memory pool.
struct SlotArray {
  const MemoryPool* pool = nullptr;
  std::vector<int> segment_regions;
  int64_t slots_per_segment = 1;

  void* segment_base(int64_t segment) const;
};

enum class CacheArray : int { k = 0, v = 1, act = 2 };

class CacheStore {
 public:
  CacheStore() = default;
  // Reserves the arrays of `layers` layers in `pool` under category "cache", with the host's
  // block size (host: compressed where the layout's host_format says) or the device's.
  CacheStore(const CacheLayout& layout, int layers, MemoryPool& pool, bool host);

  const CacheLayout& layout() const { return layout_; }
  bool host() const { return host_; }
  int layers() const { return static_cast<int>(arrays_.size()); }
  const SlotArray& array(int layer, CacheArray a) const {
    return arrays_[static_cast<size_t>(layer)][static_cast<int>(a)];
  }

 private:
  CacheLayout layout_;
  bool host_ = false;
  std::vector<std::array<SlotArray, 3>> arrays_;
};

}  // namespace hs

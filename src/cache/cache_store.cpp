#include "cache/cache_store.h"

#include <algorithm>

namespace hs {

void* SlotArray::segment_base(int64_t segment) const {
  return pool->ptr(segment_regions.at(static_cast<size_t>(segment)));
}

namespace {
SlotArray reserve_slots(MemoryPool& pool, int64_t slots, int64_t slot_bytes,
                        int64_t slots_per_segment) {
  SlotArray a;
  a.pool = &pool;
  a.slots_per_segment = slots_per_segment;
  for (int64_t first = 0; first < slots; first += slots_per_segment) {
    const int64_t n = std::min(slots_per_segment, slots - first);
    a.segment_regions.push_back(pool.reserve(static_cast<size_t>(n * slot_bytes), "cache"));
  }
  return a;
}
}  // namespace

CacheStore::CacheStore(const CacheLayout& layout, int layers, MemoryPool& pool, bool host)
    : layout_(layout), host_(host) {
  arrays_.resize(static_cast<size_t>(layers));
  for (auto& a : arrays_) {
    for (int kv = 0; kv < 2; ++kv)
      a[kv] = reserve_slots(pool, layout.kv_slots, layout.k_block_bytes(host),
                            layout.kv_slots_per_segment);
    a[2] = reserve_slots(pool, layout.act_slots, layout.act_block_bytes(host),
                         layout.act_slots_per_segment);
  }
}

}  // namespace hs

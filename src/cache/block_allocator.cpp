#include "cache/block_allocator.h"

#include "util/error.h"

namespace hs {

BlockAllocator::BlockAllocator(int64_t kv_slots, int64_t act_slots) {
  for (int64_t s = kv_slots - 1; s >= 0; --s) kv_free_.push_back(static_cast<int32_t>(s));
  for (int64_t s = act_slots - 1; s >= 0; --s) act_free_.push_back(static_cast<int32_t>(s));
}

int32_t BlockAllocator::take(bool act) {
  std::vector<int32_t>& free = act ? act_free_ : kv_free_;
  HS_CHECK(!free.empty(), "out of ", act ? "activation-checkpoint" : "K/V",
           " cache blocks: the batch holds more tokens than the pool was planned for");
  const int32_t s = free.back();
  free.pop_back();
  return s;
}

void BlockAllocator::give_back(bool act, int32_t slot) {
  (act ? act_free_ : kv_free_).push_back(slot);
}

}  // namespace hs

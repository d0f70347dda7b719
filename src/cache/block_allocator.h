// Free slots of the two block kinds (K/V and activation checkpoint). The counts are fixed when
// the pool is laid out, so running out means the batch is larger than the one planned for: an
// hs::Error, checked before a batch starts (HybridEngine), never a surprise mid-run.
#pragma once

#include <cstdint>
#include <vector>

namespace hs {

class BlockAllocator {
 public:
  BlockAllocator(int64_t kv_slots, int64_t act_slots);

  int32_t take(bool act);
  void give_back(bool act, int32_t slot);
  int64_t free_slots(bool act) const {
    return static_cast<int64_t>((act ? act_free_ : kv_free_).size());
  }

 private:
  std::vector<int32_t> kv_free_, act_free_;  // stacks; lowest slot on top
};

}  // namespace hs

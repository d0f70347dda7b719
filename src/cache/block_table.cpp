#include "cache/block_table.h"

namespace hs {

BlockTable::BlockTable(int64_t block_tokens, std::function<bool(int64_t)> is_act)
    : block_tokens_(block_tokens), kind_of_(std::move(is_act)) {}

void BlockTable::grow(int64_t tokens, BlockAllocator& alloc) {
  while (blocks() * block_tokens_ < tokens) {
    const bool act = kind_of_(blocks());
    slots_.push_back(alloc.take(act));
    act_.push_back(act);
  }
}

void BlockTable::release(BlockAllocator& alloc) {
  for (size_t b = 0; b < slots_.size(); ++b) alloc.give_back(act_[b], slots_[b]);
  slots_.clear();
  act_.clear();
}

}  // namespace hs

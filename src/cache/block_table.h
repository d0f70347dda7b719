// A request's block table: for each block of block_tokens consecutive positions, its kind (K/V
// or activation checkpoint) and its slot in that kind's arrays. The same table serves every
// layer. Blocks are taken from a BlockAllocator as the request grows and given back at its end.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "cache/block_allocator.h"

namespace hs {

class BlockTable {
 public:
  // is_act(b): the kind of block b (plan's is_act_block under the run's activation share).
  BlockTable(int64_t block_tokens, std::function<bool(int64_t)> is_act);

  // Makes the table cover positions [0, tokens), taking new blocks from `alloc`.
  void grow(int64_t tokens, BlockAllocator& alloc);
  // Gives every block back.
  void release(BlockAllocator& alloc);

  int64_t blocks() const { return static_cast<int64_t>(slots_.size()); }
  int64_t block_tokens() const { return block_tokens_; }
  bool is_act(int64_t block) const { return act_[static_cast<size_t>(block)]; }
  int32_t slot(int64_t block) const { return slots_[static_cast<size_t>(block)]; }

 private:
  int64_t block_tokens_;
  std::function<bool(int64_t)> kind_of_;
  std::vector<int32_t> slots_;
  std::vector<bool> act_;
};

}  // namespace hs

// Cache blocks: which blocks are checkpoints (plan's is_act_block, counted in closed form),
// bytes per block and per layer from the formulas (K/V row 2*kv_dim*elem, checkpoint row
// hidden*elem), block tables growing over partial blocks, and the allocator running dry.
#include <gtest/gtest.h>

#include <set>

#include "cache/block_allocator.h"
#include "cache/block_table.h"
#include "cache/cache_layout.h"
#include "model/shapes.h"
#include "plan/cost_model.h"
#include "plan/plan.h"
#include "util/error.h"

namespace hs {
namespace {

TEST(CacheLayout, CheckpointBlockCountIsTheSumOfIsActBlock) {
  for (double f : {0.0, 1.0, 0.5, 1.0 / 3, 0.7, 5.0 / 32, 31.0 / 32}) {
    int64_t sum = 0;
    for (int64_t n = 0; n <= 300; ++n) {
      EXPECT_EQ(act_blocks_of(n, f), sum) << "f " << f << " n " << n;
      EXPECT_EQ(act_blocks_of(n, f), act_blocks_among(n, f));  // the planner's count
      sum += is_act_block(n, f) ? 1 : 0;
    }
  }
  EXPECT_EQ(act_blocks_of(10, 0.5), 5);  // every other block
  EXPECT_FALSE(is_act_block(0, 0.5));
  EXPECT_TRUE(is_act_block(1, 0.5));
}

TEST(CacheLayout, BytesFollowTheFormulas) {
  // opt-125m: hidden 768, 12 heads of 64 (MHA). llama-3-8b: hidden 4096, 8 K/V heads of 128.
  const ModelConfig opt = model_shape("opt-125m"), llama = model_shape("llama-3-8b");
  // Requests of 10 and 3 tokens in 4-token blocks: 3 + 1 blocks; at f = 0.5 one checkpoint block
  // (floor(3 * 0.5) + floor(1 * 0.5)).
  const CacheLayout l = make_cache_layout(opt, DType::f16, 4, 0.5, {10, 3}, 1 << 30);
  EXPECT_EQ(l.kv_bytes_per_token(), 2 * 768 * 2);
  EXPECT_EQ(l.act_bytes_per_token(), 768 * 2);
  EXPECT_EQ(l.kv_slots, 3);
  EXPECT_EQ(l.act_slots, 1);
  EXPECT_EQ(l.layer_bytes(), 3 * 4 * (2 * 768 * 2) + 1 * 4 * (768 * 2));
  const CacheLayout g = make_cache_layout(llama, DType::bf16, 16, 0.25, {100}, 1 << 30);
  EXPECT_EQ(g.kv_bytes_per_token(), 2 * 1024 * 2);
  EXPECT_EQ(g.act_bytes_per_token(), 4096 * 2);  // a checkpoint is larger than K+V under GQA
  EXPECT_EQ(g.kv_slots + g.act_slots, 7);
  EXPECT_EQ(g.act_slots, 1);
}

TEST(CacheLayout, SegmentsHoldWholeBlocksBelowTheChunkSize) {
  // opt-125m: K and checkpoint blocks of 16 fp16 rows of 768 are 24 KiB; 100 KiB holds 4.
  const CacheLayout l =
      make_cache_layout(model_shape("opt-125m"), DType::f16, 16, 0.5, {1000}, 100 * 1024);
  EXPECT_EQ(l.kv_slots_per_segment, 4);
  EXPECT_EQ(l.act_slots_per_segment, 4);
  // llama-3-8b: K blocks of 16 rows of 1024 (32 KiB, 3 a segment); a checkpoint block (128 KiB)
  // is larger than a segment and gets one to itself.
  const CacheLayout g =
      make_cache_layout(model_shape("llama-3-8b"), DType::f16, 16, 0.5, {1000}, 100 * 1024);
  EXPECT_EQ(g.kv_slots_per_segment, 3);
  EXPECT_EQ(g.act_slots_per_segment, 1);
}

TEST(BlockTable, GrowsOverPartialBlocksWithKindsByIndex) {
  const double f = 0.4;
  BlockAllocator alloc(100, 100);
  BlockTable t(4, [f](int64_t b) { return is_act_block(b, f); });
  t.grow(1, alloc);
  EXPECT_EQ(t.blocks(), 1);
  t.grow(4, alloc);  // still one block
  EXPECT_EQ(t.blocks(), 1);
  t.grow(23, alloc);  // ceil(23 / 4)
  EXPECT_EQ(t.blocks(), 6);
  std::set<std::pair<bool, int32_t>> seen;
  for (int64_t b = 0; b < t.blocks(); ++b) {
    EXPECT_EQ(t.is_act(b), is_act_block(b, f));
    EXPECT_TRUE(seen.insert({t.is_act(b), t.slot(b)}).second) << "slot used twice";
  }
  EXPECT_EQ(alloc.free_slots(true), 100 - act_blocks_of(6, f));
  t.release(alloc);
  EXPECT_EQ(t.blocks(), 0);
  EXPECT_EQ(alloc.free_slots(true), 100);
  EXPECT_EQ(alloc.free_slots(false), 100);
}

TEST(BlockTable, RunningOutOfBlocksIsAnError) {
  BlockAllocator alloc(2, 0);
  BlockTable t(4, [](int64_t) { return false; });
  t.grow(8, alloc);
  EXPECT_THROW(t.grow(9, alloc), Error);
}

}  // namespace
}  // namespace hs

// MiniBatch's working-block numbering and load runs, against hand-built block tables laid out as
// the engine lays them out: a step's requests take their prompt blocks one request after
// another, and each later block in request order.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "engine/mini_batch.h"

namespace hs {
namespace {

constexpr int64_t kBt = 4;  // tokens per block

struct Batch {
  BlockAllocator alloc{1000, 1000};
  std::vector<BlockTable> tables;
  std::vector<std::vector<int32_t>> tokens;
  CacheLayout layout;

  // n requests of `prompt` tokens, grown as a prefill step and then `decoded` decode steps
  // grow them; is_act: the kind of each block.
  Batch(int n, int64_t prompt, int64_t decoded, std::function<bool(int64_t)> is_act,
        int64_t slots_per_segment = 1000) {
    layout.block_tokens = kBt;
    layout.kv_slots_per_segment = layout.act_slots_per_segment = slots_per_segment;
    for (int i = 0; i < n; ++i) {
      tables.emplace_back(kBt, is_act);
      tokens.emplace_back(static_cast<size_t>(prompt + decoded + 1), 7);  // ids do not matter
    }
    for (auto& t : tables) t.grow(prompt, alloc);
    for (int64_t d = 1; d <= decoded; ++d)
      for (auto& t : tables) t.grow(prompt + d, alloc);
  }

  // The decode step after `cached` tokens, of requests [first, first + count).
  MiniBatch step(int first, int count, int64_t cached) {
    std::vector<MiniBatchRequest> reqs;
    for (int i = first; i < first + count; ++i) {
      MiniBatchRequest r;
      r.request = i;
      r.cached = cached;
      r.new_tokens = 1;
      r.tokens = tokens[static_cast<size_t>(i)].data() + cached;
      tables[static_cast<size_t>(i)].grow(cached + 1, alloc);
      r.table = &tables[static_cast<size_t>(i)];
      reqs.push_back(r);
    }
    return MiniBatch(reqs, kBt, layout, 0);
  }
};

int64_t runs_of(const std::vector<SegmentRange>& ranges) {
  int64_t n = 0;
  for (const SegmentRange& r : ranges) n += static_cast<int64_t>(r.runs.size());
  return n;
}

// Every block of every request has its own working block; each loaded block's load entry
// copies its slot into the working block its table names; each new token's working row is in
// its block's working block.
void expect_consistent(const MiniBatch& m, const Batch& b, int first, int64_t cached) {
  const auto at = [&](int64_t off, int64_t k) { return m.index[static_cast<size_t>(off + k)]; };
  std::set<int32_t> used;
  std::map<std::pair<int64_t, int32_t>, int32_t> kv_loads, act_loads;  // (segment, slot) -> dst
  for (const SegmentRange& r : m.load_kv)
    for (int64_t k = r.begin; k < r.begin + r.count; ++k)
      kv_loads[{r.segment, at(m.at.load_kv_src, k)}] = at(m.at.load_kv_dst, k);
  for (const SegmentRange& r : m.load_act)
    for (int64_t k = r.begin; k < r.begin + r.count; ++k)
      act_loads[{r.segment, at(m.at.load_act_src, k)}] = at(m.at.load_act_dst, k);
  const int64_t per = b.layout.kv_slots_per_segment;
  for (size_t q = 0; q < m.requests.size(); ++q) {
    const BlockTable& t = b.tables[static_cast<size_t>(first) + q];
    for (int64_t blk = 0; blk < t.blocks(); ++blk) {
      const int32_t w = at(m.at.block_table, static_cast<int64_t>(q) * m.max_blocks + blk);
      EXPECT_TRUE(used.insert(w).second) << "working block " << w << " taken twice";
      EXPECT_GE(w, 0);
      EXPECT_LT(w, m.blocks);
      if (blk * kBt >= cached) continue;
      const std::pair<int64_t, int32_t> key{t.slot(blk) / per,
                                            static_cast<int32_t>(t.slot(blk) % per)};
      if (t.is_act(blk)) {
        ASSERT_TRUE(act_loads.count(key)) << "request " << q << " block " << blk;
        const int32_t j = act_loads[key];
        EXPECT_EQ(w, m.kv_blocks + j);
        for (int64_t row = 0; row < kBt; ++row)
          EXPECT_EQ(at(m.at.rc_pos, j * kBt + row), blk * kBt + row);
      } else {
        ASSERT_TRUE(kv_loads.count(key)) << "request " << q << " block " << blk;
        EXPECT_EQ(kv_loads[key], w);
      }
    }
    const int32_t w = at(m.at.block_table, static_cast<int64_t>(q) * m.max_blocks + cached / kBt);
    EXPECT_EQ(at(m.at.ws_rows, static_cast<int64_t>(q)), w * kBt + cached % kBt);
  }
  EXPECT_EQ(static_cast<int64_t>(kv_loads.size()), m.loaded_kv);
  EXPECT_EQ(static_cast<int64_t>(act_loads.size()), m.loaded_act);
}

// 8 requests of 16-token prompts (4 blocks: slots 4i..4i+3), 8 tokens decoded (blocks 4 and 5:
// slots 32+i and 40+i). Requests 2-5 at 24 cached tokens load 6 blocks each: prompt slots 8-23,
// then 34-37 and 42-45. Loaded blocks in slot order make one run per stretch, 3 (numbered
// request by request they made 12: 4 blocks, 1, 1 for each request).
TEST(MiniBatch, ALoadIsOneRunPerStretchOfSlots) {
  Batch b(8, 16, 8, [](int64_t) { return false; });
  const MiniBatch m = b.step(2, 4, 24);
  EXPECT_EQ(m.loaded_kv, 4 * 6);
  EXPECT_EQ(runs_of(m.load_kv), 3);
  expect_consistent(m, b, 2, 24);
}

// A segment boundary splits a stretch: 10 slots a segment puts prompt slots 8-9, 10-19 and
// 20-23 in segments 0, 1 and 2, and 34-37 and 42-45 in segments 3 and 4.
TEST(MiniBatch, RunsBreakAtSegments) {
  Batch b(
      8, 16, 8, [](int64_t) { return false; }, 10);
  const MiniBatch m = b.step(2, 4, 24);
  EXPECT_EQ(runs_of(m.load_kv), 5);
  expect_consistent(m, b, 2, 24);
}

// Every other block a checkpoint: K/V and checkpoint blocks load in runs of their own, and the
// recompute positions follow the checkpoint blocks' working order.
TEST(MiniBatch, CheckpointBlocksLoadInSlotOrderWithTheirPositions) {
  Batch b(6, 16, 8, [](int64_t blk) { return blk % 2 == 1; });
  const MiniBatch m = b.step(1, 3, 24);
  EXPECT_EQ(m.loaded_kv, 3 * 3);   // blocks 0, 2 and 4 of each
  EXPECT_EQ(m.loaded_act, 3 * 3);  // blocks 1, 3 and 5
  // Either kind: prompt slots 2i and 2i+1 (2-7 for requests 1-3), then block 4 or 5 in slot
  // 12+i (13-15): 2 runs each (6 request by request).
  EXPECT_EQ(runs_of(m.load_kv), 2);
  EXPECT_EQ(runs_of(m.load_act), 2);
  expect_consistent(m, b, 1, 24);
}

}  // namespace
}  // namespace hs

// One mini-batch in one step, as the backend sees it: the tokens it runs and every index array
// its copies and kernels need, concatenated so that one upload per step serves every layer
// (block tables are the same for all layers).
//
// The working K/V blocks of a mini-batch (device, [blocks, block_tokens, kv_dim]) are numbered
// K/V-kind blocks first, then checkpoint-kind blocks, loaded ones before new ones and in the
// order of their cache slots (so a load is a few long runs), new ones request by request: so the
// K/V recomputed from the loaded checkpoints [loaded_act * block_tokens, hidden] land, in one GEMM,
// in working blocks kv_blocks .. kv_blocks + loaded_act - 1, and attention reads every block
// through the block table wherever it sits.
#pragma once

#include <cstdint>
#include <vector>

#include "backend/backend.h"
#include "cache/block_table.h"
#include "cache/cache_layout.h"

namespace hs {

struct MiniBatchRequest {
  int32_t request = 0;              // index in the batch
  const int32_t* tokens = nullptr;  // the tokens this step runs
  int64_t new_tokens = 0;
  int64_t cached = 0;                 // tokens cached before the step (= first position)
  const BlockTable* table = nullptr;  // its cache blocks; nullptr: no cache is kept
};

// Rows of one copy_rows call: entries [begin, begin + count) of an index pair, all in one
// segment of a slot array; and the same entries as runs of consecutive units on both sides
// (Backend::copy_runs, src: the index pair's first array, dst: its second). Loaded blocks are
// numbered in slot order, so a load is as few runs as the slots allow.
struct SegmentRange {
  int64_t segment = 0, begin = 0, count = 0;
  std::vector<CopyRun> runs;
};

struct MiniBatch {
  // requests: in order; block_tokens, layout: the run's cache geometry.
  MiniBatch(const std::vector<MiniBatchRequest>& requests, int64_t block_tokens,
            const CacheLayout& layout, int32_t position_offset);

  std::vector<int32_t> requests;  // batch indices; row r of the logits is requests[r]
  int64_t tokens = 0;             // new tokens: rows of the hidden states
  int64_t max_blocks = 0;         // columns of the block table
  int64_t blocks = 0;             // working K/V blocks
  int64_t kv_blocks = 0;          // working blocks of K/V kind (recomputed ones follow)
  int64_t loaded_kv = 0;          // K/V blocks loaded from the cache
  int64_t loaded_act = 0;         // checkpoint blocks loaded (and recomputed)
  int64_t stored_kv = 0;          // new K/V rows written back
  int64_t stored_act = 0;         // new checkpoint rows written back

  // Offsets (in int32 elements) of each array in `index`.
  struct {
    int64_t ids, pos, pos_rows, seq;     // [tokens]: token, position, OPT position row, request
    int64_t ws_rows;                     // [tokens]: row of the token in the working K/V
    int64_t iota;                        // [max(tokens, requests)]: 0, 1, 2, ...
    int64_t last_rows;                   // [requests]: row of each request's last token
    int64_t block_table;                 // [requests, max_blocks]: working block of each block
    int64_t load_kv_src, load_kv_dst;    // [loaded_kv]: slot in segment, working block
    int64_t load_act_src, load_act_dst;  // [loaded_act]: slot in segment, checkpoint row block
    int64_t rc_pos;                      // [loaded_act * block_tokens]: position of each row
    int64_t store_kv_src, store_kv_dst;  // [stored_kv]: working row, row in segment
    // [stored_act]: token row (of the layer input), row in segment
    int64_t store_act_src, store_act_dst;
  } at;
  std::vector<int32_t> index;
  std::vector<SegmentRange> load_kv, load_act, store_kv, store_act;  // by segment
};

}  // namespace hs

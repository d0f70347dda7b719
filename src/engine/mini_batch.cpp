#include "engine/mini_batch.h"

#include <algorithm>

namespace hs {

namespace {
struct Entry {
  int64_t segment;
  int32_t src, dst;
};

// Appends entries' src then dst arrays to `index`, grouped by segment (stable, so the order
// within a segment is the order of positions), and returns the ranges.
std::vector<SegmentRange> append_by_segment(std::vector<Entry> entries, std::vector<int32_t>& index,
                                            int64_t& src_at, int64_t& dst_at) {
  std::stable_sort(entries.begin(), entries.end(),
                   [](const Entry& a, const Entry& b) { return a.segment < b.segment; });
  std::vector<SegmentRange> ranges;
  for (size_t i = 0; i < entries.size(); ++i) {
    const Entry& e = entries[i];
    if (ranges.empty() || ranges.back().segment != e.segment)
      ranges.push_back({e.segment, static_cast<int64_t>(i), 0, {}});
    SegmentRange& r = ranges.back();
    ++r.count;
    CopyRun* last = r.runs.empty() ? nullptr : &r.runs.back();
    if (last && last->src + last->count == e.src && last->dst + last->count == e.dst)
      ++last->count;
    else
      r.runs.push_back({e.src, e.dst, 1});
  }
  src_at = static_cast<int64_t>(index.size());
  for (const Entry& e : entries) index.push_back(e.src);
  dst_at = static_cast<int64_t>(index.size());
  for (const Entry& e : entries) index.push_back(e.dst);
  return ranges;
}
}  // namespace

MiniBatch::MiniBatch(const std::vector<MiniBatchRequest>& reqs, int64_t bt,
                     const CacheLayout& layout, int32_t position_offset) {
  const int64_t R = static_cast<int64_t>(reqs.size());
  // Pass 1: how many working blocks of each kind, so checkpoint blocks can follow K/V ones.
  std::vector<int64_t> nb(reqs.size());
  for (size_t i = 0; i < reqs.size(); ++i) {
    const MiniBatchRequest& r = reqs[i];
    requests.push_back(r.request);
    tokens += r.new_tokens;
    nb[i] = blocks_for(r.cached + r.new_tokens, bt);
    max_blocks = std::max(max_blocks, nb[i]);
    blocks += nb[i];
    for (int64_t b = 0; b < nb[i]; ++b)
      if (!(r.table && r.table->is_act(b))) ++kv_blocks;
  }

  // Pass 2: working block of every block. Loaded blocks come first, numbered in the order of
  // their slots, so blocks that sit side by side in the cache sit side by side in the working
  // set and a load is a few long runs: a step's requests took their prompt blocks one request
  // after another and take each later block in request order, so numbering request by request
  // would break every run at each request's end (in decode, runs of one 128 KiB block beside
  // runs of one request's prompt). Attention reads every block through the block table, so the
  // numbering is free.
  struct Loaded {
    int32_t slot;
    size_t request;
    int64_t block;
  };
  std::vector<Loaded> kv_loaded, act_loaded;
  for (size_t i = 0; i < reqs.size(); ++i) {
    const MiniBatchRequest& r = reqs[i];
    for (int64_t b = 0; r.table && b < nb[i] && b * bt < r.cached; ++b)
      (r.table->is_act(b) ? act_loaded : kv_loaded).push_back({r.table->slot(b), i, b});
  }
  auto by_slot = [](const Loaded& a, const Loaded& b) { return a.slot < b.slot; };
  std::sort(kv_loaded.begin(), kv_loaded.end(), by_slot);
  std::sort(act_loaded.begin(), act_loaded.end(), by_slot);
  loaded_act = static_cast<int64_t>(act_loaded.size());

  std::vector<int32_t> table(static_cast<size_t>(R * max_blocks), -1);
  auto cell = [&](size_t i, int64_t b) -> int32_t& {
    return table[static_cast<size_t>(static_cast<int64_t>(i) * max_blocks + b)];
  };
  std::vector<Entry> load_kv_e, load_act_e, store_kv_e, store_act_e;
  std::vector<int32_t> rc_pos;
  // Loaded blocks of one kind: working blocks first, first + 1, ... and their load entries
  // (slot in segment -> index among the kind's loaded blocks).
  auto number = [&](const std::vector<Loaded>& loaded, int64_t first, int64_t per_segment,
                    std::vector<Entry>& entries) {
    for (size_t j = 0; j < loaded.size(); ++j) {
      const Loaded& e = loaded[j];
      cell(e.request, e.block) = static_cast<int32_t>(first + static_cast<int64_t>(j));
      entries.push_back({e.slot / per_segment, static_cast<int32_t>(e.slot % per_segment),
                         static_cast<int32_t>(j)});
    }
  };
  number(kv_loaded, 0, layout.kv_slots_per_segment, load_kv_e);
  number(act_loaded, kv_blocks, layout.act_slots_per_segment, load_act_e);
  for (const Loaded& e : act_loaded)
    for (int64_t row = 0; row < bt; ++row)
      rc_pos.push_back(static_cast<int32_t>(e.block * bt + row));
  // New blocks after the loaded ones of their kind, request by request.
  int64_t next_kv = static_cast<int64_t>(kv_loaded.size()), next_new_act = kv_blocks + loaded_act;
  for (size_t i = 0; i < reqs.size(); ++i) {
    const MiniBatchRequest& r = reqs[i];
    for (int64_t b = 0; b < nb[i]; ++b) {
      if (cell(i, b) >= 0) continue;
      const bool act = r.table && r.table->is_act(b);
      cell(i, b) = static_cast<int32_t>(act ? next_new_act++ : next_kv++);
    }
  }
  // Columns past a request's blocks are never read; 0 keeps them in range.
  for (int32_t& w : table) w = std::max(w, 0);
  loaded_kv = static_cast<int64_t>(load_kv_e.size());

  // Per new token: its ids, position, working row, and where its cache row is written back.
  std::vector<int32_t> ids, pos, pos_rows, seq, ws_rows, last_rows;
  int64_t row = 0;
  for (size_t i = 0; i < reqs.size(); ++i) {
    const MiniBatchRequest& r = reqs[i];
    for (int64_t k = 0; k < r.new_tokens; ++k, ++row) {
      const int64_t p = r.cached + k, b = p / bt;
      ids.push_back(r.tokens[k]);
      pos.push_back(static_cast<int32_t>(p));
      pos_rows.push_back(static_cast<int32_t>(p + position_offset));
      seq.push_back(static_cast<int32_t>(i));
      const int32_t w = table[static_cast<size_t>(static_cast<int64_t>(i) * max_blocks + b)];
      ws_rows.push_back(static_cast<int32_t>(w * bt + p % bt));
      if (!r.table) continue;
      const int32_t s = r.table->slot(b);
      if (r.table->is_act(b)) {
        const int64_t per = layout.act_slots_per_segment;
        store_act_e.push_back(
            {s / per, static_cast<int32_t>(row), static_cast<int32_t>((s % per) * bt + p % bt)});
      } else {
        const int64_t per = layout.kv_slots_per_segment;
        store_kv_e.push_back(
            {s / per, ws_rows.back(), static_cast<int32_t>((s % per) * bt + p % bt)});
      }
    }
    last_rows.push_back(static_cast<int32_t>(row - 1));
  }
  stored_kv = static_cast<int64_t>(store_kv_e.size());
  stored_act = static_cast<int64_t>(store_act_e.size());

  auto append = [&](const std::vector<int32_t>& v) {
    const int64_t at_ = static_cast<int64_t>(index.size());
    index.insert(index.end(), v.begin(), v.end());
    return at_;
  };
  std::vector<int32_t> iota(static_cast<size_t>(std::max(tokens, R)));
  for (size_t k = 0; k < iota.size(); ++k) iota[k] = static_cast<int32_t>(k);
  at.ids = append(ids);
  at.pos = append(pos);
  at.pos_rows = append(pos_rows);
  at.seq = append(seq);
  at.ws_rows = append(ws_rows);
  at.iota = append(iota);
  at.last_rows = append(last_rows);
  at.block_table = append(table);
  at.rc_pos = append(rc_pos);
  load_kv = append_by_segment(load_kv_e, index, at.load_kv_src, at.load_kv_dst);
  load_act = append_by_segment(load_act_e, index, at.load_act_src, at.load_act_dst);
  store_kv = append_by_segment(store_kv_e, index, at.store_kv_src, at.store_kv_dst);
  store_act = append_by_segment(store_act_e, index, at.store_act_src, at.store_act_dst);
}

}  // namespace hs

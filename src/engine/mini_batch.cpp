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
    for (int64_t b = 0; b < nb[i]; ++b) {
      const bool act = r.table && r.table->is_act(b);
      if (!act) ++kv_blocks;
      if (act && b * bt < r.cached) ++loaded_act;
    }
  }

  // Pass 2: working block of every block; loads of the blocks holding cached tokens.
  std::vector<int32_t> table(static_cast<size_t>(R * max_blocks), 0);
  std::vector<Entry> load_kv_e, load_act_e, store_kv_e, store_act_e;
  std::vector<int32_t> rc_pos;
  int64_t next_kv = 0, next_loaded_act = 0, next_new_act = kv_blocks + loaded_act;
  for (size_t i = 0; i < reqs.size(); ++i) {
    const MiniBatchRequest& r = reqs[i];
    for (int64_t b = 0; b < nb[i]; ++b) {
      const bool act = r.table && r.table->is_act(b);
      const bool loaded = r.table && b * bt < r.cached;
      int64_t w;
      if (!act) {
        w = next_kv++;
        if (loaded) {
          const int32_t s = r.table->slot(b);
          load_kv_e.push_back({s / layout.kv_slots_per_segment,
                               static_cast<int32_t>(s % layout.kv_slots_per_segment),
                               static_cast<int32_t>(w)});
        }
      } else if (loaded) {
        const int64_t j = next_loaded_act++;
        w = kv_blocks + j;
        const int32_t s = r.table->slot(b);
        load_act_e.push_back({s / layout.act_slots_per_segment,
                              static_cast<int32_t>(s % layout.act_slots_per_segment),
                              static_cast<int32_t>(j)});
        for (int64_t row = 0; row < bt; ++row) rc_pos.push_back(static_cast<int32_t>(b * bt + row));
      } else {
        w = next_new_act++;
      }
      table[static_cast<size_t>(static_cast<int64_t>(i) * max_blocks + b)] =
          static_cast<int32_t>(w);
    }
  }
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

#include "model/bpe.h"

#include <algorithm>
#include <functional>
#include <mutex>
#include <shared_mutex>

#include "model/unicode_utf8.h"

namespace hs {

// Ids of words already encoded. Sized like HF's (10,000 words of fewer than 256 bytes): prompts
// repeat their common words, so most words are found here; long words are rare and not kept.
struct Bpe::WordCache {
  static constexpr size_t kMaxWords = 10000;
  static constexpr size_t kMaxWordBytes = 256;
  std::shared_mutex mutex;
  std::unordered_map<std::string, std::vector<int32_t>> ids_of_word;
};

void Bpe::MergeTable::reserve(size_t entries) {
  // At most half full, so probe sequences stay short.
  size_t slots = 2;
  shift_ = 63;
  while (slots < entries * 2) {
    slots *= 2;
    --shift_;
  }
  keys_.assign(slots, kEmpty);
  merges_.assign(slots, Merge{0, 0});
}

void Bpe::MergeTable::insert_or_assign(uint64_t key, Merge merge) {
  const size_t mask = keys_.size() - 1;
  for (size_t i = slot(key);; i = (i + 1) & mask) {
    if (keys_[i] == kEmpty || keys_[i] == key) {
      keys_[i] = key;
      merges_[i] = merge;
      return;
    }
  }
}

const Bpe::Merge* Bpe::MergeTable::find(uint64_t key) const {
  const size_t mask = keys_.size() - 1;
  for (size_t i = slot(key);; i = (i + 1) & mask) {
    if (keys_[i] == key) return &merges_[i];
    if (keys_[i] == kEmpty) return nullptr;
  }
}

Bpe Bpe::from_json(const JsonNode& model) {
  if (const auto type = model.find("type")) {
    const std::string name = type->as_string();
    if (name != "BPE") model.fail("model type '", name, "' is not supported (only BPE is)");
  }
  if (const auto dropout = model.find("dropout")) {
    if (dropout->as_number() != 0.0)
      dropout->fail("BPE dropout ", dropout->as_number(),
                    " is not supported (it makes token ids random)");
  }
  if (model.bool_or("byte_fallback", false))
    model.at("byte_fallback").fail("byte_fallback true is not supported");
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    if (const auto v = model.find(key)) {
      if (!v->as_string().empty())
        v->fail("non-empty ", key, " '", v->as_string(), "' is not supported");
    }
  }

  Bpe bpe;
  bpe.cache_ = std::make_shared<WordCache>();
  bpe.fuse_unk_ = model.bool_or("fuse_unk", false);
  bpe.ignore_merges_ = model.bool_or("ignore_merges", false);

  const JsonNode vocab = model.at("vocab");
  if (!vocab.is_object()) vocab.fail("expected an object mapping tokens to ids");
  bpe.vocab_.reserve(vocab.json().size());
  for (const auto& [token, id_json] : vocab.json().items()) {
    const int32_t id =
        JsonNode(id_json, vocab.file(), cat(vocab.path(), "[\"", token, "\"]")).as_id();
    // Ids name a dense table: one far past the entries would size it by the id (GBs).
    if (static_cast<size_t>(id) >= vocab.json().size() + 65536)
      vocab.fail("id ", id, " of '", token, "' is far beyond the vocabulary's ",
                 vocab.json().size(), " entries");
    if (static_cast<size_t>(id) >= bpe.tokens_.size()) {
      bpe.tokens_.resize(static_cast<size_t>(id) + 1);
      bpe.has_token_.resize(static_cast<size_t>(id) + 1, false);
    }
    if (bpe.has_token_[id])
      vocab.fail("id ", id, " is given to both '", bpe.tokens_[id], "' and '", token, "'");
    bpe.tokens_[id] = token;
    bpe.has_token_[id] = true;
    bpe.vocab_.emplace(token, id);
  }

  // Every character of the byte-level alphabet is below U+0144, so this table serves all
  // lookups of single characters in byte-level words.
  bpe.small_char_ids_.assign(0x800, -1);
  for (char32_t cp = 0; cp < bpe.small_char_ids_.size(); ++cp) {
    std::string ch;
    utf8::append(ch, cp);
    if (const auto it = bpe.vocab_.find(ch); it != bpe.vocab_.end())
      bpe.small_char_ids_[cp] = it->second;
  }

  if (const auto unk = model.find("unk_token")) {
    const std::string name = unk->as_string();
    const auto it = bpe.vocab_.find(name);
    if (it == bpe.vocab_.end()) unk->fail("unk_token '", name, "' is not in model.vocab");
    bpe.unk_id_ = it->second;
  }

  const JsonNode merges = model.at("merges");
  const size_t n_merges = merges.array_size();
  bpe.merges_.reserve(n_merges);
  struct ParsedMerge {
    int32_t left, right, merged;
  };
  std::vector<ParsedMerge> parsed;
  parsed.reserve(n_merges);
  for (size_t i = 0; i < n_merges; ++i) {
    const JsonNode m = merges.at(i);
    std::string left, right;
    if (m.is_string()) {
      // The older "left right" form: tokens never contain a space in byte-level vocabularies.
      const std::string line = m.as_string();
      const size_t space = line.find(' ');
      if (space == std::string::npos || line.find(' ', space + 1) != std::string::npos)
        m.fail("expected two tokens separated by one space, found '", line, "'");
      left = line.substr(0, space);
      right = line.substr(space + 1);
    } else if (m.is_array()) {
      if (m.array_size() != 2) m.fail("expected a pair of tokens, found ", m.array_size());
      left = m.at(0).as_string();
      right = m.at(1).as_string();
    } else {
      m.fail("expected \"left right\" or [\"left\", \"right\"]");
    }
    const auto l = bpe.vocab_.find(left), r = bpe.vocab_.find(right);
    if (l == bpe.vocab_.end()) m.fail("merge token '", left, "' is not in model.vocab");
    if (r == bpe.vocab_.end()) m.fail("merge token '", right, "' is not in model.vocab");
    const auto merged = bpe.vocab_.find(left + right);
    if (merged == bpe.vocab_.end())
      m.fail("merged token '", left + right, "' is not in model.vocab");
    // A pair listed twice keeps its last rank, as HF's HashMap collect does.
    bpe.merges_.insert_or_assign(pair_key(l->second, r->second),
                                 Merge{static_cast<uint32_t>(i), merged->second});
    parsed.push_back({l->second, r->second, merged->second});
  }
  bpe.n_ranks_ = n_merges;

  // made_at[id]: the highest rank of a merge that makes token id (-1: no merge makes it).
  std::vector<int64_t> made_at(bpe.tokens_.size(), -1);
  const auto effective = [&](size_t rank) {
    const ParsedMerge& p = parsed[rank];
    return bpe.merges_.find(pair_key(p.left, p.right))->rank == rank;
  };
  for (size_t rank = 0; rank < n_merges; ++rank)
    if (effective(rank)) made_at[parsed[rank].merged] = static_cast<int64_t>(rank);
  bpe.monotone_ranks_ = true;
  for (size_t rank = 0; rank < n_merges && bpe.monotone_ranks_; ++rank) {
    const ParsedMerge& p = parsed[rank];
    if (effective(rank) && (made_at[p.left] >= static_cast<int64_t>(rank) ||
                            made_at[p.right] >= static_cast<int64_t>(rank)))
      bpe.monotone_ranks_ = false;
  }
  return bpe;
}

int32_t Bpe::char_id(std::string_view ch) const {
  if (ch.size() <= 2) {
    const size_t cp = ch.size() == 1 ? static_cast<unsigned char>(ch[0])
                                     : ((static_cast<unsigned char>(ch[0]) & 0x1F) << 6) |
                                           (static_cast<unsigned char>(ch[1]) & 0x3F);
    if (cp < small_char_ids_.size()) return small_char_ids_[cp];
  }
  const auto it = vocab_.find(std::string(ch));
  return it == vocab_.end() ? -1 : it->second;
}

std::optional<int32_t> Bpe::token_id(std::string_view token) const {
  const auto it = vocab_.find(std::string(token));
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

const std::string* Bpe::token(int32_t id) const {
  if (id < 0 || static_cast<size_t>(id) >= tokens_.size() || !has_token_[id]) return nullptr;
  return &tokens_[id];
}

void Bpe::encode(std::string_view word, std::vector<int32_t>& ids) const {
  if (word.empty()) return;
  if (ignore_merges_) {
    if (const auto id = token_id(word)) {
      ids.push_back(*id);
      return;
    }
  }
  const bool cacheable = word.size() < WordCache::kMaxWordBytes;
  if (cacheable) {
    std::shared_lock lock(cache_->mutex);
    const auto it = cache_->ids_of_word.find(std::string(word));
    if (it != cache_->ids_of_word.end()) {
      ids.insert(ids.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  std::vector<int32_t> word_ids = merge_word(word);
  ids.insert(ids.end(), word_ids.begin(), word_ids.end());
  if (cacheable) {
    std::unique_lock lock(cache_->mutex);
    if (cache_->ids_of_word.size() < WordCache::kMaxWords)
      cache_->ids_of_word.emplace(std::string(word), std::move(word_ids));
  }
}

std::vector<int32_t> Bpe::merge_word(std::string_view word) const {
  std::vector<Symbol> symbols;
  symbols.reserve(word.size());

  // Characters missing from the vocabulary become unk_token (consecutive ones fused into one
  // when fuse_unk); without an unk_token HF silently drops them, which would lose prompt text,
  // so that is an error here.
  bool pending_unk = false;
  const auto push = [&](int32_t id) {
    const int32_t index = static_cast<int32_t>(symbols.size());
    symbols.push_back({id, index - 1, index + 1, kNoMerge, -1});
  };
  const auto flush_unk = [&] {
    if (pending_unk) push(*unk_id_);
    pending_unk = false;
  };
  for (size_t i = 0; i < word.size();) {
    const size_t n =
        std::min(utf8::char_bytes(static_cast<unsigned char>(word[i])), word.size() - i);
    const std::string_view ch = word.substr(i, n);
    const int32_t id = char_id(ch);
    if (id >= 0) {
      flush_unk();
      push(id);
    } else if (unk_id_) {
      if (!fuse_unk_) flush_unk();
      pending_unk = true;
    } else {
      fail("character '", ch, "' is not in the BPE vocabulary and the model has no unk_token");
    }
    i += n;
  }
  flush_unk();
  if (symbols.empty()) return {};
  symbols.back().next = -1;
  for (int32_t i = 0; i < static_cast<int32_t>(symbols.size()); ++i) update_pair(symbols, i);

  // Rank buckets cost a pass over all ranks, so they are for words with many symbols. On a
  // 1 MiB word of English words run together (2000 merges) they take 0.12 s of CPU where the
  // heap takes 0.30 s; short words stay on the heap.
  constexpr size_t kBucketMinSymbols = 4096;
  if (monotone_ranks_ && symbols.size() >= kBucketMinSymbols && symbols.size() * 4 >= n_ranks_) {
    merge_with_rank_buckets(symbols);
  } else {
    merge_with_heap(symbols);
  }

  std::vector<int32_t> ids;
  for (int32_t i = 0; i >= 0; i = symbols[i].next) ids.push_back(symbols[i].id);
  return ids;
}

void Bpe::update_pair(std::vector<Symbol>& symbols, int32_t pos) const {
  Symbol& s = symbols[pos];
  const Merge* m = s.next < 0 ? nullptr : merges_.find(pair_key(s.id, symbols[s.next].id));
  s.rank_with_next = m ? m->rank : kNoMerge;
  s.id_with_next = m ? m->new_id : -1;
}

template <typename OnNewPair>
void Bpe::merge_at(std::vector<Symbol>& symbols, int32_t pos, OnNewPair&& on_new_pair) const {
  Symbol& left = symbols[pos];
  Symbol& right = symbols[left.next];
  left.id = left.id_with_next;
  left.next = right.next;
  right.id = -1;
  if (left.next >= 0) symbols[left.next].prev = pos;
  if (left.prev >= 0) {
    update_pair(symbols, left.prev);
    if (symbols[left.prev].rank_with_next != kNoMerge) on_new_pair(left.prev);
  }
  update_pair(symbols, pos);
  if (left.rank_with_next != kNoMerge) on_new_pair(pos);
}

void Bpe::merge_with_heap(std::vector<Symbol>& symbols) const {
  // Candidates as (rank << 32 | position): the smallest is the lowest rank, leftmost first,
  // HF's Merge ordering. Entries go stale when a neighbour merges first; a popped entry is
  // applied only if the pair now at its position is still the pair of that rank. (HF checks
  // that the merged token is the same; for a pair at one position the two checks agree, since
  // a changed pair always concatenates to a different string.)
  const auto candidate = [](uint32_t rank, int32_t pos) {
    return (static_cast<uint64_t>(rank) << 32) | static_cast<uint32_t>(pos);
  };
  std::vector<uint64_t> heap;
  heap.reserve(symbols.size() * 2);
  for (int32_t i = 0; i < static_cast<int32_t>(symbols.size()); ++i)
    if (symbols[i].rank_with_next != kNoMerge)
      heap.push_back(candidate(symbols[i].rank_with_next, i));
  const std::greater<uint64_t> later;               // makes the std heap a min-heap
  std::make_heap(heap.begin(), heap.end(), later);  // O(n), not n pushes

  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), later);
    const uint64_t top = heap.back();
    heap.pop_back();
    const int32_t pos = static_cast<int32_t>(top & 0xFFFFFFFFu);
    const Symbol& s = symbols[pos];
    if (s.id < 0 || s.rank_with_next != static_cast<uint32_t>(top >> 32)) continue;
    merge_at(symbols, pos, [&](int32_t p) {
      heap.push_back(candidate(symbols[p].rank_with_next, p));
      std::push_heap(heap.begin(), heap.end(), later);
    });
  }
}

void Bpe::merge_with_rank_buckets(std::vector<Symbol>& symbols) const {
  // With monotone ranks, merging at rank r only creates candidates of rank > r, so walking the
  // ranks upwards once, each bucket sorted by position, applies the merges in exactly the
  // heap's order. A vector per rank keeps each bucket contiguous: reading it is sequential,
  // where a heap (or linked buckets) costs a cache miss per candidate on a million symbols.
  std::vector<std::vector<int32_t>> buckets(n_ranks_);
  const auto add = [&](int32_t pos) { buckets[symbols[pos].rank_with_next].push_back(pos); };
  for (int32_t i = 0; i < static_cast<int32_t>(symbols.size()); ++i)
    if (symbols[i].rank_with_next != kNoMerge) add(i);

  for (size_t rank = 0; rank < n_ranks_; ++rank) {
    std::vector<int32_t>& positions = buckets[rank];
    if (positions.empty()) continue;
    std::sort(positions.begin(), positions.end());
    for (const int32_t pos : positions) {
      const Symbol& s = symbols[pos];
      if (s.id < 0 || s.rank_with_next != rank) continue;
      merge_at(symbols, pos, add);
    }
    std::vector<int32_t>().swap(positions);  // done with this rank: give the memory back
  }
}

}  // namespace hs

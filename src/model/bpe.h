// The BPE model of tokenizer.json: a vocabulary, merges ranked by their position in the file,
// and the merge loop that turns one pre-tokenized word into token ids exactly as HF
// `tokenizers` does (models/bpe/word.rs): repeatedly apply the lowest-ranked merge present,
// leftmost first. Symbols sit in a linked list and candidate merges in a priority queue (or,
// for long words, in one bucket per rank), so one huge word costs O(n log n), not O(n^2).
#pragma once

#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "model/tokenizer_json.h"

namespace hs {

class Bpe {
 public:
  // `model` is tokenizer.json's "model" object. Refuses options it does not implement
  // (dropout, byte_fallback, subword prefixes/suffixes) naming them.
  static Bpe from_json(const JsonNode& model);

  // Appends the ids of one word (a pre-tokenizer piece, not empty). Thread-safe.
  void encode(std::string_view word, std::vector<int32_t>& ids) const;

  std::optional<int32_t> token_id(std::string_view token) const;
  // The token of `id`, or nullptr where the vocabulary has no such id.
  const std::string* token(int32_t id) const;
  // One more than the largest id in the vocabulary.
  int32_t id_limit() const { return static_cast<int32_t>(tokens_.size()); }
  // Number of entries of model.vocab (what HF's added tokens are numbered after).
  int32_t vocab_entries() const { return static_cast<int32_t>(vocab_.size()); }

 private:
  struct Merge {
    uint32_t rank;   // position in model.merges: lower merges first
    int32_t new_id;  // id of the concatenated token
  };
  struct WordCache;
  // Open-addressing hash table from a pair of ids to its merge: the merge loop's hot lookup,
  // one probe sequence in one flat array instead of a node per entry.
  class MergeTable {
   public:
    void reserve(size_t entries);
    void insert_or_assign(uint64_t key, Merge merge);
    const Merge* find(uint64_t key) const;

   private:
    static constexpr uint64_t kEmpty = ~uint64_t{0};  // never a key: ids are below 2^31
    size_t slot(uint64_t key) const {
      return static_cast<size_t>((key * 0x9E3779B97F4A7C15ull) >> shift_);
    }
    std::vector<uint64_t> keys_;
    std::vector<Merge> merges_;
    unsigned shift_ = 63;
  };

  // One character (or merged run) of a word being encoded, in a linked list over the word.
  struct Symbol {
    int32_t id;               // -1 once merged into its left neighbour
    int32_t prev, next;       // live neighbours; -1 at the ends
    uint32_t rank_with_next;  // rank of the merge of this symbol and the next (kNoMerge: none)
    int32_t id_with_next;     // the token that merge makes
  };
  static constexpr uint32_t kNoMerge = std::numeric_limits<uint32_t>::max();

  std::vector<int32_t> merge_word(std::string_view word) const;
  // Refreshes symbols[pos]'s cached merge with its right neighbour.
  void update_pair(std::vector<Symbol>& symbols, int32_t pos) const;
  // Merges symbols[pos] with its right neighbour, refreshes the two pairs that changed and
  // calls on_new_pair(position) for each of them that has a merge.
  template <typename OnNewPair>
  void merge_at(std::vector<Symbol>& symbols, int32_t pos, OnNewPair&& on_new_pair) const;
  // Two ways to apply the merges in HF's order (lowest rank first, leftmost among equal ranks);
  // both give the same result. The heap works for any merge list; the rank buckets need ranks
  // that only grow as merging goes on (monotone_ranks_) and pay off on long words.
  void merge_with_heap(std::vector<Symbol>& symbols) const;
  void merge_with_rank_buckets(std::vector<Symbol>& symbols) const;
  // Id of a one-character token, or -1.
  int32_t char_id(std::string_view ch) const;
  static uint64_t pair_key(int32_t left, int32_t right) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) |
           static_cast<uint32_t>(right);
  }

  std::unordered_map<std::string, int32_t> vocab_;
  std::vector<std::string> tokens_;  // id -> token
  std::vector<bool> has_token_;      // id -> whether the vocabulary defines it
  MergeTable merges_;
  std::vector<int32_t> small_char_ids_;  // code point (< U+0800) -> id of that one-char token
  size_t n_ranks_ = 0;                   // entries of model.merges
  // Whether every merge's two tokens are made only by lower-ranked merges (or are not made by
  // merges at all). Then a merge only creates pairs of higher rank, so the ranks applied to a
  // word never go down: true of every trained merge list, checked at load for this one.
  bool monotone_ranks_ = false;
  std::optional<int32_t> unk_id_;
  bool fuse_unk_ = false;
  // A word that is itself a token is emitted as is, without merges (LLaMA-3 sets this).
  bool ignore_merges_ = false;
  std::shared_ptr<WordCache> cache_;  // a pointer: the cache holds a mutex, Bpe stays movable
};

}  // namespace hs

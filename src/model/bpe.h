// The BPE model of tokenizer.json: a vocabulary, merges ranked by their position in the file,
// and the merge loop that turns one pre-tokenized word into token ids exactly as HF
// `tokenizers` does (models/bpe/word.rs): repeatedly apply the lowest-ranked merge present,
// leftmost first, using a priority queue over a linked list of symbols so one huge word costs
// O(n log n), not O(n^2).
#pragma once

#include <cstdint>
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

  std::vector<int32_t> merge_word(std::string_view word) const;
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
  std::optional<int32_t> unk_id_;
  bool fuse_unk_ = false;
  // A word that is itself a token is emitted as is, without merges (LLaMA-3 sets this).
  bool ignore_merges_ = false;
  std::shared_ptr<WordCache> cache_;  // a pointer: the cache holds a mutex, Bpe stays movable
};

}  // namespace hs

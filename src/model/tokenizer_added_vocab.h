// The added_tokens of tokenizer.json (special tokens such as "</s>" or "<|begin_of_text|>", and
// any tokens added after training). They are found in the raw text before pre-tokenization,
// leftmost first and longest at a position (HF's aho-corasick LeftmostLongest), and honour the
// single_word / lstrip / rstrip / normalized options as HF's added_vocabulary.rs does.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "model/bpe.h"
#include "model/tokenizer_json.h"
#include "model/unicode_regex.h"

namespace hs {

struct AddedToken {
  int32_t id = 0;
  std::string content;
  bool single_word = false;  // only where no word character touches it on either side
  bool lstrip = false;       // swallows the whitespace on its left
  bool rstrip = false;       // swallows the whitespace on its right
  bool normalized = false;   // matched in normalized text (after the other tokens)
  bool special = false;      // dropped by decode(skip_special_tokens=true)
};

class AddedVocab {
 public:
  // `node` is tokenizer.json's "added_tokens" array (may be absent: pass nullopt). Ids are
  // checked against the ones HF would assign when it loads the file (a token already in the
  // model vocabulary keeps that id, new ones are numbered after it); a file whose ids disagree
  // is ambiguous and refused.
  static AddedVocab from_json(const std::optional<JsonNode>& node, const Bpe& model);

  // One stretch of text: an added token (id set) or text to pre-tokenize (id empty).
  struct Piece {
    std::string_view text;
    std::optional<int32_t> id;
  };
  // Splits `text` around the added tokens: first the non-normalized tokens in the raw text, then
  // the normalized ones in what is left (there is no normalizer, so normalized text is the raw
  // text). Empty text pieces are left out.
  std::vector<Piece> split(std::string_view text) const;

  const AddedToken* find_id(int32_t id) const;
  std::optional<int32_t> token_id(std::string_view content) const;
  bool is_special(std::string_view content) const;
  // One more than the largest added id (0 if none).
  int32_t id_limit() const;

 private:
  // A byte trie over token contents; `token` is the index in tokens_ of the token ending at a
  // node, or -1.
  struct Trie {
    struct Node {
      std::unordered_map<unsigned char, int32_t> children;
      int32_t token = -1;
    };
    std::vector<Node> nodes{Node{}};
    bool first_byte[256] = {};
    void insert(std::string_view content, int32_t token);
    // Index of the longest token starting at text[pos] and its length, or -1.
    int32_t longest_at(std::string_view text, size_t pos, size_t& length) const;
  };

  void find_in(const Trie& trie, std::string_view text, std::vector<Piece>& out) const;
  bool ends_with_word_char(std::string_view text) const;
  bool starts_with_word_char(std::string_view text) const;
  size_t leading_space_bytes(std::string_view text) const;
  size_t trailing_space_start(std::string_view text) const;

  std::vector<AddedToken> tokens_;
  std::unordered_map<std::string, size_t> index_of_content_;
  std::unordered_map<int32_t, size_t> index_of_id_;
  std::unordered_set<std::string> special_contents_;
  Trie raw_trie_, normalized_trie_;
  // HF tests these with Rust regex classes: \w is Alphabetic, M, Pc, Nd and Join_Control; \s is
  // White_Space.
  UnicodeRegex word_char_{"[\\p{Alphabetic}\\p{M}\\p{Pc}\\p{Nd}\\p{Join_Control}]",
                          "added-token word character class"};
  UnicodeRegex white_space_{"\\p{White_Space}", "added-token white space class"};
};

}  // namespace hs

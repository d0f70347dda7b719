#include "model/tokenizer_added_vocab.h"

#include <algorithm>

#include "model/unicode_utf8.h"

namespace hs {

void AddedVocab::Trie::insert(std::string_view content, int32_t token) {
  int32_t node = 0;
  for (const char c : content) {
    const unsigned char b = static_cast<unsigned char>(c);
    const auto it = nodes[node].children.find(b);
    if (it != nodes[node].children.end()) {
      node = it->second;
    } else {
      nodes.emplace_back();
      const int32_t child = static_cast<int32_t>(nodes.size()) - 1;
      nodes[node].children.emplace(b, child);
      node = child;
    }
  }
  nodes[node].token = token;
  first_byte[static_cast<unsigned char>(content.front())] = true;
}

int32_t AddedVocab::Trie::longest_at(std::string_view text, size_t pos, size_t& length) const {
  if (!first_byte[static_cast<unsigned char>(text[pos])]) return -1;
  int32_t node = 0, best = -1;
  for (size_t i = pos; i < text.size(); ++i) {
    const auto it = nodes[node].children.find(static_cast<unsigned char>(text[i]));
    if (it == nodes[node].children.end()) break;
    node = it->second;
    if (nodes[node].token >= 0) {
      best = nodes[node].token;
      length = i + 1 - pos;
    }
  }
  return best;
}

AddedVocab AddedVocab::from_json(const std::optional<JsonNode>& node, const Bpe& model) {
  AddedVocab v;
  if (!node) return v;
  std::optional<int32_t> max_added_id;
  for (size_t i = 0; i < node->array_size(); ++i) {
    const JsonNode t = node->at(i);
    AddedToken token;
    token.id = t.at("id").as_id();
    token.content = t.at("content").as_string();
    token.single_word = t.bool_or("single_word", false);
    token.lstrip = t.bool_or("lstrip", false);
    token.rstrip = t.bool_or("rstrip", false);
    token.special = t.bool_or("special", false);
    token.normalized = t.bool_or("normalized", !token.special);
    if (token.content.empty()) t.fail("added token content is empty");
    if (v.index_of_content_.count(token.content))
      t.fail("added token '", token.content, "' is listed twice");

    // The id HF gives the token when it loads the file (AddedVocabulary::add_tokens).
    int32_t hf_id = 0;
    if (const auto in_model = model.token_id(token.content)) {
      hf_id = *in_model;
    } else if (!max_added_id) {
      hf_id = model.vocab_entries();
    } else {
      hf_id = (*max_added_id >= model.vocab_entries() || model.vocab_entries() == 0)
                  ? *max_added_id + 1
                  : model.vocab_entries();
    }
    if (hf_id != token.id)
      t.fail("added token '", token.content, "' has id ", token.id,
             " but HF tokenizers gives it id ", hf_id,
             " when loading this file; refusing the ambiguous vocabulary");
    if (v.index_of_id_.count(token.id)) t.fail("id ", token.id, " is given to two added tokens");
    max_added_id = std::max(max_added_id.value_or(token.id), token.id);

    const size_t index = v.tokens_.size();
    v.index_of_content_.emplace(token.content, index);
    v.index_of_id_.emplace(token.id, index);
    if (token.special) v.special_contents_.insert(token.content);
    (token.normalized ? v.normalized_trie_ : v.raw_trie_)
        .insert(token.content, static_cast<int32_t>(index));
    v.tokens_.push_back(std::move(token));
  }
  return v;
}

const AddedToken* AddedVocab::find_id(int32_t id) const {
  const auto it = index_of_id_.find(id);
  return it == index_of_id_.end() ? nullptr : &tokens_[it->second];
}

std::optional<int32_t> AddedVocab::token_id(std::string_view content) const {
  const auto it = index_of_content_.find(std::string(content));
  if (it == index_of_content_.end()) return std::nullopt;
  return tokens_[it->second].id;
}

bool AddedVocab::is_special(std::string_view content) const {
  return special_contents_.count(std::string(content)) > 0;
}

int32_t AddedVocab::id_limit() const {
  int32_t limit = 0;
  for (const AddedToken& t : tokens_) limit = std::max(limit, t.id + 1);
  return limit;
}

std::vector<AddedVocab::Piece> AddedVocab::split(std::string_view text) const {
  std::vector<Piece> first, out;
  find_in(raw_trie_, text, first);
  for (const Piece& p : first) {
    if (p.id) {
      out.push_back(p);
    } else {
      find_in(normalized_trie_, p.text, out);
    }
  }
  return out;
}

// HF's AddedVocabulary::find_matches, followed by dropping empty pieces.
void AddedVocab::find_in(const Trie& trie, std::string_view text, std::vector<Piece>& out) const {
  const auto push_text = [&](size_t begin, size_t end) {
    if (begin < end) out.push_back({text.substr(begin, end - begin), std::nullopt});
  };
  if (trie.nodes.size() == 1) {  // no tokens of this kind
    push_text(0, text.size());
    return;
  }
  size_t start_offset = 0;  // end of the previous accepted token
  size_t pos = 0;           // where the search for the next match resumes
  while (pos < text.size()) {
    size_t length = 0;
    const int32_t index = trie.longest_at(text, pos, length);
    if (index < 0) {
      ++pos;
      continue;
    }
    const AddedToken& token = tokens_[index];
    size_t start = pos, stop = pos + length;
    pos = stop;  // matches never overlap, accepted or not
    if (token.single_word) {
      const bool space_before = start == 0 || !ends_with_word_char(text.substr(0, start));
      const bool space_after = stop == text.size() || !starts_with_word_char(text.substr(stop));
      if (!space_before || !space_after) continue;
    }
    if (token.lstrip) start = std::max(trailing_space_start(text.substr(0, start)), start_offset);
    if (token.rstrip) stop += leading_space_bytes(text.substr(stop));
    push_text(start_offset, start);
    out.push_back({text.substr(start, stop - start), token.id});
    start_offset = stop;
  }
  push_text(start_offset, text.size());
}

bool AddedVocab::ends_with_word_char(std::string_view text) const {
  if (text.empty()) return false;
  size_t last = text.size() - 1;
  while (last > 0 && (static_cast<unsigned char>(text[last]) & 0xC0) == 0x80) --last;
  return word_char_.matches_at(text, last);
}

bool AddedVocab::starts_with_word_char(std::string_view text) const {
  return !text.empty() && word_char_.matches_at(text, 0);
}

size_t AddedVocab::leading_space_bytes(std::string_view text) const {
  size_t i = 0;
  while (i < text.size() && white_space_.matches_at(text, i))
    i += utf8::char_bytes(static_cast<unsigned char>(text[i]));
  return i;
}

size_t AddedVocab::trailing_space_start(std::string_view text) const {
  size_t start = text.size();
  while (start > 0) {
    size_t prev = start - 1;
    while (prev > 0 && (static_cast<unsigned char>(text[prev]) & 0xC0) == 0x80) --prev;
    if (!white_space_.matches_at(text, prev)) break;
    start = prev;
  }
  return start;
}

}  // namespace hs

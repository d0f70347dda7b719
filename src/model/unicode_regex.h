// A Unicode regular expression compiled with PCRE2 (UTF + UCP mode): the splitting patterns of
// tokenizer.json (GPT-2's, LLaMA-3's, Split pre-tokenizers) and the character classes HF's
// added-token options test. The Unicode tables are PCRE2's; none are kept here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hs {

class UnicodeRegex {
 public:
  // A pattern in PCRE2 syntax. `what` names where it came from, for errors.
  UnicodeRegex(std::string_view pattern, const std::string& what);

  // A pattern written for Oniguruma, which HF `tokenizers` compiles its regexes with, rewritten
  // where the dialects differ: ^ and $ are line anchors, (?m) is PCRE2's (?s), \s is exactly
  // White_Space (PCRE2's also matches U+180E), \uHHHH is \x{HHHH}. What cannot be rewritten
  // exactly (\w \b \h \R \X ..., POSIX brackets, nested classes) is refused.
  static UnicodeRegex from_oniguruma(std::string_view pattern, const std::string& what);
  // A pattern that matches `text` literally.
  static UnicodeRegex literal(std::string_view text, const std::string& what);

  // Byte ranges [begin, end) of the successive non-overlapping matches in `text` (valid UTF-8),
  // enumerated as the Rust `onig` crate does: after an empty match the search resumes one
  // character later, and an empty match right where the previous match ended is skipped.
  std::vector<std::pair<size_t, size_t>> find_all(std::string_view text) const;

  // Whether the pattern matches starting exactly at byte `offset` of `text`.
  bool matches_at(std::string_view text, size_t offset) const;

 private:
  UnicodeRegex(std::string_view pattern, const std::string& what, uint32_t extra_options);

  struct Compiled;
  // Shared: compiled PCRE2 code is immutable and may be used by several threads at once.
  std::shared_ptr<const Compiled> compiled_;
  std::string what_;
};

}  // namespace hs

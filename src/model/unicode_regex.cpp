#include "model/unicode_regex.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <cctype>

#include "model/unicode_utf8.h"
#include "util/error.h"

namespace hs {

struct UnicodeRegex::Compiled {
  pcre2_code* code = nullptr;
  ~Compiled() { pcre2_code_free(code); }
};

namespace {

std::string pcre2_message(int error_code) {
  PCRE2_UCHAR buffer[256];
  if (pcre2_get_error_message(error_code, buffer, sizeof buffer) < 0) return "unknown PCRE2 error";
  return reinterpret_cast<const char*>(buffer);
}

// Per-thread match state: match data with room for the whole-match pair, and a JIT stack big
// enough for long subjects (a 1 MB pre-token must not fail on PCRE2's 32 KiB default).
struct MatchScratch {
  pcre2_match_data* data = pcre2_match_data_create(1, nullptr);
  pcre2_match_context* context = pcre2_match_context_create(nullptr);
  pcre2_jit_stack* jit_stack = pcre2_jit_stack_create(32 * 1024, 8 * 1024 * 1024, nullptr);
  MatchScratch() {
    if (!data || !context || !jit_stack) throw std::bad_alloc();
    pcre2_jit_stack_assign(context, nullptr, jit_stack);
  }
  ~MatchScratch() {
    pcre2_jit_stack_free(jit_stack);
    pcre2_match_context_free(context);
    pcre2_match_data_free(data);
  }
};

MatchScratch& scratch() {
  thread_local MatchScratch s;
  return s;
}

// Searches from `start`; returns false on no match, throws on PCRE2 failures (match limits).
bool search(const pcre2_code* code, std::string_view text, size_t start, uint32_t options,
            size_t& begin, size_t& end, const std::string& what) {
  MatchScratch& s = scratch();
  const int rc = pcre2_match(code, reinterpret_cast<PCRE2_SPTR>(text.data()), text.size(), start,
                             options | PCRE2_NO_UTF_CHECK, s.data, s.context);
  if (rc == PCRE2_ERROR_NOMATCH) return false;
  if (rc < 0) fail(what, ": regex match failed at byte ", start, ": ", pcre2_message(rc));
  const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(s.data);
  begin = ovector[0];
  end = ovector[1];
  return true;
}

bool is_hex(char c) {
  return std::isxdigit(static_cast<unsigned char>(c)) != 0;
}

bool one_of(char c, std::string_view set) {
  return set.find(c) != std::string_view::npos;
}

}  // namespace

UnicodeRegex::UnicodeRegex(std::string_view pattern, const std::string& what)
    : UnicodeRegex(pattern, what, 0) {}

UnicodeRegex::UnicodeRegex(std::string_view pattern, const std::string& what,
                           uint32_t extra_options)
    : what_(what) {
  int error_code = 0;
  PCRE2_SIZE error_offset = 0;
  auto compiled = std::make_shared<Compiled>();
  compiled->code =
      pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                    PCRE2_UTF | PCRE2_UCP | extra_options, &error_code, &error_offset, nullptr);
  if (!compiled->code)
    fail(what, ": regex does not compile at offset ", error_offset, ": ",
         pcre2_message(error_code));
  // JIT makes matching several times faster; where it is unavailable, the interpreter is exact
  // too, so a JIT failure is not an error.
  pcre2_jit_compile(compiled->code, PCRE2_JIT_COMPLETE);
  compiled_ = std::move(compiled);
}

UnicodeRegex UnicodeRegex::from_oniguruma(std::string_view pattern, const std::string& what) {
  // Oniguruma's default (Ruby) syntax, as HF compiles it, next to PCRE2's:
  //   ^ and $ are line anchors: PCRE2_MULTILINE;
  //   (?m) lets . match a newline: PCRE2's (?s);
  //   \s is White_Space exactly (PCRE2's also takes U+180E); \uHHHH is \x{HHHH};
  //   POSIX brackets, nested classes and \w \b \h ... mean other things: refused.
  const auto refuse = [&](const auto&... why) {
    fail(what, ": ", why...,
         " (Oniguruma, which HF compiles tokenizer regexes with, and PCRE2 "
         "read it differently)");
  };
  std::string out;
  out.reserve(pattern.size() + 32);
  bool in_class = false;
  for (size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    if (c == '\\' && i + 1 < pattern.size()) {
      const char e = pattern[++i];
      if (e == 's') {
        out += "\\p{White_Space}";
      } else if (e == 'S') {
        out += "\\P{White_Space}";
      } else if (e == 'u') {
        if (!(i + 4 < pattern.size() && is_hex(pattern[i + 1]) && is_hex(pattern[i + 2]) &&
              is_hex(pattern[i + 3]) && is_hex(pattern[i + 4])))
          fail(what, ": regex escape \\u must be followed by 4 hex digits");
        out += "\\x{";
        out.append(pattern.substr(i + 1, 4));
        out += "}";
        i += 4;
      } else if (one_of(e, "wWbBhHvVRXNOyYKGQE")) {
        refuse("regex escape \\", e, " is not supported");
      } else {
        out += '\\';
        out += e;
      }
      continue;
    }
    if (in_class) {
      if (c == '[') {
        const bool posix = i + 1 < pattern.size() && pattern[i + 1] == ':';
        refuse(posix ? "POSIX bracket classes are" : "nested character classes are",
               " not supported");
      }
      if (c == '&' && i + 1 < pattern.size() && pattern[i + 1] == '&')
        refuse("class intersection && is not supported");
      if (c == ']') in_class = false;
      out += c;
      continue;
    }
    if (c == '[') {
      in_class = true;
      out += c;
      // A ']' right after '[' or '[^' is a literal, not the end of the class.
      if (i + 1 < pattern.size() && pattern[i + 1] == '^') out += pattern[++i];
      if (i + 1 < pattern.size() && pattern[i + 1] == ']') out += pattern[++i];
      continue;
    }
    if (c == '(' && i + 2 < pattern.size() && pattern[i + 1] == '?' &&
        one_of(pattern[i + 2], "imx-")) {
      // Inline options such as (?i:...) or (?m-x): Ruby's m is PCRE2's s.
      out += "(?";
      for (i += 2; i < pattern.size() && pattern[i] != ':' && pattern[i] != ')'; ++i) {
        const char flag = pattern[i];
        if (!one_of(flag, "imx-")) refuse("inline option '", flag, "' is not supported");
        out += flag == 'm' ? 's' : flag;
      }
      if (i < pattern.size()) out += pattern[i];
      continue;
    }
    out += c;
  }
  return UnicodeRegex(out, what, PCRE2_MULTILINE);
}

UnicodeRegex UnicodeRegex::literal(std::string_view text, const std::string& what) {
  std::string out;
  for (const char c : text) {
    // Escaping every ASCII punctuation character is always allowed in PCRE2; letters and
    // digits must not be escaped, multi-byte characters need no escape.
    const unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x80 && !std::isalnum(u)) out += '\\';
    out += c;
  }
  return UnicodeRegex(out, what);
}

std::vector<std::pair<size_t, size_t>> UnicodeRegex::find_all(std::string_view text) const {
  std::vector<std::pair<size_t, size_t>> matches;
  size_t search_from = 0;
  bool have_last = false;
  size_t last_match_end = 0;
  while (search_from <= text.size()) {
    size_t begin = 0, end = 0;
    if (!search(compiled_->code, text, search_from, 0, begin, end, what_)) break;
    if (begin == end) {
      search_from = end < text.size() ? end + utf8::char_bytes(text[end]) : end + 1;
      if (have_last && last_match_end == end) continue;
    } else {
      search_from = end;
    }
    have_last = true;
    last_match_end = end;
    matches.emplace_back(begin, end);
  }
  return matches;
}

bool UnicodeRegex::matches_at(std::string_view text, size_t offset) const {
  size_t begin = 0, end = 0;
  return search(compiled_->code, text, offset, PCRE2_ANCHORED, begin, end, what_);
}

}  // namespace hs

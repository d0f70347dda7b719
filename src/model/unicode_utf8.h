// UTF-8 validation and repair. Prompts must be valid UTF-8 before they are tokenized, and decoded
// byte sequences (which may end inside a character) must be made valid before they are shown.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace hs::utf8 {

// Byte offset of the first byte that does not start a well-formed UTF-8 sequence (Unicode 15,
// table 3-7: no overlongs, no surrogates, nothing above U+10FFFF), or npos if text is valid.
size_t find_invalid(std::string_view text);

// Replaces each maximal ill-formed subsequence with U+FFFD, the Unicode "substitution of maximal
// subparts" practice that Rust's String::from_utf8_lossy (used by HF's ByteLevel decoder) and
// Python's errors="replace" follow, so decoded text matches theirs byte for byte.
std::string repair(std::string_view bytes);

// Number of bytes of the character whose lead byte is `lead` (text known to be valid).
inline size_t char_bytes(unsigned char lead) {
  return lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
}

// Appends the UTF-8 encoding of a code point (<= U+10FFFF, not a surrogate).
void append(std::string& out, char32_t code_point);

}  // namespace hs::utf8

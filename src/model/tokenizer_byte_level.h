// The byte-level alphabet of GPT-2 style BPE: every byte 0..255 stands for one printable Unicode
// character, so that BPE runs over text with no spaces or control characters and covers every
// byte sequence. Printable Latin-1 bytes map to themselves; the other 68 bytes map to U+0100 and
// up, in byte order (space -> 'Ġ' U+0120, newline -> 'Ċ' U+010A).
#pragma once

#include <string>
#include <string_view>

namespace hs::byte_level {

// Appends the byte-level characters (UTF-8) of each byte of `bytes` to out.
void encode(std::string_view bytes, std::string& out);

// Appends the bytes that the byte-level characters of `token` stand for and returns true; if
// `token` holds a character outside the alphabet, appends nothing and returns false (HF's
// ByteLevel decoder then passes the token's own UTF-8 through, e.g. for added tokens).
bool decode(std::string_view token, std::string& out);

}  // namespace hs::byte_level

#include "model/tokenizer_byte_level.h"

#include <array>
#include <cstdint>

#include "model/unicode_utf8.h"

namespace hs::byte_level {

namespace {

struct Alphabet {
  std::array<std::string, 256> char_of_byte;  // UTF-8 of the character standing for each byte
  std::array<int16_t, 512> byte_of_char;      // code point (< 0x144) -> byte, or -1
  Alphabet() {
    byte_of_char.fill(-1);
    const auto printable = [](int b) {
      return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    };
    char32_t next_free = 0x100;
    for (int b = 0; b < 256; ++b) {
      const char32_t cp = printable(b) ? static_cast<char32_t>(b) : next_free++;
      utf8::append(char_of_byte[b], cp);
      byte_of_char[cp] = static_cast<int16_t>(b);
    }
  }
};

const Alphabet& alphabet() {
  static const Alphabet a;
  return a;
}

}  // namespace

void encode(std::string_view bytes, std::string& out) {
  const Alphabet& a = alphabet();
  for (const char c : bytes) out += a.char_of_byte[static_cast<unsigned char>(c)];
}

bool decode(std::string_view token, std::string& out) {
  const Alphabet& a = alphabet();
  const size_t start = out.size();
  size_t i = 0;
  while (i < token.size()) {
    // The alphabet's characters are all below U+0144: one or two UTF-8 bytes.
    const unsigned char b0 = static_cast<unsigned char>(token[i]);
    char32_t cp = 0x7FFFFFFF;
    size_t n = 1;
    if (b0 < 0x80) {
      cp = b0;
    } else if ((b0 & 0xE0) == 0xC0 && i + 1 < token.size()) {
      cp = (static_cast<char32_t>(b0 & 0x1F) << 6) |
           (static_cast<unsigned char>(token[i + 1]) & 0x3F);
      n = 2;
    }
    if (cp >= a.byte_of_char.size() || a.byte_of_char[cp] < 0) {
      out.resize(start);
      return false;
    }
    out += static_cast<char>(a.byte_of_char[cp]);
    i += n;
  }
  return true;
}

}  // namespace hs::byte_level

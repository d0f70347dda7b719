// Encoding and decoding arbitrary text with the shipped test tokenizers (tests/tokenizers:
// GPT-2 style and LLaMA-3 style, loaded once): the pre-tokenizer regexes, the byte-level
// mapping, the BPE merges and the added tokens on any bytes. Checks beyond the sanitizers:
// ids lie in the vocabulary, and valid UTF-8 comes back byte for byte from
// decode(encode(text)) when special tokens are kept (both are byte-level BPE without a
// normalizer, as in Hugging Face's tokenizers). Seeds: the texts of tests/tokenizers/goldens.json.
#include <vector>

#include "fuzz_util.h"
#include "model/tokenizer.h"

#ifndef HS_FUZZ_DATA_DIR
#error "HS_FUZZ_DATA_DIR (the repository's tests/ folder) must be defined"
#endif

namespace {

const std::vector<hs::Tokenizer>& tokenizers() {
  static const std::vector<hs::Tokenizer> all = {
      hs::Tokenizer::from_model_dir(HS_FUZZ_DATA_DIR "/tokenizers/gpt2-style"),
      hs::Tokenizer::from_model_dir(HS_FUZZ_DATA_DIR "/tokenizers/llama3-style")};
  return all;
}

// Whether s is well-formed UTF-8 (shortest forms, no surrogates, at most U+10FFFF).
bool valid_utf8(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    const uint8_t c = s[i];
    int n = 0;
    uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      n = 1, cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2, cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3, cp = c & 0x07;
    } else {
      return false;
    }
    if (i + n >= s.size()) return false;
    for (int k = 1; k <= n; ++k) {
      const uint8_t d = s[i + k];
      if ((d & 0xC0) != 0x80) return false;
      cp = cp << 6 | (d & 0x3F);
    }
    const uint32_t min_cp[] = {0, 0x80, 0x800, 0x10000};
    if (cp < min_cp[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n + 1;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  const bool utf8 = valid_utf8(text);
  for (const hs::Tokenizer& tok : tokenizers()) {
    std::vector<int32_t> ids;
    const bool encoded = hs::fuzz::expect_clean_error([&] { ids = tok.encode(text, true); });
    if (utf8 && !encoded) hs::fuzz::finding("valid UTF-8 was refused by encode");
    if (!encoded) continue;
    for (const int32_t id : ids)
      if (id < 0 || id >= tok.vocab_size())
        hs::fuzz::finding("encode gave id " + std::to_string(id) + " outside the vocabulary");
    tok.decode(ids, true);
    const std::vector<int32_t> plain = tok.encode(text, false);
    if (tok.decode(plain, false) != text)
      hs::fuzz::finding("decode(encode(text)) differs from the text");
    // Arbitrary ids: those in the vocabulary decode, others are refused with hs::Error.
    std::vector<int32_t> any;
    for (size_t i = 0; i + 1 < size && any.size() < 64; i += 2)
      any.push_back(static_cast<int32_t>((data[i] << 8 | data[i + 1]) % (tok.vocab_size() + 2)));
    hs::fuzz::expect_clean_error([&] { tok.decode(any, false); });
  }
  return 0;
}

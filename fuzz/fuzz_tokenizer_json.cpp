// tokenizer.json loading (model/tokenizer.h): the model, pre-tokenizer (Split regexes included),
// added tokens, post-processor and decoder sections, then encoding and decoding with what was
// loaded. The input is the file, optionally followed by a NUL byte and a text to encode (else a
// fixed text with letters, digits, spaces, accents, CJK and a special token is used).
// Seeds: the test tokenizers cut to a few hundred tokens, so that mutations reach every section.
#include <cstring>
#include <optional>
#include <vector>

#include "fuzz_util.h"
#include "model/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const uint8_t* nul = static_cast<const uint8_t*>(std::memchr(data, 0, size));
  const size_t json_bytes = nul ? static_cast<size_t>(nul - data) : size;
  const std::string text =
      nul ? std::string(reinterpret_cast<const char*>(nul + 1), size - json_bytes - 1)
          : std::string(
                "Hello world!  123 4567 <|endoftext|> caf\xC3\xA9 "
                "\xE6\x97\xA5\xE6\x9C\xAC\n\tend");
  const std::string path = hs::fuzz::write_file("tokenizer.json", data, json_bytes);
  std::optional<hs::Tokenizer> tok;
  if (!hs::fuzz::expect_clean_error([&] { tok = hs::Tokenizer::from_file(path); },
                                    "tokenizer.json"))
    return 0;
  // Encoding text that is not UTF-8 is refused (hs::Error naming the byte); decoding an id
  // outside the vocabulary too. Neither may crash, and decoding what was encoded must work.
  hs::fuzz::expect_clean_error([&] {
    for (const bool special : {true, false}) {
      const std::vector<int32_t> ids = tok->encode(text, special);
      for (const int32_t id : ids)
        if (id < 0 || id >= tok->vocab_size())
          hs::fuzz::finding("encode gave id " + std::to_string(id) + " outside the vocabulary");
      tok->decode(ids, true);
      tok->decode(ids, false);
    }
  });
  hs::fuzz::expect_clean_error([&] {
    std::vector<int32_t> ids;
    for (size_t i = 0; i + 1 < text.size() && ids.size() < 64; i += 2)
      ids.push_back(static_cast<int32_t>((uint8_t(text[i]) << 8 | uint8_t(text[i + 1])) %
                                         (tok->vocab_size() + 2)));
    tok->decode(ids, false);
  });
  tok->bos_id();
  tok->eos_id();
  tok->token_id(text);
  return 0;
}

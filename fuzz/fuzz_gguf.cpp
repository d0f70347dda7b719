// GGUF files (model/gguf.h, gguf_model.h, gguf_tokenizer.h): the header, every metadata value
// read back through the getter of its type, the tensor table; then, as `--model FILE.gguf` does,
// the llama config from the metadata, the tokenizer the metadata describes (encoding and
// decoding a text with it), and every tensor of the model dequantised to f32. Seeds: tiny llama
// GGUF files with a byte-level BPE vocabulary and tensors of each supported type, written by
// tools/fuzz_seeds.py.
#include <optional>
#include <vector>

#include "fuzz_util.h"
#include "model/gguf.h"
#include "model/gguf_model.h"
#include "model/gguf_tokenizer.h"
#include "model/tokenizer.h"
#include "model/weights.h"

namespace {

// Reads every metadata value with the getter of its type.
void read_metadata(const hs::GgufFile& f) {
  using T = hs::GgufValueType;
  for (const std::string& key : f.keys()) {
    hs::fuzz::expect_clean_error(
        [&] {
          switch (f.type_of(key)) {
            case T::STRING:
              f.get_string(key);
              break;
            case T::BOOL:
              f.get_bool(key);
              break;
            case T::F32:
            case T::F64:
              f.get_f32(key);
              break;
            case T::ARRAY:
              // One of these fits the element type; the others are refused, naming the file.
              hs::fuzz::expect_clean_error([&] { f.get_string_array(key); }, f.path());
              hs::fuzz::expect_clean_error([&] { f.get_i32_array(key); }, f.path());
              hs::fuzz::expect_clean_error([&] { f.get_f32_array(key); }, f.path());
              break;
            default:
              hs::fuzz::expect_clean_error([&] { f.get_u64(key); }, f.path());
              hs::fuzz::expect_clean_error([&] { f.get_i64(key); }, f.path());
              hs::fuzz::expect_clean_error([&] { f.get_u32(key); }, f.path());
              hs::fuzz::expect_clean_error([&] { f.get_i32(key); }, f.path());
          }
        },
        f.path());
  }
  for (const hs::GgufTensor& t : f.tensors()) {
    t.dims_str();
    if (f.find(t.name) != &f.tensor(t.name)) hs::fuzz::finding("find and tensor disagree");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = hs::fuzz::write_file("model.gguf", data, size);
  hs::fuzz::expect_clean_error([&] { read_metadata(hs::GgufFile(path)); }, path);
  hs::fuzz::expect_clean_error([&] { hs::load_gguf_config(path); }, path);
  // Loading the tokenizer must name the file when it fails; encoding then fails (if at all)
  // for the text, e.g. a character the vocabulary lacks, and names that instead.
  std::optional<hs::Tokenizer> tok;
  hs::fuzz::expect_clean_error([&] { tok = hs::tokenizer_from_gguf(path); }, path);
  if (tok)
    hs::fuzz::expect_clean_error([&] {
      const std::vector<int32_t> ids = tok->encode("Hello world!  123 caf\xC3\xA9\n", true);
      tok->decode(ids, false);
    });
  hs::fuzz::expect_clean_error(
      [&] {
        const std::unique_ptr<hs::WeightSource> w = hs::open_gguf_model(path);
        std::vector<float> out;
        for (const auto& parts : {hs::global_parts(w->config()), hs::layer_parts(w->config(), 0)})
          for (const hs::PartSpec& s : parts) {
            // open_gguf_model checked each part's shape against a tensor in the file, so this
            // is bounded by the input's size (times at most 8: 4-bit values to f32).
            out.resize(static_cast<size_t>(s.numel()));
            w->read(s, hs::DType::f32, out.data());
          }
      },
      path);
  return 0;
}

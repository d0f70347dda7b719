// The safetensors reader (model/safetensors.h): the 8-byte header length, the JSON header and
// its tensor table (dtype, shape, data_offsets), then every tensor's bytes converted to f32 as
// the engine reads them. Seeds: small files with the tensor tables of tests/models.
#include <vector>

#include "fuzz_util.h"
#include "model/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = hs::fuzz::write_file("model.safetensors", data, size);
  hs::fuzz::expect_clean_error(
      [&] {
        hs::SafetensorsFile f(path);
        std::vector<float> out;
        for (const auto& [name, t] : f.tensors()) {
          // The reader checked numel() * element bytes == t.bytes, which lie in the file, so
          // this allocation is bounded by the input's size.
          out.resize(static_cast<size_t>(t.numel()));
          hs::read_tensor(t, hs::DType::f32, out.data());
        }
      },
      path);
  return 0;
}

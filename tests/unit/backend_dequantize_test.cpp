// Backend::dequantize on the cpu backend, and the expand stream it runs on: the cpu backend's
// expansion is quant.h's own dequantize_rows (the oracle the CUDA kernel is held to), in fp32.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "model/quant.h"

namespace hs {
namespace {

TEST(BackendDequantize, CpuExpansionIsDequantizeRows) {
  auto b = make_backend("cpu");
  struct Shape {
    int64_t rows, cols, group;
  };
  for (const Shape& s : {Shape{7, 129, 64}, Shape{5, 33, 8}, Shape{1, 1, 64}, Shape{16, 256, 64}}) {
    std::mt19937 gen(static_cast<uint32_t>(s.rows * 1000 + s.cols));
    std::normal_distribution<float> d(0.f, 0.05f);
    std::vector<float> w(static_cast<size_t>(s.rows * s.cols));
    for (float& x : w) x = d(gen);
    for (WeightFormat f : {WeightFormat::int8, WeightFormat::int4}) {
      const size_t bytes =
          static_cast<size_t>(quantized_bytes(f, s.rows, s.cols, s.group, DType::f32));
      std::vector<uint8_t> blob(bytes);
      quantize(f, w.data(), s.rows, s.cols, s.group, blob.data());
      std::vector<float> want(w.size(), NAN);
      dequantize_rows(f, blob.data(), s.rows, s.cols, s.group, 0, s.rows, want.data());

      void* src = b->device_alloc(bytes);
      auto* dst = static_cast<float*>(b->device_alloc(w.size() * sizeof(float)));
      b->copy_h2d(src, blob.data(), bytes, Stream::weights);
      b->dequantize(dst, src, f, s.rows, s.cols, s.group, Stream::expand);
      b->synchronize();
      EXPECT_EQ(std::memcmp(dst, want.data(), w.size() * sizeof(float)), 0)
          << weight_format_name(f) << " " << s.rows << "x" << s.cols << " group " << s.group;
      b->device_free(dst);
      b->device_free(src);
    }
  }
}

TEST(BackendDequantize, ExpandIsTheSixthStreamWithItsOwnName) {
  EXPECT_EQ(static_cast<int>(Stream::expand), 5);
  EXPECT_EQ(kNumStreams, 6);
  EXPECT_STREQ(stream_name(Stream::expand), "expand");
  std::set<std::string> names;
  for (int i = 0; i < kNumStreams; ++i) {
    const std::string name = stream_name(static_cast<Stream>(i));
    EXPECT_NE(name, "?") << "stream " << i;
    names.insert(name);
  }
  EXPECT_EQ(names.size(), static_cast<size_t>(kNumStreams)) << "stream names must be distinct";
}

}  // namespace
}  // namespace hs

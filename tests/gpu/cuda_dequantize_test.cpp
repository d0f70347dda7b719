// The CUDA backend's dequantize (kernels/dequantize.cu) against the cpu oracle: random matrices
// compressed on the host (model/quant.h), uploaded on the weights stream, expanded on the expand
// stream behind an event, and compared with hs::dequantize_rows rounded by util/dtype.h's
// f32_to_f16 / f32_to_bf16. Equality is bit for bit, not within a tolerance: both sides compute
// the same single fp32 multiply (int8) or fma (int4) from the same stored parameters and round
// it once to nearest-even, so any difference is a wrong code, parameter or index.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "gpu_test_util.h"
#include "model/quant.h"
#include "util/error.h"

namespace hs {
namespace {

using namespace gputest;

std::string shape_name(WeightFormat f, DType t, int64_t rows, int64_t cols, int64_t group) {
  return std::string(weight_format_name(f)) + " " + dtype_name(t) + " " + std::to_string(rows) +
         "x" + std::to_string(cols) + (f == WeightFormat::int4 ? " g" + std::to_string(group) : "");
}

// w [rows, cols]: uniform values with a different magnitude per row (so scales differ), one
// all-zero row (int8's scale-1 case) and a constant first 8 columns (an int4 group of scale 0
// where groups are 8).
std::vector<float> random_matrix(int64_t rows, int64_t cols, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  std::vector<float> w(static_cast<size_t>(rows * cols));
  for (int64_t r = 0; r < rows; ++r) {
    const float mag = 0.01f * static_cast<float>(1 + r % 13);
    for (int64_t c = 0; c < cols; ++c) w[r * cols + c] = mag * u(rng);
  }
  if (rows > 1)
    for (int64_t c = 0; c < cols; ++c) w[cols + c] = 0.f;
  if (cols >= 8)
    for (int64_t c = 0; c < 8; ++c) w[c] = 0.25f;
  return w;
}

struct Compressed {
  std::vector<uint8_t> blob;
  std::vector<float> want_f32;  // dequantize_rows of blob: the oracle before rounding
};

Compressed compress(WeightFormat f, const std::vector<float>& w, int64_t rows, int64_t cols,
                    int64_t group) {
  Compressed c;
  c.blob.resize(static_cast<size_t>(quantized_bytes(f, rows, cols, group, DType::f16)));
  quantize(f, w.data(), rows, cols, group, c.blob.data());
  c.want_f32.assign(w.size(), 0.f);
  dequantize_rows(f, c.blob.data(), rows, cols, group, 0, rows, c.want_f32.data());
  return c;
}

// Uploads blob on the weights stream, expands it on the expand stream once the upload's event
// has passed, into a NaN-poisoned buffer at element offset dst_offset (1: a 2-byte misaligned
// output), and downloads on the compute stream behind the expansion's event. Returns the bits.
std::vector<uint16_t> expand_on_device(Backend& b, WeightFormat f, const std::vector<uint8_t>& blob,
                                       int64_t rows, int64_t cols, int64_t group,
                                       int64_t dst_offset = 0) {
  const size_t n = static_cast<size_t>(rows * cols);
  DeviceBuffer src(b, std::max<size_t>(blob.size(), 16));
  auto dst = poisoned(b, n + dst_offset);
  void* staged = b.host_alloc(std::max<size_t>(blob.size(), 16));  // pinned: the copy is async
  std::memcpy(staged, blob.data(), blob.size());
  b.copy_h2d(src.get(), staged, blob.size(), Stream::weights);
  b.wait(Stream::expand, b.record(Stream::weights));
  b.dequantize(dst->as<uint16_t>() + dst_offset, src.get(), f, rows, cols, group, Stream::expand);
  b.wait(Stream::compute, b.record(Stream::expand));
  std::vector<uint16_t> got(n + dst_offset);
  b.copy_d2h(got.data(), dst->get(), 2 * got.size(), Stream::compute);
  b.sync(b.record(Stream::compute));
  b.host_free(staged);
  EXPECT_TRUE(dst_offset == 0 || std::isnan(from_bits(b.dtype(), got[0])))
      << "wrote before the output";
  got.erase(got.begin(), got.begin() + dst_offset);
  return got;
}

// Every element of got equals want_f32 rounded to t; reports the count and the first mismatch.
void expect_bits_equal(DType t, const std::vector<uint16_t>& got,
                       const std::vector<float>& want_f32, int64_t cols, const std::string& what) {
  ASSERT_EQ(got.size(), want_f32.size()) << what;
  size_t bad = 0, first = 0;
  for (size_t i = 0; i < got.size(); ++i)
    if (got[i] != to_bits(t, want_f32[i]) && bad++ == 0) first = i;
  EXPECT_EQ(bad, 0u) << what << ": first at row " << first / cols << ", col " << first % cols
                     << ": got 0x" << std::hex << got[first] << ", want 0x"
                     << to_bits(t, want_f32[first]) << std::dec << " (" << want_f32[first] << ")";
  std::printf("[bits] %-36s %zu of %zu elements differ\n", what.c_str(), bad, got.size());
}

class CudaDequantize : public ::testing::TestWithParam<DType> {
 protected:
  Backend& b() { return backend(GetParam()); }
  DType t() { return GetParam(); }
};

TEST_P(CudaDequantize, EqualsTheCpuExpansionRoundedBitForBit) {
  struct Shape {
    int64_t rows, cols, group;
  };
  // Generic path: odd cols (an odd int4 row ends in half a byte, rows start mid-word) with a
  // partial last group; groups of 8 over 33 cols; a single element. Chunked path: a partial last
  // group (200 = 3 x 64 + 8), a large group, and a layer-sized matrix.
  const Shape shapes[] = {{7, 129, 64},   {5, 33, 8},      {1, 1, 64}, {3, 200, 64},
                          {64, 4096, 64}, {64, 4096, 128}, {9, 24, 8}, {4096, 1024, 64}};
  uint64_t seed = 11;
  for (const Shape& s : shapes) {
    const auto w = random_matrix(s.rows, s.cols, seed++);
    for (WeightFormat f : {WeightFormat::int8, WeightFormat::int4, WeightFormat::fp8}) {
      const Compressed c = compress(f, w, s.rows, s.cols, s.group);
      const auto got = expand_on_device(b(), f, c.blob, s.rows, s.cols, s.group);
      expect_bits_equal(t(), got, c.want_f32, s.cols, shape_name(f, t(), s.rows, s.cols, s.group));
    }
  }
}

TEST_P(CudaDequantize, MisalignedOutputTakesTheGenericPathAlike) {
  const int64_t rows = 64, cols = 4096, group = 64;
  const auto w = random_matrix(rows, cols, 99);
  for (WeightFormat f : {WeightFormat::int8, WeightFormat::int4, WeightFormat::fp8}) {
    const Compressed c = compress(f, w, rows, cols, group);
    const auto got = expand_on_device(b(), f, c.blob, rows, cols, group, /*dst_offset=*/1);
    expect_bits_equal(t(), got, c.want_f32, cols,
                      shape_name(f, t(), rows, cols, group) + " misaligned");
  }
}

TEST_P(CudaDequantize, EmptyMatrixWritesNothing) {
  DeviceBuffer src(b(), 16);
  auto dst = poisoned(b(), 8);
  b().dequantize(dst->get(), src.get(), WeightFormat::int4, 0, 8, 64, Stream::expand);
  b().dequantize(dst->get(), src.get(), WeightFormat::int8, 8, 0, 64, Stream::expand);
  for (float v : download(b(), *dst, 8)) EXPECT_TRUE(std::isnan(v));
}

TEST_P(CudaDequantize, RejectsNativeWeights) {
  DeviceBuffer src(b(), 64), dst(b(), 64);
  EXPECT_THROW(b().dequantize(dst.get(), src.get(), WeightFormat::native, 2, 8, 64, Stream::expand),
               Error);
}

INSTANTIATE_TEST_SUITE_P(Dtypes, CudaDequantize, ::testing::Values(DType::f16, DType::bf16),
                         dtype_param_name);

// A large layer's matrix (a 7168 x 28672 MLP projection, 205M elements), both formats and
// dtypes: bit-for-bit equality, then the expansion timed on the expand stream (mean of 20 after
// a warm-up) and its bandwidth printed. Not asserted: the time depends on the card; expansion
// only has to stay far ahead of PCIe, which brings the compressed bytes at ~55 GB/s.
TEST(CudaDequantizeLarge, LayerSizedMatrixMatchesAndReportsBandwidth) {
  const int64_t rows = 7168, cols = 28672, group = 64;
  const auto w = random_matrix(rows, cols, 7);
  for (WeightFormat f : {WeightFormat::int8, WeightFormat::int4, WeightFormat::fp8}) {
    const Compressed c = compress(f, w, rows, cols, group);
    for (DType t : {DType::f16, DType::bf16}) {
      Backend& b = backend(t);
      const std::string what = shape_name(f, t, rows, cols, group);
      expect_bits_equal(t, expand_on_device(b, f, c.blob, rows, cols, group), c.want_f32, cols,
                        what);

      DeviceBuffer src(b, c.blob.size()), dst(b, 2 * w.size());
      b.copy_h2d(src.get(), c.blob.data(), c.blob.size(), Stream::weights);
      b.synchronize();
      b.dequantize(dst.get(), src.get(), f, rows, cols, group, Stream::expand);  // warm-up
      const int repeats = 20;
      const Event start = b.record(Stream::expand);
      for (int i = 0; i < repeats; ++i)
        b.dequantize(dst.get(), src.get(), f, rows, cols, group, Stream::expand);
      const Event end = b.record(Stream::expand);
      b.sync(end);
      const double ms = (b.event_ms(end) - b.event_ms(start)) / repeats;
      const double written_gb = 2.0 * static_cast<double>(w.size()) / 1e9;
      const double read_gb = static_cast<double>(c.blob.size()) / 1e9;
      std::printf("[time] dequantize %-28s %.3f ms: %.0f GB/s written, %.0f GB/s read + written\n",
                  what.c_str(), ms, written_gb / ms * 1e3, (written_gb + read_gb) / ms * 1e3);
    }
  }
}

}  // namespace
}  // namespace hs

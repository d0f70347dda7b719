// Compressed weight formats (model/quant.h), against their definitions: hand-worked matrices,
// error bounds that follow from the formats, and byte counts.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "model/quant.h"
#include "util/error.h"

namespace hs {
namespace {

std::vector<float> round_trip(WeightFormat f, const std::vector<float>& w, int64_t rows,
                              int64_t cols, int64_t group, int threads = 1) {
  std::vector<uint8_t> blob(static_cast<size_t>(quantized_bytes(f, rows, cols, group, DType::f16)));
  quantize(f, w.data(), rows, cols, group, blob.data(), threads);
  std::vector<float> out(w.size(), NAN);
  dequantize_rows(f, blob.data(), rows, cols, group, 0, rows, out.data());
  return out;
}

std::vector<float> random_matrix(int64_t rows, int64_t cols, uint32_t seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> d(0.f, 0.05f);
  std::vector<float> w(static_cast<size_t>(rows * cols));
  for (float& x : w) x = d(gen);
  return w;
}

TEST(Quant, BytesFollowTheLayout) {
  // int8: codes, padded to 16, then an fp32 scale a row.
  EXPECT_EQ(quantized_bytes(WeightFormat::int8, 3, 5, 64, DType::f16), 16 + 12);
  EXPECT_EQ(quantized_bytes(WeightFormat::int8, 4096, 4096, 64, DType::f16),
            4096 * 4096 + 4 * 4096);
  // int4: ceil(cols / 2) bytes a row, padded, then (scale, min) fp16 per group.
  EXPECT_EQ(quantized_bytes(WeightFormat::int4, 3, 5, 2, DType::f16), 16 + 3 * 3 * 4);
  EXPECT_EQ(quantized_bytes(WeightFormat::int4, 4096, 4096, 64, DType::f16),
            4096 * 2048 + 4096 * 64 * 4);
  EXPECT_EQ(quantized_bytes(WeightFormat::native, 10, 10, 64, DType::bf16), 200);
  // int4 with groups of 64: 4.5 bits an element, 28% of fp16.
  EXPECT_NEAR(
      double(quantized_bytes(WeightFormat::int4, 4096, 4096, 64, DType::f16)) / (4096.0 * 4096 * 2),
      4.5 / 16, 1e-3);
}

TEST(Quant, Int8IsSymmetricPerRow) {
  // Row 0: max |w| = 2.54, scale 0.02; row 1 all zero (scale 1); row 2: -1.27 max, scale 0.01.
  const std::vector<float> w = {2.54f, -1.0f, 0.011f, 0, 0, 0, 0.5f, -1.27f, 0.004f};
  const std::vector<float> d = round_trip(WeightFormat::int8, w, 3, 3, 64);
  const std::vector<float> want = {
      127 * (2.54f / 127), -50 * (2.54f / 127),  1 * (2.54f / 127), 0, 0, 0,
      50 * (1.27f / 127),  -127 * (1.27f / 127), 0 * (1.27f / 127)};
  for (size_t i = 0; i < w.size(); ++i) EXPECT_FLOAT_EQ(d[i], want[i]) << i;
}

TEST(Quant, Int4IsAsymmetricPerGroupWithFp16Parameters) {
  // One row, groups of 4 (the last of 2): [0, 1.5, 3, 0.2] -> min 0, scale 0.2, codes 0 8 15 1
  // (1.5 / 0.2 = 7.5 rounds to 8 (even)); [-1, -1] -> scale 0: every code 0, value min = -1.
  const std::vector<float> w = {0, 1.5f, 3, 0.2f, -1, -1};
  const std::vector<float> d = round_trip(WeightFormat::int4, w, 1, 6, 4);
  const float s = f16_to_f32(f32_to_f16(3.f / 15));
  EXPECT_FLOAT_EQ(d[0], 0);
  EXPECT_FLOAT_EQ(d[1], std::fma(8.f, s, 0.f));
  EXPECT_FLOAT_EQ(d[2], std::fma(15.f, s, 0.f));
  EXPECT_FLOAT_EQ(d[3], std::fma(1.f, s, 0.f));
  EXPECT_FLOAT_EQ(d[4], -1);
  EXPECT_FLOAT_EQ(d[5], -1);
}

// Every element comes back within half a step of its row's (int8) or group's (int4) grid, plus
// the fp16 rounding of int4's minimum; odd widths and partial groups included.
TEST(Quant, ErrorsStayWithinHalfAStep) {
  for (const auto [rows, cols, group] :
       {std::tuple<int64_t, int64_t, int64_t>{7, 129, 64}, {16, 64, 64}, {5, 33, 8}, {1, 1, 64}}) {
    const std::vector<float> w = random_matrix(rows, cols, static_cast<uint32_t>(rows * cols));
    const std::vector<float> d8 = round_trip(WeightFormat::int8, w, rows, cols, group);
    const std::vector<float> d4 = round_trip(WeightFormat::int4, w, rows, cols, group);
    for (int64_t r = 0; r < rows; ++r) {
      float amax = 0;
      for (int64_t c = 0; c < cols; ++c) amax = std::max(amax, std::fabs(w[r * cols + c]));
      for (int64_t c = 0; c < cols; ++c)
        EXPECT_LE(std::fabs(d8[r * cols + c] - w[r * cols + c]), amax / 127 * 0.5001f);
      for (int64_t g0 = 0; g0 < cols; g0 += group) {
        const int64_t g1 = std::min(cols, g0 + group);
        float mn = w[r * cols + g0], mx = mn;
        for (int64_t c = g0; c < g1; ++c) {
          mn = std::min(mn, w[r * cols + c]);
          mx = std::max(mx, w[r * cols + c]);
        }
        const float step = (mx - mn) / 15, min_err = std::fabs(f16_to_f32(f32_to_f16(mn)) - mn);
        for (int64_t c = g0; c < g1; ++c)
          EXPECT_LE(std::fabs(d4[r * cols + c] - w[r * cols + c]),
                    step * 0.51f + 2 * min_err + 1e-6f)
              << r << "," << c;
      }
    }
  }
}

TEST(Quant, ThreadsGiveTheSameBytes) {
  const int64_t rows = 300, cols = 8192;  // over a million elements: split among threads
  const std::vector<float> w = random_matrix(rows, cols, 3);
  for (WeightFormat f : {WeightFormat::int8, WeightFormat::int4}) {
    const size_t n = static_cast<size_t>(quantized_bytes(f, rows, cols, 64, DType::f16));
    std::vector<uint8_t> one(n, 0xAB), many(n, 0xAB);
    quantize(f, w.data(), rows, cols, 64, one.data(), 1);
    quantize(f, w.data(), rows, cols, 64, many.data(), 4);
    EXPECT_EQ(one, many) << weight_format_name(f);
  }
}

TEST(Quant, NamesParse) {
  EXPECT_EQ(parse_weight_format("int4"), WeightFormat::int4);
  EXPECT_EQ(parse_weight_format("int8"), WeightFormat::int8);
  EXPECT_EQ(parse_weight_format("fp16"), WeightFormat::native);
  EXPECT_EQ(parse_weight_format("bf16"), WeightFormat::native);
  EXPECT_THROW(parse_weight_format("fp8"), Error);
  EXPECT_THROW(quantized_bytes(WeightFormat::int4, 2, 2, 0, DType::f16), Error);
}

}  // namespace
}  // namespace hs

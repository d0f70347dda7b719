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

// OCP FP8 E4M3, from its definition: value (1 + m/8) 2^(e-7) for exponent field e > 0,
// m 2^-9 for e = 0; 448 the largest; 0x7f NaN.
TEST(Quant, E4m3CodesFollowTheFormat) {
  EXPECT_EQ(f32_to_e4m3(1.f), 0x38);            // e = 7, m = 0
  EXPECT_EQ(f32_to_e4m3(-1.5f), 0xbc);          // sign, e = 7, m = 4
  EXPECT_EQ(f32_to_e4m3(448.f), 0x7e);          // e = 15, m = 6
  EXPECT_EQ(f32_to_e4m3(1000.f), 0x7e);         // saturates
  EXPECT_EQ(f32_to_e4m3(0.015625f), 0x08);      // 2^-6, the smallest normal
  EXPECT_EQ(f32_to_e4m3(0.001953125f), 0x01);   // 2^-9, the smallest subnormal
  EXPECT_EQ(f32_to_e4m3(0.0009765625f), 0x00);  // half of it: a tie, to even (0)
  EXPECT_EQ(f32_to_e4m3(1.0625f), 0x38);        // halfway between 1 and 1.125: to even (m = 0)
  EXPECT_EQ(f32_to_e4m3(1.1875f), 0x3a);        // halfway between 1.125 and 1.25: to even (m = 2)
  EXPECT_EQ(f32_to_e4m3(15.9f), 0x58);          // rounds up into the next binade: 16 = e 11, m 0
  int checked = 0;
  for (int q = 0; q < 256; ++q) {
    if ((q & 0x7f) == 0x7f) {
      EXPECT_TRUE(std::isnan(e4m3_to_f32(static_cast<uint8_t>(q))));
      continue;
    }
    const int e = (q >> 3) & 15, m = q & 7;
    const float a = e == 0 ? m * std::ldexp(1.f, -9) : (1 + m / 8.f) * std::ldexp(1.f, e - 7);
    EXPECT_EQ(e4m3_to_f32(static_cast<uint8_t>(q)), q & 0x80 ? -a : a) << q;
    if (q != 0x80) EXPECT_EQ(f32_to_e4m3(e4m3_to_f32(static_cast<uint8_t>(q))), q) << q;
    ++checked;
  }
  EXPECT_EQ(checked, 254);
}

TEST(Quant, Fp8IsPerRowWithinHalfAStep) {
  const int64_t rows = 5, cols = 300;
  const std::vector<float> w = random_matrix(rows, cols, 9);
  const std::vector<float> d = round_trip(WeightFormat::fp8, w, rows, cols, 64);
  for (int64_t r = 0; r < rows; ++r) {
    float amax = 0;
    for (int64_t c = 0; c < cols; ++c) amax = std::max(amax, std::fabs(w[r * cols + c]));
    const float s = amax / 448;
    for (int64_t c = 0; c < cols; ++c) {
      const float x = w[r * cols + c] / s;
      // Half a step of x's binade (2^(e-4) for normals, 2^-9 below 2^-6), times the scale.
      const float step =
          std::fabs(x) < 0.015625f
              ? 0.001953125f
              : std::ldexp(1.f, static_cast<int>(std::floor(std::log2(std::fabs(x)))) - 3);
      EXPECT_LE(std::fabs(d[r * cols + c] - w[r * cols + c]), 0.5f * step * s * 1.0001f)
          << r << "," << c;
    }
  }
}

TEST(Quant, ThreadsGiveTheSameBytes) {
  const int64_t rows = 300, cols = 8192;  // over a million elements: split among threads
  const std::vector<float> w = random_matrix(rows, cols, 3);
  for (WeightFormat f : {WeightFormat::int8, WeightFormat::int4, WeightFormat::fp8}) {
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
  EXPECT_EQ(parse_weight_format("fp8"), WeightFormat::fp8);
  EXPECT_THROW(parse_weight_format("fp4"), Error);
  EXPECT_THROW(quantized_bytes(WeightFormat::int4, 2, 2, 0, DType::f16), Error);
}

}  // namespace
}  // namespace hs

#include "model/quant.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <thread>
#include <vector>

#include "util/error.h"

namespace hs {

const char* weight_format_name(WeightFormat f) {
  switch (f) {
    case WeightFormat::native:
      return "native";
    case WeightFormat::int8:
      return "int8";
    case WeightFormat::int4:
      return "int4";
    case WeightFormat::fp8:
      return "fp8";
  }
  return "?";
}

WeightFormat parse_weight_format(const std::string& s) {
  if (s == "native" || s == "fp16" || s == "bf16") return WeightFormat::native;
  if (s == "int8") return WeightFormat::int8;
  if (s == "int4") return WeightFormat::int4;
  if (s == "fp8") return WeightFormat::fp8;
  throw Error(cat("unknown weight format '", s, "': expected fp16, bf16, int8, int4 or fp8"));
}

namespace {

int64_t groups_of(int64_t cols, int64_t group) {
  return (cols + group - 1) / group;
}
int64_t int4_row_bytes(int64_t cols) {
  return (cols + 1) / 2;
}

void check_shape(WeightFormat f, int64_t rows, int64_t cols, int64_t group) {
  HS_CHECK(rows >= 0 && cols >= 0, "a ", weight_format_name(f), " matrix of ", rows, " x ", cols);
  HS_CHECK(f != WeightFormat::int4 || group > 0, "int4 group size must be positive, got ", group);
}

// int8 and fp8: one byte a weight and an fp32 scale a row.
bool per_row(WeightFormat f) {
  return f == WeightFormat::int8 || f == WeightFormat::fp8;
}

}  // namespace

uint8_t f32_to_e4m3(float x) {
  const uint8_t sign = std::signbit(x) ? 0x80 : 0;
  float a = std::fabs(x);
  if (std::isnan(a)) return sign | 0x7f;
  if (a >= 448.f) return sign | 0x7e;  // saturate: e4m3 has no infinity
  if (a < 0.015625f) {                 // below 2^-6: subnormal, steps of 2^-9 (8 is 2^-6)
    return sign | static_cast<uint8_t>(std::nearbyint(a * 512.f));
  }
  int e = 0;
  const float m = std::frexp(a, &e);  // a = m 2^e, m in [0.5, 1)
  // Mantissa steps of 2^(e - 4) in [2^(e-1), 2^e): three bits below the leading one.
  int q = static_cast<int>(std::nearbyint(std::ldexp(m, 4))) - 8;  // 0 .. 8
  int exp = e - 1 + 7;
  if (q == 8) {
    q = 0;
    ++exp;
  }
  if (exp > 15 || (exp == 15 && q > 6)) return sign | 0x7e;
  return sign | static_cast<uint8_t>(exp << 3 | q);
}

float e4m3_to_f32(uint8_t q) {
  const int exp = (q >> 3) & 0xf, man = q & 7;
  if (exp == 15 && man == 7) return std::numeric_limits<float>::quiet_NaN();
  const float a = exp == 0 ? std::ldexp(static_cast<float>(man), -9)
                           : std::ldexp(static_cast<float>(8 + man), exp - 10);
  return q & 0x80 ? -a : a;
}

void group_params(const float* x, int64_t n, float levels, uint16_t& scale_h, uint16_t& min_h) {
  float mn = x[0], mx = x[0];
  for (int64_t c = 0; c < n; ++c) {
    mn = std::min(mn, x[c]);
    mx = std::max(mx, x[c]);
  }
  scale_h = f32_to_f16((mx - mn) / levels);
  min_h = f32_to_f16(mn);
}

float group_code(float x, float scale, float min, float levels) {
  return scale > 0 ? std::clamp(std::nearbyint((x - min) / scale), 0.f, levels) : 0.f;
}

// After the codes, on a 16-byte boundary.
int64_t quantized_params_at(WeightFormat f, int64_t rows, int64_t cols) {
  const int64_t codes = per_row(f) ? rows * cols : rows * int4_row_bytes(cols);
  return (codes + 15) / 16 * 16;
}

int64_t quantized_bytes(WeightFormat f, int64_t rows, int64_t cols, int64_t group, DType native) {
  check_shape(f, rows, cols, group);
  switch (f) {
    case WeightFormat::native:
      return rows * cols * static_cast<int64_t>(dtype_bytes(native));
    case WeightFormat::int8:
    case WeightFormat::fp8:
      return quantized_params_at(f, rows, cols) + rows * 4;
    case WeightFormat::int4:
      return quantized_params_at(f, rows, cols) + rows * groups_of(cols, group) * 4;
  }
  return 0;
}

bool is_compressed(const PartSpec& part, WeightFormat f) {
  return f != WeightFormat::native && part.shape.size() == 2;
}

int64_t stored_part_bytes(const PartSpec& part, DType native, WeightFormat f, int64_t group) {
  if (!is_compressed(part, f)) return part.numel() * static_cast<int64_t>(dtype_bytes(native));
  return quantized_bytes(f, part_rows(part), part_cols(part), group, native);
}

void quantize_rows(WeightFormat f, const float* w, int64_t rows, int64_t cols, int64_t group,
                   int64_t row_begin, int64_t row_end, void* dst) {
  check_shape(f, rows, cols, group);
  HS_CHECK(f != WeightFormat::native, "internal: quantize_rows of native weights");
  auto* out = static_cast<uint8_t*>(dst);
  if (per_row(f)) {
    // One byte a weight and a scale a row that maps the row's largest magnitude to the code's
    // largest value (int8 127, e4m3 448).
    const bool int8 = f == WeightFormat::int8;
    auto* scale = reinterpret_cast<float*>(out + quantized_params_at(f, rows, cols));
    for (int64_t r = row_begin; r < row_end; ++r) {
      const float* x = w + r * cols;
      float amax = 0;
      for (int64_t c = 0; c < cols; ++c) amax = std::max(amax, std::fabs(x[c]));
      const float s = amax > 0 ? amax / (int8 ? 127.f : 448.f) : 1.f;
      scale[r] = s;
      for (int64_t c = 0; c < cols; ++c)
        out[r * cols + c] = int8 ? static_cast<uint8_t>(static_cast<int8_t>(
                                       std::clamp(std::nearbyint(x[c] / s), -127.f, 127.f)))
                                 : f32_to_e4m3(x[c] / s);
    }
    return;
  }
  const int64_t G = groups_of(cols, group), row_bytes = int4_row_bytes(cols);
  uint8_t* packed = out;
  auto* params = reinterpret_cast<uint16_t*>(out + quantized_params_at(f, rows, cols));
  for (int64_t r = row_begin; r < row_end; ++r) {
    const float* x = w + r * cols;
    uint8_t* row = packed + r * row_bytes;
    std::fill(row, row + row_bytes, uint8_t{0});
    for (int64_t g = 0; g < G; ++g) {
      const int64_t c0 = g * group, c1 = std::min(cols, c0 + group);
      uint16_t scale_h = 0, min_h = 0;
      group_params(x + c0, c1 - c0, 15.f, scale_h, min_h);
      params[(r * G + g) * 2] = scale_h;
      params[(r * G + g) * 2 + 1] = min_h;
      const float s = f16_to_f32(scale_h), m = f16_to_f32(min_h);
      for (int64_t c = c0; c < c1; ++c) {
        const auto v = static_cast<uint8_t>(group_code(x[c], s, m, 15.f));
        row[c / 2] |= static_cast<uint8_t>(c % 2 == 0 ? v : v << 4);
      }
    }
  }
}

void quantize(WeightFormat f, const float* w, int64_t rows, int64_t cols, int64_t group, void* dst,
              int threads) {
  const int64_t n = threads > 0 ? threads : std::max(1u, std::thread::hardware_concurrency());
  const int64_t parts = std::max<int64_t>(1, std::min(n, rows * cols / (1 << 20)));  // 1M a part
  if (parts == 1) return quantize_rows(f, w, rows, cols, group, 0, rows, dst);
  std::vector<std::thread> pool;
  for (int64_t p = 0; p < parts; ++p)
    pool.emplace_back([=] {
      quantize_rows(f, w, rows, cols, group, rows * p / parts, rows * (p + 1) / parts, dst);
    });
  for (std::thread& t : pool) t.join();
}

void dequantize_rows(WeightFormat f, const void* src, int64_t rows, int64_t cols, int64_t group,
                     int64_t row_begin, int64_t row_end, float* w) {
  check_shape(f, rows, cols, group);
  HS_CHECK(f != WeightFormat::native, "internal: dequantize_rows of native weights");
  const auto* in = static_cast<const uint8_t*>(src);
  if (f == WeightFormat::int8) {
    const auto* q = reinterpret_cast<const int8_t*>(in);
    const auto* scale = reinterpret_cast<const float*>(in + quantized_params_at(f, rows, cols));
    for (int64_t r = row_begin; r < row_end; ++r)
      for (int64_t c = 0; c < cols; ++c)
        w[r * cols + c] = static_cast<float>(q[r * cols + c]) * scale[r];
    return;
  }
  if (f == WeightFormat::fp8) {
    const auto* scale = reinterpret_cast<const float*>(in + quantized_params_at(f, rows, cols));
    for (int64_t r = row_begin; r < row_end; ++r)
      for (int64_t c = 0; c < cols; ++c) w[r * cols + c] = e4m3_to_f32(in[r * cols + c]) * scale[r];
    return;
  }
  const int64_t G = groups_of(cols, group), row_bytes = int4_row_bytes(cols);
  const auto* params = reinterpret_cast<const uint16_t*>(in + quantized_params_at(f, rows, cols));
  for (int64_t r = row_begin; r < row_end; ++r) {
    const uint8_t* row = in + r * row_bytes;
    for (int64_t g = 0; g < G; ++g) {
      const float s = f16_to_f32(params[(r * G + g) * 2]);
      const float m = f16_to_f32(params[(r * G + g) * 2 + 1]);
      for (int64_t c = g * group; c < std::min(cols, (g + 1) * group); ++c) {
        const int code = c % 2 == 0 ? row[c / 2] & 0xf : row[c / 2] >> 4;
        w[r * cols + c] = std::fma(static_cast<float>(code), s, m);
      }
    }
  }
}

}  // namespace hs

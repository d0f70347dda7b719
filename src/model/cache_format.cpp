#include "model/cache_format.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "model/quant.h"
#include "util/dtype.h"
#include "util/error.h"

namespace hs {

const char* cache_format_name(CacheFormat f) {
  switch (f) {
    case CacheFormat::native:
      return "native";
    case CacheFormat::int8:
      return "int8";
    case CacheFormat::int4:
      return "int4";
    case CacheFormat::fp8:
      return "fp8";
  }
  return "?";
}

CacheFormat parse_cache_format(const std::string& s) {
  if (s == "native" || s == "fp16" || s == "bf16") return CacheFormat::native;
  if (s == "int8") return CacheFormat::int8;
  if (s == "int4") return CacheFormat::int4;
  if (s == "fp8") return CacheFormat::fp8;
  throw Error(cat("unknown cache format '", s, "': expected fp16, bf16, int8, int4 or fp8"));
}

int64_t cache_row_levels(CacheFormat f) {
  return f == CacheFormat::int8 ? 255 : f == CacheFormat::int4 ? 15 : 0;
}

int64_t cache_row_params_at(CacheFormat f, int64_t cols) {
  const int64_t codes = f == CacheFormat::int4 ? (cols + 1) / 2 : cols;
  return (codes + 3) / 4 * 4;
}

int64_t cache_row_bytes(CacheFormat f, int64_t cols, int64_t group, int64_t elem_bytes) {
  HS_CHECK(cols >= 0, "a cache row of ", cols, " elements");
  if (f == CacheFormat::native) return cols * elem_bytes;
  HS_CHECK(group > 0, "cache group size must be positive, got ", group);
  HS_CHECK(f != CacheFormat::int4 || group % 2 == 0,
           "int4 cache groups must have an even size (two codes a byte), got ", group);
  const int64_t params = (cols + group - 1) / group * cache_group_param_bytes(f);
  return cache_row_params_at(f, cols) + (params + 3) / 4 * 4;
}

void compress_cache_row(CacheFormat f, const float* x, int64_t cols, int64_t group, void* dst) {
  HS_CHECK(f != CacheFormat::native && group > 0, "internal: compress_cache_row of ",
           cache_format_name(f), " rows in groups of ", group);
  auto* codes = static_cast<uint8_t*>(dst);
  auto* params = reinterpret_cast<uint16_t*>(codes + cache_row_params_at(f, cols));
  std::memset(codes, 0, static_cast<size_t>(cache_row_bytes(f, cols, group, 0)));
  if (f == CacheFormat::fp8) {
    for (int64_t g = 0, c0 = 0; c0 < cols; ++g, c0 += group) {
      const int64_t c1 = std::min(cols, c0 + group);
      float amax = 0;
      for (int64_t c = c0; c < c1; ++c) amax = std::max(amax, std::fabs(x[c]));
      params[g] = f32_to_f16(amax / 448.f);
      const float s = f16_to_f32(params[g]);
      for (int64_t c = c0; c < c1; ++c) codes[c] = s > 0 ? f32_to_e4m3(x[c] / s) : 0;
    }
    return;
  }
  const float levels = static_cast<float>(cache_row_levels(f));
  for (int64_t g = 0, c0 = 0; c0 < cols; ++g, c0 += group) {
    const int64_t c1 = std::min(cols, c0 + group);
    uint16_t scale_h = 0, min_h = 0;
    group_params(x + c0, c1 - c0, levels, scale_h, min_h);
    params[2 * g] = scale_h;
    params[2 * g + 1] = min_h;
    const float s = f16_to_f32(scale_h), m = f16_to_f32(min_h);
    for (int64_t c = c0; c < c1; ++c) {
      const auto v = static_cast<uint8_t>(group_code(x[c], s, m, levels));
      if (f == CacheFormat::int8)
        codes[c] = v;
      else
        codes[c / 2] |= static_cast<uint8_t>(c % 2 == 0 ? v : v << 4);
    }
  }
}

void expand_cache_row(CacheFormat f, const void* src, int64_t cols, int64_t group, float* x) {
  HS_CHECK(f != CacheFormat::native && group > 0, "internal: expand_cache_row of ",
           cache_format_name(f), " rows in groups of ", group);
  const auto* codes = static_cast<const uint8_t*>(src);
  const auto* params = reinterpret_cast<const uint16_t*>(codes + cache_row_params_at(f, cols));
  if (f == CacheFormat::fp8) {
    for (int64_t c = 0; c < cols; ++c) x[c] = e4m3_to_f32(codes[c]) * f16_to_f32(params[c / group]);
    return;
  }
  for (int64_t c = 0; c < cols; ++c) {
    const int64_t g = c / group;
    const float s = f16_to_f32(params[2 * g]), m = f16_to_f32(params[2 * g + 1]);
    const int code = f == CacheFormat::int8 ? codes[c]
                     : c % 2 == 0           ? codes[c / 2] & 0xf
                                            : codes[c / 2] >> 4;
    x[c] = std::fma(static_cast<float>(code), s, m);
  }
}

}  // namespace hs

// Compressed host caches: K/V rows and activation checkpoints held in the host pool, and moved
// over PCIe, in fewer bytes than the element type (`--cache-format`). A cache row (one token's
// K, V or checkpoint vector of `cols` elements) is compressed on its own, so a block is rows
// back to back, a run of blocks is a run of rows, and one new token's row is written back by
// itself, as in the element type.
//
// Row layout (cache_row_bytes): codes, then parameters at cache_row_params_at:
//   int8  codes[cols] uint8               levels 255
//   int4  codes[ceil(cols / 2)] uint8     levels 15; element 2j in the low nibble, 2j + 1 in the
//                                         high one (an odd row's last high nibble is 0)
//   fp8   codes[cols] uint8               e4m3 (model/quant.h: f32_to_e4m3)
//   int8 and int4: params[ceil(cols / group)][2] fp16, the (scale, min) of each group of
//   `group` consecutive elements (the last may be shorter), groups along the hidden dimension as
//   FlexGen's --compress-cache groups them; fp8: params[ceil(cols / group)] fp16, each group's
//   scale alone (e4m3 is signed), padded to 4 bytes. The codes are padded to 4 bytes so the
//   parameters are aligned.
// Arithmetic of int8 and int4 (as model/quant.h's int4 weights): min = the group's minimum and
// scale = (max - min) / levels, both rounded to fp16 first; code = round-half-even((x - min) /
// scale) clamped to [0, levels] (0 where scale is 0); x = fma(code, scale, min) in fp32, then
// rounded once to the element type. fp8: scale = max |x| / 448 rounded to fp16; code = the e4m3
// nearest x / scale (ties to even, saturating at 448; 0 where scale is 0); x = e4m3(code) *
// scale in fp32, then rounded once. Both backends compute exactly this, so the cpu backend is
// the CUDA kernels' oracle bit for bit.
//
// Only caches in host memory are compressed: a device-resident cache layer stays in the element
// type (it crosses no link, and attention reads it directly).
#pragma once

#include <cstdint>
#include <string>

namespace hs {

enum class CacheFormat { native, int8, int4, fp8 };
const char* cache_format_name(CacheFormat f);  // "native", "int8", "int4", "fp8"
// "int8", "int4", "fp8"; "native", "fp16" and "bf16" (the element type itself) give native.
CacheFormat parse_cache_format(const std::string& s);

constexpr int64_t kDefaultCacheGroup = 64;

int64_t cache_row_levels(CacheFormat f);  // int8 255, int4 15 (fp8 has no levels)
// Bytes of a row's parameters per group: 4 (scale, min) or 2 (fp8's scale).
inline int64_t cache_group_param_bytes(CacheFormat f) {
  return f == CacheFormat::fp8 ? 2 : 4;
}
// Where a compressed row's parameters start, and its bytes; native: cols * elem_bytes.
int64_t cache_row_params_at(CacheFormat f, int64_t cols);
int64_t cache_row_bytes(CacheFormat f, int64_t cols, int64_t group, int64_t elem_bytes);

// One row of `cols` fp32 values into dst (cache_row_bytes of it), and back.
void compress_cache_row(CacheFormat f, const float* x, int64_t cols, int64_t group, void* dst);
void expand_cache_row(CacheFormat f, const void* src, int64_t cols, int64_t group, float* x);

}  // namespace hs

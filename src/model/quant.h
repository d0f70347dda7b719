// Compressed weight formats: a Linear weight [rows = out_features, cols = in_features] held in
// fewer bytes in the host pool and across PCIe, and expanded on the device into the backend's
// element type before the layer runs. Both backends expand with the same arithmetic (one fp32
// fma or multiply per element, from the stored parameters), so the cpu backend is the oracle of
// the CUDA kernel bit for bit after rounding to fp16/bf16.
//
// Formats (bytes of one [rows, cols] matrix in quantized_bytes):
//   int8  symmetric per output row: q[rows][cols] int8 (row-major), then scale[rows] fp32.
//         w = q * scale; scale = max|w_row| / 127 (1 where the row is all zero), q = round(w /
//         scale) clamped to [-127, 127].
//   fp8   e4m3 per output row (OCP FP8 E4M3: 1 sign, 4 exponent bits biased by 7, 3 mantissa
//         bits; subnormals below 2^-6; largest 448; no infinity): q[rows][cols] uint8, then
//         scale[rows] fp32. w = e4m3(q) * scale; scale = max|w_row| / 448 (1 where the row is
//         all zero), q = w / scale rounded to nearest-even e4m3 (saturating at 448).
//   int4  asymmetric per group of `group` consecutive inputs of a row (FlexGen's group-wise
//         compression along the input dimension; the last group of a row may be shorter):
//         q[rows][ceil(cols / 2)] uint8, two per byte, element 2j in the low nibble and 2j + 1
//         in the high one (a row starts on a byte; an odd row's last high nibble is 0); then
//         params[rows][ceil(cols / group)][2] fp16: (scale, min). w = fma(q, scale, min) in
//         fp32; min = the group's minimum, scale = (max - min) / 15, both rounded to fp16 first,
//         q = round((w - min) / scale) clamped to [0, 15] (0 where scale is 0).
// In both, the parameters start at the first 16-byte boundary after the codes (the matrix itself
// starts on one). Only two-dimensional parts are compressed; norms and biases stay in the element
// type.
#pragma once

#include <cstdint>
#include <string>

#include "model/weights.h"
#include "util/dtype.h"

namespace hs {

enum class WeightFormat { native, int8, int4, fp8 };
const char* weight_format_name(WeightFormat f);  // "native", "int8", "int4", "fp8"
// "int8", "int4", "fp8"; "native", "fp16" and "bf16" (the element type itself) give native.
WeightFormat parse_weight_format(const std::string& s);

constexpr int64_t kDefaultQuantGroup = 64;

// The e4m3 code nearest x (ties to even; |x| beyond 448 saturates), and a code's value.
uint8_t f32_to_e4m3(float x);
float e4m3_to_f32(uint8_t q);

// Asymmetric group quantisation, shared by int4 weights and compressed cache rows
// (model/cache_format.h): the group's minimum and (max - min) / levels as fp16 bits, then a
// value's code round((x - min) / scale) clamped to [0, levels] (0 where scale is 0), both with
// the parameters as stored so the codes suit the values that expand.
void group_params(const float* x, int64_t n, float levels, uint16_t& scale_h, uint16_t& min_h);
float group_code(float x, float scale, float min, float levels);

// Bytes of a [rows, cols] matrix in format f (native: rows * cols * dtype bytes), and where its
// parameters (int8's scales, int4's (scale, min) pairs) start in it.
int64_t quantized_params_at(WeightFormat f, int64_t rows, int64_t cols);
int64_t quantized_bytes(WeightFormat f, int64_t rows, int64_t cols, int64_t group, DType native);

// Compresses rows [row_begin, row_end) of the fp32 matrix w [rows, cols] into dst, laid out as
// above for the whole matrix (dst holds quantized_bytes(f, rows, cols, group, ...)). Rows are
// independent, so callers may split a matrix among threads.
void quantize_rows(WeightFormat f, const float* w, int64_t rows, int64_t cols, int64_t group,
                   int64_t row_begin, int64_t row_end, void* dst);
// The whole matrix, on up to `threads` threads (0: the machine's cores).
void quantize(WeightFormat f, const float* w, int64_t rows, int64_t cols, int64_t group, void* dst,
              int threads = 0);
// How a part of a layer is held in format f: the two-dimensional ones (the Linear weights) are
// compressed, norms and biases stay in the element type. Its bytes, so held.
bool is_compressed(const PartSpec& part, WeightFormat f);
int64_t stored_part_bytes(const PartSpec& part, DType native, WeightFormat f, int64_t group);
// Rows and columns of a two-dimensional part (its [out_features, in_features]).
inline int64_t part_rows(const PartSpec& p) {
  return p.shape.at(0);
}
inline int64_t part_cols(const PartSpec& p) {
  return p.shape.at(1);
}

// Expands rows [row_begin, row_end) of the compressed matrix src into fp32 w [rows, cols]
// (only those rows written).
void dequantize_rows(WeightFormat f, const void* src, int64_t rows, int64_t cols, int64_t group,
                     int64_t row_begin, int64_t row_end, float* w);

}  // namespace hs

#include "model/gguf_dequant.h"

#include <cstring>
#include <stdexcept>

#include "util/dtype.h"
#include "util/error.h"

namespace hs {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "GGUF data is little-endian");

namespace {

// A little-endian value at p (GGUF data need not be aligned for the type).
uint16_t load_u16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// Each function below turns `blocks` consecutive blocks at src into blocks * block_values
// floats at out (a block of F32, F16 or BF16 is one value).

void dequantize_f32(const uint8_t* src, int64_t blocks, float* out) {
  std::memcpy(out, src, static_cast<size_t>(blocks) * 4);
}

void dequantize_f16(const uint8_t* src, int64_t blocks, float* out) {
  for (int64_t i = 0; i < blocks; ++i) out[i] = f16_to_f32(load_u16(src + 2 * i));
}

void dequantize_bf16(const uint8_t* src, int64_t blocks, float* out) {
  for (int64_t i = 0; i < blocks; ++i) out[i] = bf16_to_f32(load_u16(src + 2 * i));
}

// Q8_0 block (34 bytes, 32 values): f16 d, int8 q[32].  x[i] = d * q[i].
void dequantize_q8_0(const uint8_t* src, int64_t blocks, float* out) {
  for (int64_t b = 0; b < blocks; ++b, src += 34, out += 32) {
    const float d = f16_to_f32(load_u16(src));
    const int8_t* q = reinterpret_cast<const int8_t*>(src + 2);
    for (int i = 0; i < 32; ++i) out[i] = d * q[i];
  }
}

// Q4_0 block (18 bytes, 32 values): f16 d, 16 bytes qs. Byte qs[j] holds value j in its low
// nibble and value j + 16 in its high nibble; a nibble q in 0..15 stands for q - 8.
//   x[j] = d * ((qs[j] & 15) - 8),  x[j + 16] = d * ((qs[j] >> 4) - 8).
void dequantize_q4_0(const uint8_t* src, int64_t blocks, float* out) {
  for (int64_t b = 0; b < blocks; ++b, src += 18, out += 32) {
    const float d = f16_to_f32(load_u16(src));
    const uint8_t* qs = src + 2;
    for (int j = 0; j < 16; ++j) {
      out[j] = d * ((qs[j] & 15) - 8);
      out[j + 16] = d * ((qs[j] >> 4) - 8);
    }
  }
}

// Q4_1 block (20 bytes, 32 values): f16 d, f16 m, 16 bytes qs in Q4_0's nibble order.
//   x[j] = d * (qs[j] & 15) + m,  x[j + 16] = d * (qs[j] >> 4) + m.
void dequantize_q4_1(const uint8_t* src, int64_t blocks, float* out) {
  for (int64_t b = 0; b < blocks; ++b, src += 20, out += 32) {
    const float d = f16_to_f32(load_u16(src));
    const float m = f16_to_f32(load_u16(src + 2));
    const uint8_t* qs = src + 4;
    for (int j = 0; j < 16; ++j) {
      out[j] = d * (qs[j] & 15) + m;
      out[j + 16] = d * (qs[j] >> 4) + m;
    }
  }
}

}  // namespace

void dequantize_rows(const GgufTensor& t, int64_t first_row, int64_t row_count, float* out) {
  const int64_t rows = t.rows();
  if (first_row < 0 || row_count < 0 || first_row > rows || row_count > rows - first_row)
    throw std::out_of_range(cat("dequantize_rows: rows [", first_row, ", ", first_row + row_count,
                                ") are outside tensor '", t.name, "' of ", rows, " rows"));
  // The reader checked that dims[0] is a whole number of blocks, so rows start on blocks.
  const int64_t blocks_per_row = t.dims[0] / gguf_block_values(t.type);
  const int64_t blocks = row_count * blocks_per_row;
  const uint8_t* src = t.data + first_row * blocks_per_row * gguf_block_bytes(t.type);
  switch (t.type) {
    case GgufType::F32:
      dequantize_f32(src, blocks, out);
      break;
    case GgufType::F16:
      dequantize_f16(src, blocks, out);
      break;
    case GgufType::BF16:
      dequantize_bf16(src, blocks, out);
      break;
    case GgufType::Q8_0:
      dequantize_q8_0(src, blocks, out);
      break;
    case GgufType::Q4_0:
      dequantize_q4_0(src, blocks, out);
      break;
    case GgufType::Q4_1:
      dequantize_q4_1(src, blocks, out);
      break;
  }
}

void dequantize(const GgufTensor& t, float* out) {
  dequantize_rows(t, 0, t.rows(), out);
}

}  // namespace hs

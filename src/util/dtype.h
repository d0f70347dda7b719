// Element types of tensors on disk, in the host pool and on the device, and the conversions
// between them. fp16 and bf16 are stored as raw 16-bit patterns (uint16_t).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

namespace hs {

enum class DType { f32, f16, bf16 };

inline size_t dtype_bytes(DType t) {
  return t == DType::f32 ? 4 : 2;
}
const char* dtype_name(DType t);          // "fp32", "fp16", "bf16"
DType parse_dtype(const std::string& s);  // accepts fp32/float32/fp16/float16/half/bf16/bfloat16

inline float bf16_to_f32(uint16_t h) {
  uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

// Round to nearest even, as torch does; NaN stays NaN.
inline uint16_t f32_to_bf16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x40);
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>(bits >> 16);
}

float f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);

// Converts n elements of type `from` at src into type `to` at dst (src and dst must not overlap).
void convert(DType from, const void* src, DType to, void* dst, size_t n);

// Rounds n floats in place to the nearest values of type t (nothing to do for f32).
void round_to(DType t, float* x, size_t n);

}  // namespace hs

#include "util/dtype.h"

#include <cmath>

#include "util/error.h"

namespace hs {

const char* dtype_name(DType t) {
  switch (t) {
    case DType::f32:
      return "fp32";
    case DType::f16:
      return "fp16";
    case DType::bf16:
      return "bf16";
  }
  return "?";
}

DType parse_dtype(const std::string& s) {
  if (s == "fp32" || s == "float32" || s == "f32") return DType::f32;
  if (s == "fp16" || s == "float16" || s == "half" || s == "f16") return DType::f16;
  if (s == "bf16" || s == "bfloat16") return DType::bf16;
  fail("unknown dtype '", s, "' (expected fp32, fp16 or bf16)");
}

// IEEE 754 binary16: 1 sign, 5 exponent (bias 15), 10 mantissa bits.
float f16_to_f32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu;
  const uint32_t man = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0) {
    if (man == 0) {
      bits = sign;
    } else {  // subnormal: value = man * 2^-24
      float f = std::ldexp(static_cast<float>(man), -24);
      std::memcpy(&bits, &f, 4);
      bits |= sign;
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | (man << 13);
  } else {
    bits = sign | ((exp + 112) << 23) | (man << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t f32_to_f16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  const uint16_t sign = static_cast<uint16_t>((bits >> 16) & 0x8000u);
  const uint32_t abs = bits & 0x7fffffffu;
  if (abs > 0x7f800000u) return sign | 0x7e00u;   // NaN
  if (abs >= 0x477ff000u) return sign | 0x7c00u;  // rounds to >= 65520: inf
  if (abs < 0x38800000u) {                        // below 2^-14: subnormal or zero
    // value / 2^-24, rounded to nearest even, is the subnormal mantissa.
    float a;
    std::memcpy(&a, &abs, 4);
    return sign | static_cast<uint16_t>(std::nearbyint(a * 16777216.0f));
  }
  uint32_t r = abs + 0xfffu + ((abs >> 13) & 1u);  // round mantissa to 10 bits, nearest even
  return sign | static_cast<uint16_t>(((r >> 13) - (112u << 10)));
}

void convert(DType from, const void* src, DType to, void* dst, size_t n) {
  if (from == to) {
    std::memcpy(dst, src, n * dtype_bytes(from));
    return;
  }
  // memcpy loads: tensors in a memory-mapped safetensors file need not be aligned.
  const auto* in = static_cast<const unsigned char*>(src);
  auto load = [&](size_t i) -> float {
    if (from == DType::f32) {
      float v;
      std::memcpy(&v, in + 4 * i, 4);
      return v;
    }
    uint16_t h;
    std::memcpy(&h, in + 2 * i, 2);
    return from == DType::f16 ? f16_to_f32(h) : bf16_to_f32(h);
  };
  for (size_t i = 0; i < n; ++i) {
    const float v = load(i);
    switch (to) {
      case DType::f32:
        static_cast<float*>(dst)[i] = v;
        break;
      case DType::f16:
        static_cast<uint16_t*>(dst)[i] = f32_to_f16(v);
        break;
      case DType::bf16:
        static_cast<uint16_t*>(dst)[i] = f32_to_bf16(v);
        break;
    }
  }
}

void round_to(DType t, float* x, size_t n) {
  if (t == DType::f16)
    for (size_t i = 0; i < n; ++i) x[i] = f16_to_f32(f32_to_f16(x[i]));
  else if (t == DType::bf16)
    for (size_t i = 0; i < n; ++i) x[i] = bf16_to_f32(f32_to_bf16(x[i]));
}

}  // namespace hs

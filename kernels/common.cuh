// Shared pieces of the kernels: fp16/bf16 <-> fp32 conversion, 16-byte vector loads and stores
// of 8 elements, e4m3 codes, warp and block reductions, and the dispatch from hs::DType to a
// kernel's element type. Kernels compute in fp32 and round once when they store.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "backend/cuda/cuda_check.h"
#include "util/dtype.h"

namespace hs::kernels {

__device__ __forceinline__ float to_f32(__half x) {
  return __half2float(x);
}
__device__ __forceinline__ float to_f32(__nv_bfloat16 x) {
  return __bfloat162float(x);
}
template <typename T>
__device__ __forceinline__ T from_f32(float x);
template <>
__device__ __forceinline__ __half from_f32<__half>(float x) {
  return __float2half_rn(x);
}
template <>
__device__ __forceinline__ __nv_bfloat16 from_f32<__nv_bfloat16>(float x) {
  return __float2bfloat16_rn(x);
}

// 8 elements = 16 bytes: the widest load a thread issues.
constexpr int kVec = 8;

template <typename T>
__device__ __forceinline__ void load8(const T* p, float (&f)[kVec]) {
  const uint4 raw = *reinterpret_cast<const uint4*>(p);
  const T* e = reinterpret_cast<const T*>(&raw);
#pragma unroll
  for (int i = 0; i < kVec; ++i) f[i] = to_f32(e[i]);
}

template <typename T>
__device__ __forceinline__ void store8(T* p, const float (&f)[kVec]) {
  uint4 raw;
  T* e = reinterpret_cast<T*>(&raw);
#pragma unroll
  for (int i = 0; i < kVec; ++i) e[i] = from_f32<T>(f[i]);
  *reinterpret_cast<uint4*>(p) = raw;
}

// 2 elements = 4 bytes (p 4-byte aligned).
template <typename T>
__device__ __forceinline__ void load2(const T* p, float& a, float& b) {
  const uint32_t raw = *reinterpret_cast<const uint32_t*>(p);
  const T* e = reinterpret_cast<const T*>(&raw);
  a = to_f32(e[0]);
  b = to_f32(e[1]);
}

template <typename T>
__device__ __forceinline__ void store2(T* p, float a, float b) {
  uint32_t raw;
  T* e = reinterpret_cast<T*>(&raw);
  e[0] = from_f32<T>(a);
  e[1] = from_f32<T>(b);
  *reinterpret_cast<uint32_t*>(p) = raw;
}

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// Sum over the block (blockDim.x a multiple of 32, at most 1024); every thread gets the result.
// `scratch` holds 32 floats of shared memory; the call ends with a barrier, so it may be reused.
__device__ __forceinline__ float block_sum(float v, float* scratch) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, n_warps = blockDim.x >> 5;
  v = warp_sum(v);
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = lane < n_warps ? scratch[lane] : 0.f;
  v = warp_sum(v);
  __syncthreads();
  return v;
}

// An e4m3 code's value in fp32, exactly (model/quant.h: e4m3_to_f32; codes 0x7f / 0xff, NaN,
// are never written by the quantisers): normal codes by placing exponent and mantissa in a
// float's bits, subnormals as mantissa * 2^-9.
__device__ __forceinline__ float e4m3_value(uint32_t q) {
  const uint32_t exp = (q >> 3) & 0xfu, man = q & 7u, sign = (q & 0x80u) << 24;
  if (exp == 0) return __uint_as_float(sign | __float_as_uint(__fmul_rn(float(man), 0.001953125f)));
  return __uint_as_float(sign | (exp + 120u) << 23 | man << 20);
}

// The e4m3 code nearest x, step for step model/quant.h's f32_to_e4m3 (ties to even, |x| from 448
// saturating; every operation exact or rounded once as there), so both give the same code.
__device__ __forceinline__ uint32_t e4m3_code(float x) {
  const uint32_t sign = signbit(x) ? 0x80u : 0u;
  const float a = fabsf(x);
  if (isnan(a)) return sign | 0x7fu;
  if (a >= 448.f) return sign | 0x7eu;
  if (a < 0.015625f) return sign | static_cast<uint32_t>(rintf(__fmul_rn(a, 512.f)));
  int e = 0;
  const float m = frexpf(a, &e);
  int q = static_cast<int>(rintf(ldexpf(m, 4))) - 8;
  int exp = e - 1 + 7;
  if (q == 8) {
    q = 0;
    ++exp;
  }
  if (exp > 15 || (exp == 15 && q > 6)) return sign | 0x7eu;
  return sign | static_cast<uint32_t>(exp << 3 | q);
}

inline bool aligned16(const void* p) {
  return (reinterpret_cast<uintptr_t>(p) & 15u) == 0;
}

// Blocks for a grid-stride loop over n items: enough to fill the GPU, never more than needed.
inline unsigned grid_for(int64_t n, int threads) {
  const int64_t want = (n + threads - 1) / threads;
  const int64_t cap = 65536;
  return static_cast<unsigned>(want < 1 ? 1 : (want > cap ? cap : want));
}

// Calls f(T{}) with T the CUDA element type of t (fp16 or bf16).
template <typename F>
void dispatch(DType t, F&& f) {
  if (t == DType::f16)
    f(__half{});
  else if (t == DType::bf16)
    f(__nv_bfloat16{});
  else
    fail("CUDA kernels take fp16 or bf16, not ", dtype_name(t));
}

}  // namespace hs::kernels

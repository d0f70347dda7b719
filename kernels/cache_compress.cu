// Compressed cache rows (model/cache_format.h): the twins of hs::compress_cache_row and
// hs::expand_cache_row on fp16 / bf16 rows. The arithmetic is the cpu's, operation by
// operation and each rounded once (__fsub_rn, __fdiv_rn, __fmaf_rn, rintf: round half to even),
// so the codes, the parameters and the expanded values are the cpu backend's bit for bit.
//
// compress: one thread a group of a row (it finds the group's min and max, or fp8's largest
// magnitude, then writes its codes, two int4 codes a byte); rows are gathered by an index (the
// working rows of the new tokens), and the same row index addresses the compressed rows, whose
// stride is cache_row_bytes. expand: chunks of 8 elements, one 16-byte store each, where widths,
// groups and pointers allow (every model's K/V and hidden widths with groups of 8k); otherwise one
// thread a pair of elements (one int4 code byte, or two int8 or fp8 codes), writing two.
#include "kernels/common.cuh"
#include "kernels/kernels.h"
#include "model/cache_format.h"

namespace hs::kernels {
namespace {

constexpr int kThreads = 256;

// The formats as the kernels take them (template and launch arguments).
enum Fmt : int { kInt8 = 0, kInt4 = 1, kFp8 = 2 };
Fmt fmt_of(CacheFormat f) {
  return f == CacheFormat::int8 ? kInt8 : f == CacheFormat::int4 ? kInt4 : kFp8;
}

__device__ __forceinline__ float half_bits_to_f32(uint16_t h) {
  return __half2float(__ushort_as_half(h));
}

template <typename T>
__global__ void compress_kernel(uint8_t* __restrict__ dst, const T* __restrict__ src,
                                const int32_t* __restrict__ rows, int64_t count, int64_t cols,
                                int64_t group, int64_t groups, int64_t row_bytes, int64_t params_at,
                                int64_t codes_bytes, Fmt fmt, float levels) {
  const int64_t n = count * groups, stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < n; e += stride) {
    const int64_t i = e / groups, g = e - i * groups;
    const int64_t r = rows ? rows[i] : i;
    const T* x = src + r * cols;
    uint8_t* out = dst + r * row_bytes;
    const int64_t c0 = g * group, c1 = min(cols, c0 + group);
    // The padding between codes and parameters is written as the cpu writes it (zeros), so a
    // compressed row's bytes are the same whichever backend wrote them.
    if (g == 0)
      for (int64_t b = codes_bytes; b < params_at; ++b) out[b] = 0;
    if (fmt == kFp8) {
      float amax = 0.f;
      for (int64_t c = c0; c < c1; ++c) amax = fmaxf(amax, fabsf(to_f32(x[c])));
      auto* scales = reinterpret_cast<uint16_t*>(out + params_at);
      const __half scale_h = __float2half_rn(__fdiv_rn(amax, 448.f));
      scales[g] = __half_as_ushort(scale_h);
      if (g == groups - 1 && groups % 2 == 1) scales[groups] = 0;  // the parameters' padding
      const float s = __half2float(scale_h);
      for (int64_t c = c0; c < c1; ++c)
        out[c] = s > 0 ? static_cast<uint8_t>(e4m3_code(__fdiv_rn(to_f32(x[c]), s))) : 0;
      continue;
    }
    float mn = to_f32(x[c0]), mx = mn;
    for (int64_t c = c0; c < c1; ++c) {
      const float v = to_f32(x[c]);
      mn = fminf(mn, v);
      mx = fmaxf(mx, v);
    }
    const __half scale_h = __float2half_rn(__fdiv_rn(__fsub_rn(mx, mn), levels));
    const __half min_h = __float2half_rn(mn);
    auto* params = reinterpret_cast<uint16_t*>(out + params_at);
    params[2 * g] = __half_as_ushort(scale_h);
    params[2 * g + 1] = __half_as_ushort(min_h);
    const float s = __half2float(scale_h), m = __half2float(min_h);
    auto code_of = [&](int64_t c) -> uint32_t {
      if (!(s > 0)) return 0u;
      const float q = rintf(__fdiv_rn(__fsub_rn(to_f32(x[c]), m), s));
      return static_cast<uint32_t>(fminf(fmaxf(q, 0.f), levels));
    };
    if (fmt == kInt8) {
      for (int64_t c = c0; c < c1; ++c) out[c] = static_cast<uint8_t>(code_of(c));
    } else {
      // Groups start on even elements (the launcher checks group and cols are even), so a
      // thread's code bytes are its own.
      for (int64_t c = c0; c < c1; c += 2)
        out[c / 2] = static_cast<uint8_t>(code_of(c) | code_of(c + 1) << 4);
    }
  }
}

template <typename T>
__global__ void expand_kernel(T* __restrict__ dst, const uint8_t* __restrict__ src, int64_t count,
                              int64_t cols, int64_t group, int64_t row_bytes, int64_t params_at,
                              Fmt fmt) {
  const int64_t pairs = (cols + 1) / 2, n = count * pairs;
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < n; e += stride) {
    const int64_t r = e / pairs, p = e - r * pairs;
    const uint8_t* row = src + r * row_bytes;
    const auto* params = reinterpret_cast<const uint16_t*>(row + params_at);
    uint32_t q0, q1;
    if (fmt != kInt4) {
      q0 = row[2 * p];
      q1 = 2 * p + 1 < cols ? row[2 * p + 1] : 0u;
    } else {
      const uint32_t b = row[p];
      q0 = b & 0xfu;
      q1 = b >> 4;
    }
    for (int k = 0; k < 2; ++k) {
      const int64_t c = 2 * p + k;
      if (c >= cols) break;
      const int64_t g = c / group;
      const uint32_t q = k == 0 ? q0 : q1;
      if (fmt == kFp8) {
        dst[r * cols + c] = from_f32<T>(__fmul_rn(e4m3_value(q), half_bits_to_f32(params[g])));
        continue;
      }
      const float s = half_bits_to_f32(params[2 * g]), m = half_bits_to_f32(params[2 * g + 1]);
      dst[r * cols + c] = from_f32<T>(__fmaf_rn(static_cast<float>(q), s, m));
    }
  }
}

// Chunks of 8 elements (cols % 8 == 0, group % 8 == 0, so a chunk lies in one row and one
// group; src 4-byte and dst 16-byte aligned): the chunk's codes in one (int4) or two (int8, fp8)
// 4-byte loads, its group's (scale, min) pair (fp8: scale) in one, and one 16-byte store of the
// 8 values, with the element kernel's arithmetic.
template <typename T, Fmt kFmt>
__global__ void expand_chunks_kernel(uint4* __restrict__ dst, const uint8_t* __restrict__ src,
                                     int64_t n_chunks, int64_t row_chunks, int64_t group,
                                     int64_t row_bytes, int64_t params_at) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n_chunks; i += stride) {
    const int64_t r = i / row_chunks, ch = i - r * row_chunks;
    const uint8_t* row = src + r * row_bytes;
    float f[kVec];
    if (kFmt == kFp8) {
      const float s = half_bits_to_f32(
          __ldg(reinterpret_cast<const unsigned short*>(row + params_at) + (ch * kVec) / group));
      const uint32_t lo = __ldg(reinterpret_cast<const uint32_t*>(row) + 2 * ch);
      const uint32_t hi = __ldg(reinterpret_cast<const uint32_t*>(row) + 2 * ch + 1);
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        f[j] = __fmul_rn(e4m3_value((lo >> (8 * j)) & 0xffu), s);
        f[4 + j] = __fmul_rn(e4m3_value((hi >> (8 * j)) & 0xffu), s);
      }
      store8(reinterpret_cast<T*>(dst + i), f);
      continue;
    }
    const uint32_t pair =
        __ldg(reinterpret_cast<const uint32_t*>(row + params_at) + (ch * kVec) / group);
    const float s = half_bits_to_f32(static_cast<uint16_t>(pair & 0xffffu));
    const float m = half_bits_to_f32(static_cast<uint16_t>(pair >> 16));
    if (kFmt == kInt8) {
      const uint32_t lo = __ldg(reinterpret_cast<const uint32_t*>(row) + 2 * ch);
      const uint32_t hi = __ldg(reinterpret_cast<const uint32_t*>(row) + 2 * ch + 1);
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        f[j] = __fmaf_rn(static_cast<float>((lo >> (8 * j)) & 0xffu), s, m);
        f[4 + j] = __fmaf_rn(static_cast<float>((hi >> (8 * j)) & 0xffu), s, m);
      }
    } else {
      const uint32_t q = __ldg(reinterpret_cast<const uint32_t*>(row) + ch);
#pragma unroll
      for (int j = 0; j < kVec; ++j)
        f[j] = __fmaf_rn(static_cast<float>((q >> (4 * j)) & 0xfu), s, m);
    }
    store8(reinterpret_cast<T*>(dst + i), f);
  }
}

}  // namespace

void compress_cache_rows(DType t, void* dst, const void* src, const int32_t* rows, int64_t count,
                         int64_t cols, CacheFormat f, int64_t group, cudaStream_t stream) {
  HS_CHECK(f != CacheFormat::native, "compress_cache_rows writes compressed rows, not native ones");
  HS_CHECK(count >= 0 && cols >= 0 && group > 0, "compress_cache_rows of ", count, " rows of ",
           cols, " in groups of ", group);
  if (count == 0 || cols == 0) return;
  const int64_t row_bytes = cache_row_bytes(f, cols, group, 2);
  const int64_t params_at = cache_row_params_at(f, cols), groups = (cols + group - 1) / group;
  HS_CHECK(f != CacheFormat::int4 || (group % 2 == 0 && cols % 2 == 0),
           "int4 cache rows need an even group size and row width, got ", group, " and ", cols);
  dispatch(t, [&](auto tag) {
    using T = decltype(tag);
    compress_kernel<T><<<grid_for(count * groups, kThreads), kThreads, 0, stream>>>(
        static_cast<uint8_t*>(dst), static_cast<const T*>(src), rows, count, cols, group, groups,
        row_bytes, params_at, f == CacheFormat::int4 ? cols / 2 : cols, fmt_of(f),
        static_cast<float>(cache_row_levels(f)));
    CUDA_CHECK_LAUNCH();
  });
}

void expand_cache_rows(DType t, void* dst, const void* src, int64_t count, int64_t cols,
                       CacheFormat f, int64_t group, cudaStream_t stream) {
  HS_CHECK(f != CacheFormat::native, "expand_cache_rows reads compressed rows, not native ones");
  HS_CHECK(count >= 0 && cols >= 0 && group > 0, "expand_cache_rows of ", count, " rows of ", cols,
           " in groups of ", group);
  if (count == 0 || cols == 0) return;
  const int64_t row_bytes = cache_row_bytes(f, cols, group, 2);
  const int64_t params_at = cache_row_params_at(f, cols);
  const bool chunks = cols % kVec == 0 && group % kVec == 0 && aligned16(dst) &&
                      reinterpret_cast<uintptr_t>(src) % 4 == 0;
  dispatch(t, [&](auto tag) {
    using T = decltype(tag);
    if (chunks) {
      const int64_t n = count * (cols / kVec);
      auto* out = static_cast<uint4*>(dst);
      const auto* in = static_cast<const uint8_t*>(src);
      const unsigned grid = grid_for(n, kThreads);
      if (f == CacheFormat::int8)
        expand_chunks_kernel<T, kInt8>
            <<<grid, kThreads, 0, stream>>>(out, in, n, cols / kVec, group, row_bytes, params_at);
      else if (f == CacheFormat::int4)
        expand_chunks_kernel<T, kInt4>
            <<<grid, kThreads, 0, stream>>>(out, in, n, cols / kVec, group, row_bytes, params_at);
      else
        expand_chunks_kernel<T, kFp8>
            <<<grid, kThreads, 0, stream>>>(out, in, n, cols / kVec, group, row_bytes, params_at);
      CUDA_CHECK_LAUNCH();
      return;
    }
    expand_kernel<T><<<grid_for(count * ((cols + 1) / 2), kThreads), kThreads, 0, stream>>>(
        static_cast<T*>(dst), static_cast<const uint8_t*>(src), count, cols, group, row_bytes,
        params_at, fmt_of(f));
    CUDA_CHECK_LAUNCH();
  });
}

}  // namespace hs::kernels

// Expansion of compressed weights (model/quant.h) into fp16 / bf16, the twin of
// hs::dequantize_rows rounded once to the element type:
//   int8: w[r, c] = q[r, c] * scale[r]                       one fp32 multiply
//   int4: w[r, c] = fma(q[r, c], scale[r, g], min[r, g])     one fp32 fma, g = c / group
//   fp8:  w[r, c] = e4m3(q[r, c]) * scale[r]                 the code's exact fp32 value, then
//                                                            one fp32 multiply
// written as __fmul_rn / __fmaf_rn so nvcc can neither contract nor split them: the result is
// the cpu's float multiply / std::fma bit for bit, before the one rounding to 16 bits.
//   w: [rows, cols] of T; src: quantized_bytes(f, rows, cols, group) bytes in quant.h's layout.
//
// Fast path (cols % 8 == 0, int4 groups % 8 == 0, src 8-byte and w 16-byte aligned): a thread
// expands chunks of 8 consecutive elements of a row, each from one load of its codes (8 bytes
// int8, 4 bytes int4) to one 16-byte store, kChunks chunks a block-width apart with all their
// loads issued before the first store (bytes in flight are what a memory-bound kernel's speed
// is made of). With cols % 8 == 0 no row has padding (an int4 row is cols / 2 bytes), so chunk i
// reads code bytes [8i, 8i + 8) or [4i, 4i + 4) and writes elements [8i, 8i + 8): consecutive
// threads touch consecutive bytes, and a chunk never straddles a row or a group, so it needs one
// scale (int8) or one (scale, min) pair (int4) -- partial last groups included. Codes become
// floats by an exponent bias (exact) and results fp16 / bf16 two at a time by the packed
// round-to-nearest-even conversion, so the conversion unit does half a conversion an element
// rather than two. Other shapes
// (odd cols, groups not a multiple of 8, unaligned pointers) take a generic kernel of one thread
// an element with the same arithmetic.
#include "kernels/common.cuh"
#include "kernels/kernels.h"
#include "model/quant.h"

namespace hs::kernels {
namespace {

constexpr int kThreads = 256;
constexpr int kChunks = 4;  // chunks a thread: 32 bytes of int8 codes in flight per thread
constexpr int64_t kBlockChunks = int64_t(kThreads) * kChunks;

// The (scale, min) pair as stored (fp16, scale at the lower address) to fp32, exactly.
__device__ __forceinline__ void unpack_params(uint32_t pair, float& scale, float& min) {
  scale = __half2float(__ushort_as_half(static_cast<unsigned short>(pair & 0xffffu)));
  min = __half2float(__ushort_as_half(static_cast<unsigned short>(pair >> 16)));
}

// Codes to fp32 without the conversion unit (16 operations a clock per SM on Hopper, an eighth of
// the fp32 rate, by the CUDA programming guide's throughput table): a byte b put under the
// exponent of 2^23 reads as 2^23 + b exactly, and one exact subtraction leaves b. prmt builds
// 0x4B0000bb.
// Code j of 4 packed int8s, biased word (word ^ 0x80808080: q + 128 in each byte).
__device__ __forceinline__ float int8_code(uint32_t biased, int j) {
  return __fsub_rn(__uint_as_float(__byte_perm(biased, 0x4B00u, 0x5440u | j)), 8388736.f);
}
// Code j of 8 packed int4s: element 2b in byte b's low nibble, 2b + 1 in its high one.
__device__ __forceinline__ float int4_code(uint32_t word, int j) {
  return __fsub_rn(__uint_as_float(0x4B000000u | ((word >> (4 * j)) & 0xfu)), 8388608.f);
}

// 8 fp32 values rounded to T (round to nearest even, as from_f32) and stored as 16 bytes, two
// at a time by the packed conversion.
__device__ __forceinline__ uint32_t pack2(__half, float lo, float hi) {
  const __half2 h = __floats2half2_rn(lo, hi);
  return *reinterpret_cast<const uint32_t*>(&h);
}
__device__ __forceinline__ uint32_t pack2(__nv_bfloat16, float lo, float hi) {
  const __nv_bfloat162 h = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<const uint32_t*>(&h);
}
template <typename T>
__device__ __forceinline__ void store_chunk(uint4* p, const float (&f)[kVec]) {
  *p = make_uint4(pack2(T{}, f[0], f[1]), pack2(T{}, f[2], f[3]), pack2(T{}, f[4], f[5]),
                  pack2(T{}, f[6], f[7]));
}

// int8 (kFp8 false) and fp8 (true): a byte a weight, an fp32 scale a row.
// Index: uint32_t when every chunk index fits (the divisions are then 32-bit), else uint64_t.
template <typename T, typename Index, bool kFp8>
__global__ void __launch_bounds__(kThreads)
    per_row_chunks_kernel(uint4* __restrict__ w, const uint2* __restrict__ codes,
                          const float* __restrict__ scales, Index n_chunks, Index row_chunks) {
  const Index first = static_cast<Index>(blockIdx.x) * kBlockChunks + threadIdx.x;
  uint2 q[kChunks];
  float s[kChunks];
#pragma unroll
  for (int k = 0; k < kChunks; ++k) {
    const Index i = first + static_cast<Index>(k) * kThreads;
    q[k] = i < n_chunks ? __ldg(codes + i) : make_uint2(0, 0);
    s[k] = i < n_chunks ? __ldg(scales + i / row_chunks) : 0.f;
  }
#pragma unroll
  for (int k = 0; k < kChunks; ++k) {
    const Index i = first + static_cast<Index>(k) * kThreads;
    if (i >= n_chunks) break;
    float f[kVec];
    if (kFp8) {
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        f[j] = __fmul_rn(e4m3_value((q[k].x >> (8 * j)) & 0xffu), s[k]);
        f[4 + j] = __fmul_rn(e4m3_value((q[k].y >> (8 * j)) & 0xffu), s[k]);
      }
    } else {
      const uint32_t lo = q[k].x ^ 0x80808080u, hi = q[k].y ^ 0x80808080u;
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        f[j] = __fmul_rn(int8_code(lo, j), s[k]);
        f[4 + j] = __fmul_rn(int8_code(hi, j), s[k]);
      }
    }
    store_chunk<T>(w + i, f);
  }
}

template <typename T>
__global__ void fp8_elements_kernel(T* __restrict__ w, const uint8_t* __restrict__ codes,
                                    const float* __restrict__ scales, int64_t rows, int64_t cols) {
  const int64_t n = rows * cols, stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < n; e += stride)
    w[e] = from_f32<T>(__fmul_rn(e4m3_value(codes[e]), scales[e / cols]));
}

// params: one 32-bit (scale, min) pair per (row, group); group_chunks = group / 8.
template <typename T, typename Index>
__global__ void __launch_bounds__(kThreads)
    int4_chunks_kernel(uint4* __restrict__ w, const uint32_t* __restrict__ codes,
                       const uint32_t* __restrict__ params, Index n_chunks, Index row_chunks,
                       Index groups, Index group_chunks) {
  const Index first = static_cast<Index>(blockIdx.x) * kBlockChunks + threadIdx.x;
  uint32_t q[kChunks], p[kChunks];
#pragma unroll
  for (int k = 0; k < kChunks; ++k) {
    const Index i = first + static_cast<Index>(k) * kThreads;
    const Index r = i / row_chunks, g = (i - r * row_chunks) / group_chunks;
    q[k] = i < n_chunks ? __ldg(codes + i) : 0u;
    p[k] = i < n_chunks ? __ldg(params + r * groups + g) : 0u;
  }
#pragma unroll
  for (int k = 0; k < kChunks; ++k) {
    const Index i = first + static_cast<Index>(k) * kThreads;
    if (i >= n_chunks) break;
    float scale, min, f[kVec];
    unpack_params(p[k], scale, min);
#pragma unroll
    for (int j = 0; j < kVec; ++j) f[j] = __fmaf_rn(int4_code(q[k], j), scale, min);
    store_chunk<T>(w + i, f);
  }
}

template <typename T>
__global__ void int8_elements_kernel(T* __restrict__ w, const int8_t* __restrict__ codes,
                                     const float* __restrict__ scales, int64_t rows, int64_t cols) {
  const int64_t n = rows * cols, stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < n; e += stride)
    w[e] = from_f32<T>(__fmul_rn(static_cast<float>(codes[e]), scales[e / cols]));
}

// params: [rows][groups][2] fp16 bits (scale, min).
template <typename T>
__global__ void int4_elements_kernel(T* __restrict__ w, const uint8_t* __restrict__ codes,
                                     const uint16_t* __restrict__ params, int64_t rows,
                                     int64_t cols, int64_t group, int64_t groups) {
  const int64_t n = rows * cols, stride = int64_t(gridDim.x) * blockDim.x;
  const int64_t row_bytes = (cols + 1) / 2;
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < n; e += stride) {
    const int64_t r = e / cols, c = e - r * cols;
    const uint8_t byte = codes[r * row_bytes + c / 2];
    const uint32_t code = c % 2 == 0 ? byte & 0xfu : byte >> 4;
    const uint16_t* sm = params + (r * groups + c / group) * 2;
    const float scale = __half2float(__ushort_as_half(sm[0]));
    const float min = __half2float(__ushort_as_half(sm[1]));
    w[e] = from_f32<T>(__fmaf_rn(static_cast<float>(code), scale, min));
  }
}

template <typename T, typename Index>
void launch_chunks(WeightFormat f, void* w, const uint8_t* src, const uint8_t* params, int64_t rows,
                   int64_t cols, int64_t group, cudaStream_t stream) {
  const int64_t n_chunks = rows * cols / kVec;
  const unsigned blocks = static_cast<unsigned>((n_chunks + kBlockChunks - 1) / kBlockChunks);
  auto* out = static_cast<uint4*>(w);
  if (f == WeightFormat::int8 || f == WeightFormat::fp8) {
    auto launch = f == WeightFormat::fp8 ? per_row_chunks_kernel<T, Index, true>
                                         : per_row_chunks_kernel<T, Index, false>;
    launch<<<blocks, kThreads, 0, stream>>>(
        out, reinterpret_cast<const uint2*>(src), reinterpret_cast<const float*>(params),
        static_cast<Index>(n_chunks), static_cast<Index>(cols / kVec));
  } else {
    int4_chunks_kernel<T, Index><<<blocks, kThreads, 0, stream>>>(
        out, reinterpret_cast<const uint32_t*>(src), reinterpret_cast<const uint32_t*>(params),
        static_cast<Index>(n_chunks), static_cast<Index>(cols / kVec),
        static_cast<Index>((cols + group - 1) / group), static_cast<Index>(group / kVec));
  }
  CUDA_CHECK_LAUNCH();
}

}  // namespace

void dequantize(DType t, void* w, const void* src, WeightFormat f, int64_t rows, int64_t cols,
                int64_t group, cudaStream_t stream) {
  HS_CHECK(f == WeightFormat::int8 || f == WeightFormat::int4 || f == WeightFormat::fp8,
           "dequantize expands int8, int4 or fp8 weights, not ", weight_format_name(f));
  HS_CHECK(rows >= 0 && cols >= 0, "dequantize of a ", rows, " x ", cols, " matrix");
  HS_CHECK(f != WeightFormat::int4 || group > 0, "int4 group size must be positive, got ", group);
  HS_CHECK(reinterpret_cast<uintptr_t>(src) % 4 == 0,
           "compressed weights must be at least 4-byte aligned (quant.h: 16)");
  if (rows == 0 || cols == 0) return;
  const auto* codes = static_cast<const uint8_t*>(src);
  // The parameters follow the codes (quant.h): an fp32 scale a row (int8) or an fp16 (scale,
  // min) pair a row and group (int4).
  const uint8_t* params = codes + quantized_params_at(f, rows, cols);

  const bool chunks = cols % kVec == 0 && (f != WeightFormat::int4 || group % kVec == 0) &&
                      reinterpret_cast<uintptr_t>(src) % 8 == 0 && aligned16(w);
  dispatch(t, [&](auto tag) {
    using T = decltype(tag);
    if (chunks) {
      if (rows * cols / kVec + kBlockChunks <= int64_t(UINT32_MAX))
        launch_chunks<T, uint32_t>(f, w, codes, params, rows, cols, group, stream);
      else
        launch_chunks<T, uint64_t>(f, w, codes, params, rows, cols, group, stream);
    } else if (f == WeightFormat::fp8) {
      fp8_elements_kernel<T><<<grid_for(rows * cols, kThreads), kThreads, 0, stream>>>(
          static_cast<T*>(w), codes, reinterpret_cast<const float*>(params), rows, cols);
      CUDA_CHECK_LAUNCH();
    } else if (f == WeightFormat::int8) {
      int8_elements_kernel<T><<<grid_for(rows * cols, kThreads), kThreads, 0, stream>>>(
          static_cast<T*>(w), reinterpret_cast<const int8_t*>(codes),
          reinterpret_cast<const float*>(params), rows, cols);
      CUDA_CHECK_LAUNCH();
    } else {
      int4_elements_kernel<T><<<grid_for(rows * cols, kThreads), kThreads, 0, stream>>>(
          static_cast<T*>(w), codes, reinterpret_cast<const uint16_t*>(params), rows, cols, group,
          (cols + group - 1) / group);
      CUDA_CHECK_LAUNCH();
    }
  });
}

}  // namespace hs::kernels

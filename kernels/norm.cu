// Row norms, twins of cpu::layernorm and cpu::rmsnorm.
//   layernorm: out = (x - mean) / sqrt(var + eps) * w + b    (biased variance, two passes)
//   rmsnorm:   out = w * (x / sqrt(mean(x^2) + eps))
//   out, x: [rows, dim]; w, b: [dim] (b may be null: no bias); out may alias x.
// One block per row, fp32 sums reduced through warps then the block. The row is read again for
// each pass; at the hidden sizes in use (<= 16K elements, <= 32 KB) it stays in L1/L2. Every read
// of x ends at a block barrier before the first write, so out may alias x.
#include "kernels/common.cuh"
#include "kernels/kernels.h"

namespace hs::kernels {
namespace {

constexpr int kThreads = 256;

// Sum over the row of f(x_i), by the whole block.
template <typename T, typename F>
__device__ float row_sum(const T* x, int64_t dim, bool vec, float* scratch, F f) {
  float acc = 0.f;
  if (vec) {
    for (int64_t i = threadIdx.x * kVec; i < dim; i += blockDim.x * kVec) {
      float a[kVec];
      load8(x + i, a);
#pragma unroll
      for (int j = 0; j < kVec; ++j) acc += f(a[j]);
    }
  } else {
    for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) acc += f(to_f32(x[i]));
  }
  return block_sum(acc, scratch);
}

template <typename T>
__global__ void layernorm_kernel(T* out, const T* x, const T* __restrict__ w,
                                 const T* __restrict__ b, int64_t rows, int64_t dim, float eps,
                                 bool vec) {
  __shared__ float scratch[32];
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* xr = x + r * dim;
    T* o = out + r * dim;
    const float mean = row_sum(xr, dim, vec, scratch, [](float v) { return v; }) / dim;
    const float var =
        row_sum(xr, dim, vec, scratch, [mean](float v) { return (v - mean) * (v - mean); }) / dim;
    const float inv = 1.f / sqrtf(var + eps);
    if (vec) {
      for (int64_t i = threadIdx.x * kVec; i < dim; i += blockDim.x * kVec) {
        float a[kVec], wv[kVec], bv[kVec];
        load8(xr + i, a);
        load8(w + i, wv);
        if (b) {
          load8(b + i, bv);
        } else {
#pragma unroll
          for (int j = 0; j < kVec; ++j) bv[j] = 0.f;
        }
#pragma unroll
        for (int j = 0; j < kVec; ++j) a[j] = (a[j] - mean) * inv * wv[j] + bv[j];
        store8(o + i, a);
      }
    } else {
      for (int64_t i = threadIdx.x; i < dim; i += blockDim.x)
        o[i] = from_f32<T>((to_f32(xr[i]) - mean) * inv * to_f32(w[i]) + (b ? to_f32(b[i]) : 0.f));
    }
  }
}

template <typename T>
__global__ void rmsnorm_kernel(T* out, const T* x, const T* __restrict__ w, int64_t rows,
                               int64_t dim, float eps, bool vec) {
  __shared__ float scratch[32];
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* xr = x + r * dim;
    T* o = out + r * dim;
    const float ms = row_sum(xr, dim, vec, scratch, [](float v) { return v * v; }) / dim;
    const float inv = 1.f / sqrtf(ms + eps);
    if (vec) {
      for (int64_t i = threadIdx.x * kVec; i < dim; i += blockDim.x * kVec) {
        float a[kVec], wv[kVec];
        load8(xr + i, a);
        load8(w + i, wv);
#pragma unroll
        for (int j = 0; j < kVec; ++j) a[j] = wv[j] * (a[j] * inv);
        store8(o + i, a);
      }
    } else {
      for (int64_t i = threadIdx.x; i < dim; i += blockDim.x)
        o[i] = from_f32<T>(to_f32(w[i]) * (to_f32(xr[i]) * inv));
    }
  }
}

unsigned row_grid(int64_t rows) {
  return static_cast<unsigned>(rows < 65536 ? rows : 65536);
}

}  // namespace

void layernorm(DType t, void* out, const void* x, const void* w, const void* b, int64_t rows,
               int64_t dim, float eps, cudaStream_t stream) {
  if (rows <= 0 || dim <= 0) return;
  const bool vec =
      dim % kVec == 0 && aligned16(out) && aligned16(x) && aligned16(w) && aligned16(b);
  dispatch(t, [&](auto tag) {
    using T = decltype(tag);
    layernorm_kernel<T><<<row_grid(rows), kThreads, 0, stream>>>(
        static_cast<T*>(out), static_cast<const T*>(x), static_cast<const T*>(w),
        static_cast<const T*>(b), rows, dim, eps, vec);
    CUDA_CHECK_LAUNCH();
  });
}

void rmsnorm(DType t, void* out, const void* x, const void* w, int64_t rows, int64_t dim, float eps,
             cudaStream_t stream) {
  if (rows <= 0 || dim <= 0) return;
  const bool vec = dim % kVec == 0 && aligned16(out) && aligned16(x) && aligned16(w);
  dispatch(t, [&](auto tag) {
    using T = decltype(tag);
    rmsnorm_kernel<T>
        <<<row_grid(rows), kThreads, 0, stream>>>(static_cast<T*>(out), static_cast<const T*>(x),
                                                  static_cast<const T*>(w), rows, dim, eps, vec);
    CUDA_CHECK_LAUNCH();
  });
}

}  // namespace hs::kernels

// Rotary position embedding in Hugging Face's rotate-half layout, twin of cpu::rope:
//   for each head and i < d/2, a = pos * inv_freq_i, inv_freq_i = 1 / theta^(2i/d):
//   (x_i, x_{i+d/2}) <- (x_i cos a - x_{i+d/2} sin a, x_{i+d/2} cos a + x_i sin a)
//   x: [rows, heads * head_dim] in place; pos: [rows].
// One thread per (row, i), looping over the heads, so the angle is computed once per row and
// frequency. inv_freq is computed in double and rounded to fp32 as the cpu does, the angle is
// the fp32 product pos * inv_freq (as HF), and its sine and cosine come from the precise
// sincosf: at position 2000 the angle is ~2e3 rad, where __sinf's error (~1e-3 absolute after its
// coarse range reduction) would exceed the fp16 tolerance; sincosf stays within 2 ulp.
#include "kernels/common.cuh"
#include "kernels/kernels.h"

namespace hs::kernels {
namespace {

constexpr int kThreads = 256;

template <typename T>
__global__ void rope_kernel(T* x, const int32_t* __restrict__ pos, int64_t rows, int64_t heads,
                            int64_t head_dim, float theta) {
  const int64_t half = head_dim / 2;
  const int64_t n = rows * half;
  for (int64_t it = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; it < n;
       it += int64_t(gridDim.x) * blockDim.x) {
    const int64_t r = it / half, i = it % half;
    const float inv_freq = static_cast<float>(1.0 / pow(double(theta), double(2 * i) / head_dim));
    const float a = static_cast<float>(pos[r]) * inv_freq;
    float s, c;
    sincosf(a, &s, &c);
    T* row = x + r * heads * head_dim;
    for (int64_t h = 0; h < heads; ++h) {
      T* p = row + h * head_dim;
      const float x0 = to_f32(p[i]), x1 = to_f32(p[i + half]);
      p[i] = from_f32<T>(x0 * c - x1 * s);
      p[i + half] = from_f32<T>(x1 * c + x0 * s);
    }
  }
}

}  // namespace

void rope(DType t, void* x, const int32_t* pos, int64_t rows, int64_t heads, int64_t head_dim,
          float theta, cudaStream_t stream) {
  HS_CHECK(head_dim % 2 == 0, "rope needs an even head_dim, got ", head_dim);
  if (rows <= 0 || heads <= 0 || head_dim <= 0) return;
  dispatch(t, [&](auto tag) {
    using T = decltype(tag);
    rope_kernel<T><<<grid_for(rows * (head_dim / 2), kThreads), kThreads, 0, stream>>>(
        static_cast<T*>(x), pos, rows, heads, head_dim, theta);
    CUDA_CHECK_LAUNCH();
  });
}

}  // namespace hs::kernels

// Elementwise kernels, twins of cpu::relu, cpu::scale, cpu::silu_mul and cpu::add, plus the
// bias broadcast that feeds cuBLAS's epilogue.
//   relu:     x = max(x, 0)                      x: [n]
//   scale:    x *= s                             x: [n]
//   silu_mul: out = gate / (1 + exp(-gate)) * up out, gate, up: [n]
//   add:      out = a + b                        out, a, b: [n]
// Grid-stride loops; 8 elements (16 bytes) a thread when every pointer is 16-byte aligned, the
// scalar tail after n rounded down to 8. Each output element is read and written by the same
// thread, so in-place calls (out aliasing an input) are safe. silu uses the precise expf.
#include "kernels/common.cuh"
#include "kernels/kernels.h"

namespace hs::kernels {
namespace {

constexpr int kThreads = 256;

struct Relu {
  __device__ float operator()(float x, float) const { return x > 0.f ? x : 0.f; }
};
struct Scale {
  float s;
  __device__ float operator()(float x, float) const { return x * s; }
};
struct SiluMul {
  __device__ float operator()(float g, float u) const { return g / (1.f + expf(-g)) * u; }
};
struct Add {
  __device__ float operator()(float a, float b) const { return a + b; }
};

// out[i] = f(a[i], b ? b[i] : 0).
template <typename T, typename F>
__global__ void map_kernel(T* out, const T* a, const T* b, int64_t n, bool vec, F f) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  const int64_t first = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  int64_t done = 0;
  if (vec) {
    const int64_t n_vec = n / kVec;
    for (int64_t v = first; v < n_vec; v += stride) {
      float x[kVec], y[kVec] = {0, 0, 0, 0, 0, 0, 0, 0};
      load8(a + v * kVec, x);
      if (b) load8(b + v * kVec, y);
#pragma unroll
      for (int j = 0; j < kVec; ++j) x[j] = f(x[j], y[j]);
      store8(out + v * kVec, x);
    }
    done = n_vec * kVec;
  }
  for (int64_t i = done + first; i < n; i += stride)
    out[i] = from_f32<T>(f(to_f32(a[i]), b ? to_f32(b[i]) : 0.f));
}

template <typename F>
void map(DType t, void* out, const void* a, const void* b, int64_t n, F f, cudaStream_t stream) {
  if (n <= 0) return;
  const bool vec = aligned16(out) && aligned16(a) && aligned16(b);
  const int64_t work = vec ? (n + kVec - 1) / kVec : n;
  dispatch(t, [&](auto tag) {
    using T = decltype(tag);
    map_kernel<T, F><<<grid_for(work, kThreads), kThreads, 0, stream>>>(
        static_cast<T*>(out), static_cast<const T*>(a), static_cast<const T*>(b), n, vec, f);
    CUDA_CHECK_LAUNCH();
  });
}

}  // namespace

void relu(DType t, void* x, int64_t n, cudaStream_t stream) {
  map(t, x, x, nullptr, n, Relu{}, stream);
}

void scale(DType t, void* x, float s, int64_t n, cudaStream_t stream) {
  map(t, x, x, nullptr, n, Scale{s}, stream);
}

void silu_mul(DType t, void* out, const void* gate, const void* up, int64_t n,
              cudaStream_t stream) {
  map(t, out, gate, up, n, SiluMul{}, stream);
}

void add(DType t, void* out, const void* a, const void* b, int64_t n, cudaStream_t stream) {
  map(t, out, a, b, n, Add{}, stream);
}

}  // namespace hs::kernels

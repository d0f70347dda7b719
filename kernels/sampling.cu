// Greedy sampling on the device: tokens[r] = argmax_i logits[r, i], the lowest i on ties, as
// hs::sample_token's greedy branch (engine/sampler.h).   logits: [rows, vocab] fp32; tokens:
// [rows], device or mapped pinned host memory.
// One block per row; each thread keeps its best (value, index) over a strided slice, then a
// warp and a block reduction with the same order: larger value wins, equal values -> lower
// index. NaN never wins (the cpu's `>` never picks one either, except a NaN at index 0, which
// it keeps; logits are finite in practice).
#include "kernels/common.cuh"
#include "kernels/kernels.h"

namespace hs::kernels {
namespace {

constexpr int kThreads = 512;

__device__ __forceinline__ bool better(float v, int64_t i, float bv, int64_t bi) {
  return v > bv || (v == bv && i < bi);
}

__global__ void argmax_kernel(int32_t* tokens, const float* __restrict__ logits, int64_t rows,
                              int64_t vocab) {
  __shared__ float s_val[32];
  __shared__ int64_t s_idx[32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const float* row = logits + r * vocab;
    float bv = -INFINITY;
    int64_t bi = vocab;  // "none yet": loses every tie against a real index
    for (int64_t i = threadIdx.x; i < vocab; i += blockDim.x) {
      const float v = row[i];
      if (better(v, i, bv, bi)) bv = v, bi = i;
    }
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
      const float ov = __shfl_xor_sync(0xffffffffu, bv, o);
      const int64_t oi = __shfl_xor_sync(0xffffffffu, bi, o);
      if (better(ov, oi, bv, bi)) bv = ov, bi = oi;
    }
    if (lane == 0) s_val[warp] = bv, s_idx[warp] = bi;
    __syncthreads();
    if (warp == 0) {
      const int n_warps = blockDim.x >> 5;
      bv = lane < n_warps ? s_val[lane] : -INFINITY;
      bi = lane < n_warps ? s_idx[lane] : vocab;
#pragma unroll
      for (int o = 16; o > 0; o >>= 1) {
        const float ov = __shfl_xor_sync(0xffffffffu, bv, o);
        const int64_t oi = __shfl_xor_sync(0xffffffffu, bi, o);
        if (better(ov, oi, bv, bi)) bv = ov, bi = oi;
      }
      // A row of only NaN / -inf leaves bi == vocab; the cpu answers 0 there.
      if (lane == 0) tokens[r] = static_cast<int32_t>(bi < vocab ? bi : 0);
    }
    __syncthreads();
  }
}

}  // namespace

void argmax_rows(int32_t* tokens, const float* logits, int64_t rows, int64_t vocab,
                 cudaStream_t stream) {
  HS_CHECK(vocab > 0, "argmax over an empty vocabulary");
  if (rows <= 0) return;
  const unsigned grid = static_cast<unsigned>(rows < 65536 ? rows : 65536);
  argmax_kernel<<<grid, kThreads, 0, stream>>>(tokens, logits, rows, vocab);
  CUDA_CHECK_LAUNCH();
}

}  // namespace hs::kernels

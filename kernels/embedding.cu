// Embedding lookups, twins of cpu::embed and cpu::add_rows.
//   embed:    out[r, :] = table[ids[r], :]     out: [rows, dim], table: [vocab, dim]
//   add_rows: x[r, :] += table[idx[r], :]      x: [rows, dim]
// One block per row (grid-stride over rows), threads across the row, 16-byte accesses when the
// row allows. add_rows adds in fp32 and rounds once.
#include "kernels/common.cuh"
#include "kernels/kernels.h"

namespace hs::kernels {
namespace {

constexpr int kThreads = 256;

template <typename T, bool kAdd>
__global__ void gather_rows_kernel(T* __restrict__ out, const T* __restrict__ table,
                                   const int32_t* __restrict__ ids, int64_t rows, int64_t dim,
                                   bool vec) {
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* src = table + static_cast<int64_t>(ids[r]) * dim;
    T* dst = out + r * dim;
    if (vec) {
      for (int64_t i = threadIdx.x * kVec; i < dim; i += blockDim.x * kVec) {
        float a[kVec];
        load8(src + i, a);
        if (kAdd) {
          float b[kVec];
          load8(dst + i, b);
#pragma unroll
          for (int j = 0; j < kVec; ++j) a[j] = b[j] + a[j];
        }
        store8(dst + i, a);
      }
    } else {
      for (int64_t i = threadIdx.x; i < dim; i += blockDim.x)
        dst[i] = kAdd ? from_f32<T>(to_f32(dst[i]) + to_f32(src[i])) : src[i];
    }
  }
}

template <bool kAdd>
void launch(DType t, void* out, const void* table, const int32_t* ids, int64_t rows, int64_t dim,
            cudaStream_t stream) {
  if (rows <= 0 || dim <= 0) return;
  const bool vec = dim % kVec == 0 && aligned16(out) && aligned16(table);
  const unsigned grid = static_cast<unsigned>(rows < 65536 ? rows : 65536);
  dispatch(t, [&](auto tag) {
    using T = decltype(tag);
    gather_rows_kernel<T, kAdd><<<grid, kThreads, 0, stream>>>(
        static_cast<T*>(out), static_cast<const T*>(table), ids, rows, dim, vec);
    CUDA_CHECK_LAUNCH();
  });
}

}  // namespace

void embed(DType t, void* out, const void* table, const int32_t* ids, int64_t rows, int64_t dim,
           cudaStream_t stream) {
  launch<false>(t, out, table, ids, rows, dim, stream);
}

void add_rows(DType t, void* x, const void* table, const int32_t* idx, int64_t rows, int64_t dim,
              cudaStream_t stream) {
  launch<true>(t, x, table, idx, rows, dim, stream);
}

}  // namespace hs::kernels

// Row gather / scatter: dst row dst_rows[i] = src row src_rows[i], i < n_rows.
//   dst: [*, row_bytes], src: [*, row_bytes] bytes; dst_rows, src_rows: [n_rows] (device).
// Either side may be mapped pinned host memory: the kernel then reads or writes it over PCIe
// (how new K/V or checkpoint rows go straight into their host-pool blocks). One thread per
// 16-byte unit (4- or 2-byte units when the rows or pointers are not 16-byte aligned), flat over
// (row, unit), so consecutive threads touch consecutive bytes of a row: full PCIe / DRAM lines.
#include "kernels/common.cuh"
#include "kernels/kernels.h"

namespace hs::kernels {
namespace {

constexpr int kThreads = 256;

template <typename U>
__global__ void copy_rows_kernel(U* dst, const int32_t* __restrict__ dst_rows, const U* src,
                                 const int32_t* __restrict__ src_rows, int64_t n_rows,
                                 int64_t row_units) {
  const int64_t total = n_rows * row_units;
  for (int64_t it = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; it < total;
       it += int64_t(gridDim.x) * blockDim.x) {
    const int64_t i = it / row_units, u = it % row_units;
    dst[static_cast<int64_t>(dst_rows[i]) * row_units + u] =
        src[static_cast<int64_t>(src_rows[i]) * row_units + u];
  }
}

template <typename U>
void launch(void* dst, const int32_t* dst_rows, const void* src, const int32_t* src_rows,
            int64_t n_rows, int64_t row_bytes, cudaStream_t stream) {
  const int64_t units = row_bytes / static_cast<int64_t>(sizeof(U));
  copy_rows_kernel<U><<<grid_for(n_rows * units, kThreads), kThreads, 0, stream>>>(
      static_cast<U*>(dst), dst_rows, static_cast<const U*>(src), src_rows, n_rows, units);
  CUDA_CHECK_LAUNCH();
}

}  // namespace

void copy_rows(void* dst, const int32_t* dst_rows, const void* src, const int32_t* src_rows,
               int64_t n_rows, int64_t row_bytes, cudaStream_t stream) {
  if (n_rows <= 0 || row_bytes <= 0) return;
  const uintptr_t bits =
      reinterpret_cast<uintptr_t>(dst) | reinterpret_cast<uintptr_t>(src) | uintptr_t(row_bytes);
  if (bits % 16 == 0)
    launch<uint4>(dst, dst_rows, src, src_rows, n_rows, row_bytes, stream);
  else if (bits % 4 == 0)
    launch<uint32_t>(dst, dst_rows, src, src_rows, n_rows, row_bytes, stream);
  else if (bits % 2 == 0)
    launch<uint16_t>(dst, dst_rows, src, src_rows, n_rows, row_bytes, stream);
  else
    launch<uint8_t>(dst, dst_rows, src, src_rows, n_rows, row_bytes, stream);
}

}  // namespace hs::kernels

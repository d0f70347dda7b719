// The one error check for CUDA and cuBLAS calls: a failed call throws hs::Error naming the file,
// the line, the call's text and the error, so a failure deep in a pipelined step still says
// where it came from. Kernel launches are followed by CUDA_CHECK_LAUNCH() (cudaGetLastError),
// which catches bad launch configurations at the launch rather than at the next sync.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include "util/error.h"

namespace hs::cuda {

inline void check_cuda(cudaError_t e, const char* call, const char* file, int line) {
  if (e != cudaSuccess)
    fail(file, ":", line, ": ", call, " failed: ", cudaGetErrorName(e), " (", cudaGetErrorString(e),
         ")");
}

inline void check_cublas(cublasStatus_t s, const char* call, const char* file, int line) {
  if (s != CUBLAS_STATUS_SUCCESS)
    fail(file, ":", line, ": ", call, " failed: ", cublasGetStatusName(s), " (",
         cublasGetStatusString(s), ")");
}

}  // namespace hs::cuda

#define CUDA_CHECK(call) ::hs::cuda::check_cuda((call), #call, __FILE__, __LINE__)
#define CUBLAS_CHECK(call) ::hs::cuda::check_cublas((call), #call, __FILE__, __LINE__)
#define CUDA_CHECK_LAUNCH() \
  ::hs::cuda::check_cuda(cudaGetLastError(), "kernel launch", __FILE__, __LINE__)

// H2D copy rate by run length: how fast the copy engines move a cache load made of runs of a
// given size, scattered over pinned host memory, as the engine issues them (one
// cudaMemcpyBatchAsync per load) and one cudaMemcpyAsync per run. A diagnostic program for the
// GPU machine, not part of the build:
//   nvcc -O2 -std=c++17 -arch=sm_90 -o h2d_runs tools/h2d_runs.cu -lcublas && ./h2d_runs [MiB]
//   ./h2d_runs footprint   (the rate against how much pinned memory the runs are spread over)
// Prints one line per run size: GB/s of each way, the best of three rounds; then the 2 MiB
// batched rate while other work runs beside the copies on another stream: kernels that stream
// device memory, only compute, tensor-core GEMMs, write mapped host memory, or D2H copies.
// docs/BENCHMARKS.md (07:12 section) has what it measured on an H100.
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <sys/mman.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#define CHECK(x)                                                                              \
  do {                                                                                        \
    cudaError_t e_ = (x);                                                                     \
    if (e_ != cudaSuccess) {                                                                  \
      std::fprintf(stderr, "%s:%d %s: %s\n", __FILE__, __LINE__, #x, cudaGetErrorString(e_)); \
      std::exit(1);                                                                           \
    }                                                                                         \
  } while (0)

namespace {

// Reads and writes device memory as fast as the SMs can: x[i] = y[i] + 1 over n floats.
__global__ void stream_hbm(float* x, const float* y, size_t n) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n;
       i += size_t(gridDim.x) * blockDim.x)
    x[i] = y[i] + 1.f;
}
// Writes mapped host memory from the SMs (zero-copy, as a write-back kernel would).
__global__ void write_host(float* host, size_t n, int reps) {
  for (int r = 0; r < reps; ++r)
    for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n;
         i += size_t(gridDim.x) * blockDim.x)
      host[i] = float(r);
}
// Only arithmetic: a dependent FMA chain per thread.
__global__ void spin_fma(float* out, int iters) {
  float a = threadIdx.x, b = 1.0001f;
  for (int i = 0; i < iters; ++i) a = fmaf(a, b, 0.5f);
  if (a == 12345.f) out[0] = a;
}

// Copies of equal runs, host to device.
struct Runs {
  std::vector<void*> dsts;
  std::vector<const void*> srcs;
  std::vector<size_t> sizes;
  size_t bytes() const { return std::accumulate(sizes.begin(), sizes.end(), size_t(0)); }
};

struct Timer {
  cudaStream_t s;
  cudaEvent_t a, b;
  Timer() {
    CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    CHECK(cudaEventCreate(&a));
    CHECK(cudaEventCreate(&b));
  }
  // GB/s of `bytes` moved by what `enqueue` puts on the stream.
  double gbps(size_t bytes, const std::function<void()>& enqueue) {
    CHECK(cudaEventRecord(a, s));
    enqueue();
    CHECK(cudaEventRecord(b, s));
    CHECK(cudaEventSynchronize(b));
    float ms = 0;
    CHECK(cudaEventElapsedTime(&ms, a, b));
    return double(bytes) / (ms * 1e6);
  }
  // The runs by cudaMemcpyBatchAsync, `per_call` at a time, as Backend::copy_runs issues them.
  double batched(const Runs& r, size_t per_call, unsigned flags) {
    return gbps(r.bytes(), [&] {
      cudaMemcpyAttributes attr{};
      attr.srcAccessOrder = cudaMemcpySrcAccessOrderStream;
      attr.flags = flags;
      size_t attr_index = 0;
      for (size_t i = 0; i < r.sizes.size(); i += per_call)
        CHECK(cudaMemcpyBatchAsync(
            const_cast<void**>(r.dsts.data()) + i, const_cast<const void**>(r.srcs.data()) + i,
            const_cast<size_t*>(r.sizes.data()) + i, std::min(per_call, r.sizes.size() - i), &attr,
            &attr_index, 1, s));
    });
  }
};

constexpr unsigned kOverlap = cudaMemcpyFlagPreferOverlapWithCompute;

// Batched 2 MiB runs scattered over `footprint` bytes of pinned memory: from cudaHostAlloc
// (4 KiB pages) or from 2 MiB-aligned memory advised into transparent huge pages and pinned by
// cudaHostRegister. Best GB/s of three rounds of 2 GiB.
double footprint_rate(size_t footprint, bool huge, char* dev, Timer& t) {
  char* host = nullptr;
  if (huge) {
    void* p = mmap(nullptr, footprint, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return -1;
    madvise(p, footprint, MADV_HUGEPAGE);
    host = static_cast<char*>(p);
    for (size_t i = 0; i < footprint; i += 4096) host[i] = 1;
    CHECK(cudaHostRegister(host, footprint, cudaHostRegisterPortable | cudaHostRegisterMapped));
  } else {
    CHECK(cudaHostAlloc(reinterpret_cast<void**>(&host), footprint,
                        cudaHostAllocPortable | cudaHostAllocMapped));
    for (size_t i = 0; i < footprint; i += 4096) host[i] = 1;
  }
  const size_t run = size_t(2) << 20, n = (size_t(2) << 30) / run, places = footprint / run;
  std::mt19937 rng(7);
  Runs r;
  for (size_t i = 0; i < n; ++i) {
    r.dsts.push_back(dev + (i % 512) * run);
    r.srcs.push_back(host + (rng() % places) * run);
    r.sizes.push_back(run);
  }
  double best = 0;
  for (int round = 0; round < 3; ++round) best = std::max(best, t.batched(r, 48, kOverlap));
  if (huge) {
    CHECK(cudaHostUnregister(host));
    munmap(host, footprint);
  } else {
    CHECK(cudaFreeHost(host));
  }
  return best;
}

int footprints() {
  char* dev = nullptr;
  CHECK(cudaMalloc(&dev, size_t(1) << 30));
  Timer t;
  std::printf("footprint_GiB pinned_gbps huge_pages_registered_gbps\n");
  for (size_t gib : {1, 4, 16, 32}) {
    const double p = footprint_rate(gib << 30, false, dev, t);
    const double h = footprint_rate(gib << 30, true, dev, t);
    std::printf("%zu %.2f %.2f\n", gib, p, h);
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::string(argv[1]) == "footprint") return footprints();
  const size_t total = (argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 1024) << 20;
  char *host = nullptr, *dev = nullptr;
  // As the engine's pool: pinned, portable, mapped; twice the bytes, so sources scatter.
  CHECK(cudaHostAlloc(reinterpret_cast<void**>(&host), 2 * total,
                      cudaHostAllocPortable | cudaHostAllocMapped));
  CHECK(cudaMalloc(&dev, total));
  for (size_t i = 0; i < 2 * total; i += 4096) host[i] = static_cast<char>(i);
  Timer t;
  std::mt19937 rng(1);
  std::printf("run_bytes runs batch_gbps batch_noflag_gbps per_run_gbps\n");
  for (size_t run :
       {size_t(64) << 10, size_t(128) << 10, size_t(256) << 10, size_t(512) << 10, size_t(1) << 20,
        size_t(2) << 20, size_t(4) << 20, size_t(16) << 20, size_t(64) << 20, size_t(256) << 20}) {
    const size_t n = total / run;
    // Sources: n of the 2n run-sized places of the host buffer, in a shuffled order.
    std::vector<size_t> place(2 * n);
    std::iota(place.begin(), place.end(), size_t(0));
    std::shuffle(place.begin(), place.end(), rng);
    Runs r;
    for (size_t i = 0; i < n; ++i) {
      r.dsts.push_back(dev + i * run);
      r.srcs.push_back(host + place[i] * run);
      r.sizes.push_back(run);
    }
    double best[3] = {0, 0, 0};
    for (int round = 0; round < 3; ++round) {
      // In loads of at most 512 runs, as the engine's items are.
      best[0] = std::max(best[0], t.batched(r, 512, kOverlap));
      best[1] = std::max(best[1], t.batched(r, 512, 0));
      best[2] = std::max(best[2], t.gbps(r.bytes(), [&] {
        for (size_t i = 0; i < n; ++i)
          CHECK(cudaMemcpyAsync(r.dsts[i], r.srcs[i], run, cudaMemcpyHostToDevice, t.s));
      }));
    }
    std::printf("%zu %zu %.2f %.2f %.2f\n", run, n, best[0], best[1], best[2]);
  }

  // The 2 MiB batched copies with other work beside them on another stream.
  const size_t run = size_t(2) << 20, n = total / run;
  Runs r;
  for (size_t i = 0; i < n; ++i) {
    r.dsts.push_back(dev + i * run);
    r.srcs.push_back(host + (2 * i + 1) % (2 * n) * run);
    r.sizes.push_back(run);
  }
  const size_t floats = size_t(1) << 29;  // 2 GiB each
  float *x = nullptr, *y = nullptr;
  CHECK(cudaMalloc(&x, floats * 4));
  CHECK(cudaMalloc(&y, floats * 4));
  CHECK(cudaMemset(y, 0, floats * 4));
  cudaStream_t k;
  CHECK(cudaStreamCreateWithFlags(&k, cudaStreamNonBlocking));
  cublasHandle_t blas;
  if (cublasCreate(&blas) != CUBLAS_STATUS_SUCCESS) std::exit(1);
  cublasSetStream(blas, k);
  float* host_out = nullptr;  // zero-copy target: 64 MiB of mapped pinned memory
  CHECK(cudaHostAlloc(reinterpret_cast<void**>(&host_out), size_t(64) << 20,
                      cudaHostAllocPortable | cudaHostAllocMapped));
  const char* names[] = {"nothing", "hbm", "fma", "gemm", "host-writes", "d2h-copies"};
  for (int mode = 0; mode < 6; ++mode) {
    double best = 0;
    for (int round = 0; round < 3; ++round) {
      // Enough work beside to outlast the copies (~20 ms at 55 GB/s for 1 GiB).
      for (int i = 0; i < 40 && mode > 0; ++i) {
        if (mode == 1) stream_hbm<<<132 * 8, 256, 0, k>>>(x, y, floats);
        if (mode == 2) spin_fma<<<132 * 8, 256, 0, k>>>(x, 1 << 19);
        if (mode == 3) {  // fp16 tensor-core GEMMs, 8192^3: ~1.4 ms each
          const float one = 1.f, zero = 0.f;
          cublasGemmEx(blas, CUBLAS_OP_T, CUBLAS_OP_N, 8192, 8192, 8192, &one, x, CUDA_R_16F, 8192,
                       y, CUDA_R_16F, 8192, &zero, x + (size_t(1) << 27), CUDA_R_16F, 8192,
                       CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
        }
        if (mode == 4) write_host<<<132, 256, 0, k>>>(host_out, size_t(16) << 20, 4);
        if (mode == 5)
          CHECK(cudaMemcpyAsync(host_out, y, size_t(64) << 20, cudaMemcpyDeviceToHost, k));
      }
      CHECK(cudaGetLastError());
      best = std::max(best, t.batched(r, 48, kOverlap));
      CHECK(cudaStreamSynchronize(k));
    }
    std::printf("beside %s: %.2f GB/s\n", names[mode], best);
  }
  return 0;
}

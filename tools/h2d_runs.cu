// H2D copy rate by run length: how fast the copy engines move a cache load made of runs of a
// given size, scattered over pinned host memory, as the engine issues them (one
// cudaMemcpyBatchAsync per load) and one cudaMemcpyAsync per run. A diagnostic program for the
// GPU machine, not part of the build:
//   nvcc -O2 -std=c++17 -arch=sm_90 -o h2d_runs tools/h2d_runs.cu -lcublas && ./h2d_runs [MiB]
//   ./h2d_runs footprint   (the rate against how much pinned memory the runs are spread over)
//   ./h2d_runs kernel [MiB]  (the runs copied by SMs reading mapped host memory, by block count,
//                             alone and beside GEMMs, against the copy engines beside them)
//   ./h2d_runs sustained [seconds]   (the rate, second by second, before, during and after
//                                     GEMMs that keep the GPU at its power limit)
//   ./h2d_runs timeline SECONDS FILE (every load of 64 MiB, back to back, alone: its start in
//                                     ms and its GB/s, into FILE; shows when the link is slow)
// Prints one line per run size: GB/s of each way, the best of three rounds; then the 2 MiB
// batched rate while other work runs beside the copies on another stream: kernels that stream
// device memory, only compute, tensor-core GEMMs, write mapped host memory, D2H copies, or a
// second stream of H2D copies (as the engine's weight and cache loads; the two streams'
// bytes over their span), or cudaMemcpyAsync device-to-device copies.
// docs/BENCHMARKS.md, "The H100 link's own rate", has what it measured on H100s.
#include <cublas_v2.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <sys/mman.h>

#include <algorithm>
#include <chrono>
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

// Copies runs of run_words 16-byte words, host to device, by the SMs instead of the copy
// engines: each thread reads words of the mapped (UVA) host sources and writes them to the
// device, with U loads in flight per thread so that enough reads are outstanding to fill the link.
__global__ void read_host_runs(char* const* dsts, const char* const* srcs, size_t run_words,
                               size_t n_words) {
  constexpr int U = 8;
  const size_t stride = size_t(gridDim.x) * blockDim.x;
  for (size_t base = blockIdx.x * size_t(blockDim.x) + threadIdx.x; base < n_words;
       base += stride * U) {
    uint4 v[U];
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const size_t i = base + u * stride;
      if (i < n_words) v[u] = reinterpret_cast<const uint4*>(srcs[i / run_words])[i % run_words];
    }
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const size_t i = base + u * stride;
      if (i < n_words) reinterpret_cast<uint4*>(dsts[i / run_words])[i % run_words] = v[u];
    }
  }
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
    return gbps(r.bytes(), [&] { enqueue_batched(r, per_call, flags, s); });
  }
  static void enqueue_batched(const Runs& r, size_t per_call, unsigned flags, cudaStream_t on) {
    cudaMemcpyAttributes attr{};
    attr.srcAccessOrder = cudaMemcpySrcAccessOrderStream;
    attr.flags = flags;
    size_t attr_index = 0;
    for (size_t i = 0; i < r.sizes.size(); i += per_call)
      CHECK(cudaMemcpyBatchAsync(
          const_cast<void**>(r.dsts.data()) + i, const_cast<const void**>(r.srcs.data()) + i,
          const_cast<size_t*>(r.sizes.data()) + i, std::min(per_call, r.sizes.size() - i), &attr,
          &attr_index, 1, on));
  }
  // GB/s of two batched loads at once, `a` on this stream and `b` on `other`: both loads'
  // bytes over the span from the first start to the last end.
  double two_streams(const Runs& ra, const Runs& rb, cudaStream_t other, unsigned flags) {
    cudaEvent_t joined;
    CHECK(cudaEventCreateWithFlags(&joined, cudaEventDisableTiming));
    const double rate = gbps(ra.bytes() + rb.bytes(), [&] {
      CHECK(cudaEventRecord(joined, s));
      CHECK(cudaStreamWaitEvent(other, joined, 0));
      enqueue_batched(rb, 48, flags, other);
      enqueue_batched(ra, 48, flags, s);
      CHECK(cudaEventRecord(joined, other));
      CHECK(cudaStreamWaitEvent(s, joined, 0));
    });
    CHECK(cudaEventDestroy(joined));
    return rate;
  }
};

constexpr unsigned kOverlap = cudaMemcpyFlagPreferOverlapWithCompute;

// What runs beside the copies: two device buffers of `floats` floats each, zeroed, and a stream
// with a cuBLAS handle on it.
struct Beside {
  float *x = nullptr, *y = nullptr;
  cudaStream_t k;
  cublasHandle_t blas;
  explicit Beside(size_t floats) {
    CHECK(cudaMalloc(&x, floats * 4));
    CHECK(cudaMalloc(&y, floats * 4));
    CHECK(cudaMemset(x, 0, floats * 4));
    CHECK(cudaMemset(y, 0, floats * 4));
    CHECK(cudaStreamCreateWithFlags(&k, cudaStreamNonBlocking));
    if (cublasCreate(&blas) != CUBLAS_STATUS_SUCCESS) std::exit(1);
    cublasSetStream(blas, k);
  }
};

// total / run runs of `run` bytes into dev, back to back, from n of the 2n run-sized places of
// host (2 * total bytes), in a shuffled order: sources scattered as a cache's blocks are.
Runs scattered_runs(char* dev, char* host, size_t total, size_t run, std::mt19937& rng) {
  const size_t n = total / run;
  std::vector<size_t> place(2 * n);
  std::iota(place.begin(), place.end(), size_t(0));
  std::shuffle(place.begin(), place.end(), rng);
  Runs r;
  for (size_t i = 0; i < n; ++i) {
    r.dsts.push_back(dev + i * run);
    r.srcs.push_back(host + place[i] * run);
    r.sizes.push_back(run);
  }
  return r;
}

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

// One load of `bytes` in 2 MiB runs, from every other run-sized place of a pinned host buffer
// twice its size into a device buffer of its size (both kept for the program's life).
Runs one_load(size_t bytes) {
  const size_t run = size_t(2) << 20, n = bytes / run;
  char *host = nullptr, *dev = nullptr;
  CHECK(cudaHostAlloc(reinterpret_cast<void**>(&host), 2 * bytes,
                      cudaHostAllocPortable | cudaHostAllocMapped));
  CHECK(cudaMalloc(&dev, bytes));
  for (size_t i = 0; i < 2 * bytes; i += 4096) host[i] = 1;
  Runs r;
  for (size_t i = 0; i < n; ++i) {
    r.dsts.push_back(dev + i * run);
    r.srcs.push_back(host + (2 * i + 1) % (2 * n) * run);
    r.sizes.push_back(run);
  }
  return r;
}

// The batched 2 MiB rate, second by second: `phase` seconds alone, 3 x `phase` seconds beside
// fp16 GEMMs that keep the multiprocessors busy (and the GPU at its power limit, as a long
// decode does), `phase` seconds alone again. Prints each second's mean and slowest load of
// 256 MiB; sample clocks and power beside it (nvidia-smi -lms) to see what the GPU did.
int sustained(int phase) {
  const Runs r = one_load(size_t(256) << 20);
  const size_t dim = 8192, elems = dim * dim;
  __half* m = nullptr;
  CHECK(cudaMalloc(&m, 3 * elems * sizeof(__half)));
  CHECK(cudaMemset(m, 0, 3 * elems * sizeof(__half)));
  cudaStream_t k;
  CHECK(cudaStreamCreateWithFlags(&k, cudaStreamNonBlocking));
  cublasHandle_t blas;
  if (cublasCreate(&blas) != CUBLAS_STATUS_SUCCESS) std::exit(1);
  cublasSetStream(blas, k);
  cudaEvent_t fed;
  CHECK(cudaEventCreateWithFlags(&fed, cudaEventDisableTiming));
  Timer t;
  const auto t0 = std::chrono::steady_clock::now();
  auto now_s = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  std::printf("second phase mean_gbps slowest_gbps loads\n");
  for (int sec = 0; sec < 5 * phase; ++sec) {
    const bool gemms = sec >= phase && sec < 4 * phase;
    double sum = 0, low = 1e9;
    int loads = 0;
    while (now_s() < sec + 1) {
      // Keep GEMMs queued (~1.5 ms each): 10 more whenever the 5th of the last 10 has run, so
      // ~8 ms of them are still queued while this loop waits ~5 ms for a load.
      if (gemms && cudaEventQuery(fed) == cudaSuccess) {
        const float one = 1.f, zero = 0.f;
        for (int i = 0; i < 10; ++i) {
          cublasGemmEx(blas, CUBLAS_OP_T, CUBLAS_OP_N, dim, dim, dim, &one, m, CUDA_R_16F, dim,
                       m + elems, CUDA_R_16F, dim, &zero, m + 2 * elems, CUDA_R_16F, dim,
                       CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
          if (i == 4) CHECK(cudaEventRecord(fed, k));
        }
      }
      const double g = t.batched(r, 48, kOverlap);
      sum += g;
      low = std::min(low, g);
      ++loads;
    }
    std::printf("%d %s %.2f %.2f %d\n", sec, gemms ? "gemms" : "alone", sum / loads, low, loads);
    std::fflush(stdout);
  }
  CHECK(cudaStreamSynchronize(k));
  return 0;
}

// Loads of 64 MiB (2 MiB runs, batched), back to back for `seconds`, nothing else on the GPU:
// each load's start (ms from the first) and GB/s, one line each, into `path`.
int timeline(double seconds, const char* path) {
  const Runs r = one_load(size_t(64) << 20);
  FILE* f = std::fopen(path, "w");
  if (!f) return 1;
  std::fprintf(f, "start_ms,gbps\n");
  Timer t;
  t.batched(r, 48, kOverlap);  // untimed: first use
  const auto t0 = std::chrono::steady_clock::now();
  double ms = 0, sum = 0;
  int loads = 0, slow = 0;
  while (ms < seconds * 1e3) {
    ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    const double g = t.batched(r, 48, kOverlap);
    std::fprintf(f, "%.3f,%.2f\n", ms, g);
    sum += g;
    slow += g < 40;
    ++loads;
  }
  std::fclose(f);
  std::printf("timeline: %d loads of 64 MiB in %.1f s, mean %.2f GB/s, %d below 40 GB/s\n", loads,
              ms / 1e3, sum / loads, slow);
  return 0;
}

}  // namespace

// The same 2 MiB runs moved by read_host_runs with a given number of blocks, alone and beside
// fp16 GEMMs on another stream, against the copy engines (cudaMemcpyBatchAsync) beside the same
// GEMMs; and what each does to the GEMMs' own time.
int kernel_copies(size_t total) {
  char *host = nullptr, *dev = nullptr;
  CHECK(cudaHostAlloc(reinterpret_cast<void**>(&host), 2 * total,
                      cudaHostAllocPortable | cudaHostAllocMapped));
  CHECK(cudaMalloc(&dev, total));
  for (size_t i = 0; i < 2 * total; i += 4096) host[i] = static_cast<char>(i);
  const size_t run = size_t(2) << 20, n = total / run;
  std::mt19937 rng(1);
  const Runs r = scattered_runs(dev, host, total, run, rng);
  char** d_dsts = nullptr;
  const char** d_srcs = nullptr;
  CHECK(cudaMalloc(&d_dsts, n * sizeof(char*)));
  CHECK(cudaMalloc(&d_srcs, n * sizeof(char*)));
  CHECK(cudaMemcpy(d_dsts, r.dsts.data(), n * sizeof(char*), cudaMemcpyHostToDevice));
  CHECK(cudaMemcpy(d_srcs, r.srcs.data(), n * sizeof(char*), cudaMemcpyHostToDevice));
  const size_t floats = size_t(1) << 28;  // 1 GiB each
  Beside w(floats);
  float *x = w.x, *y = w.y;
  cudaStream_t k = w.k;
  cublasHandle_t blas = w.blas;
  cudaEvent_t g0, g1;
  CHECK(cudaEventCreate(&g0));
  CHECK(cudaEventCreate(&g1));
  auto gemms = [&](int count) {  // fp16 8192^3 GEMMs on k, ~1.4 ms each
    const float one = 1.f, zero = 0.f;
    CHECK(cudaEventRecord(g0, k));
    for (int i = 0; i < count; ++i)
      cublasGemmEx(blas, CUBLAS_OP_T, CUBLAS_OP_N, 8192, 8192, 8192, &one, x, CUDA_R_16F, 8192, y,
                   CUDA_R_16F, 8192, &zero, x + (size_t(1) << 26), CUDA_R_16F, 8192,
                   CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
    CHECK(cudaEventRecord(g1, k));
  };
  auto gemm_ms = [&] {
    CHECK(cudaEventSynchronize(g1));
    float ms = 0;
    CHECK(cudaEventElapsedTime(&ms, g0, g1));
    return double(ms);
  };
  Timer t;
  const size_t words = total / 16, run_words = run / 16;
  // Beside: fp16 GEMMs (compute-bound, as a prefill's or a recompute's) or a kernel streaming
  // device memory (as a decode step's small-batch GEMMs and the expansions are).
  auto hbm = [&](int count) {
    CHECK(cudaEventRecord(g0, k));
    for (int i = 0; i < count; ++i) stream_hbm<<<132 * 8, 256, 0, k>>>(x, y, floats);
    CHECK(cudaEventRecord(g1, k));
  };
  gemms(20);
  const double gemm_alone = gemm_ms();
  hbm(40);
  const double hbm_alone = gemm_ms();
  std::printf("alone: 20 GEMMs %.2f ms, 40 HBM passes %.2f ms\n", gemm_alone, hbm_alone);
  std::printf(
      "copier blocks alone_gbps beside_gemm_gbps gemm_ms_beside beside_hbm_gbps "
      "hbm_ms_beside\n");
  // blocks 0: the copy engines (cudaMemcpyBatchAsync, 48 runs a call).
  for (int blocks : {0, 2, 4, 8, 16, 32, 66, 132}) {
    auto enqueue = [&] {
      if (blocks == 0)
        Timer::enqueue_batched(r, 48, kOverlap, t.s);
      else
        read_host_runs<<<blocks, 512, 0, t.s>>>(d_dsts, d_srcs, run_words, words);
    };
    double alone = 0, by_gemm = 0, by_hbm = 0, gms = 1e30, hms = 1e30;
    for (int round = 0; round < 3; ++round) {
      alone = std::max(alone, t.gbps(total, enqueue));
      gemms(20);  // ~28 ms: outlasts a 1 GiB load at 55 GB/s (~20 ms)
      by_gemm = std::max(by_gemm, t.gbps(total, enqueue));
      gms = std::min(gms, gemm_ms());
      hbm(40);  // 2 x 1 GiB a pass: ~30 ms at 3 TB/s
      by_hbm = std::max(by_hbm, t.gbps(total, enqueue));
      hms = std::min(hms, gemm_ms());
    }
    CHECK(cudaGetLastError());
    std::printf("%s %d %.2f %.2f %.2f %.2f %.2f\n", blocks ? "kernel" : "dma", blocks, alone,
                by_gemm, gms, by_hbm, hms);
  }
  return 0;
}

int main(int argc, char** argv) {
  if (argc > 3 && std::string(argv[1]) == "timeline") return timeline(std::atof(argv[2]), argv[3]);
  if (argc > 1 && std::string(argv[1]) == "footprint") return footprints();
  if (argc > 1 && std::string(argv[1]) == "kernel")
    return kernel_copies((argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 1024) << 20);
  if (argc > 1 && std::string(argv[1]) == "sustained")
    return sustained(argc > 2 ? std::atoi(argv[2]) : 10);
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
    const Runs r = scattered_runs(dev, host, total, run, rng);
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
  Beside w(floats);
  float *x = w.x, *y = w.y;
  cudaStream_t k = w.k;
  cublasHandle_t blas = w.blas;
  float* host_out = nullptr;  // zero-copy target: 64 MiB of mapped pinned memory
  CHECK(cudaHostAlloc(reinterpret_cast<void**>(&host_out), size_t(64) << 20,
                      cudaHostAllocPortable | cudaHostAllocMapped));
  const char* names[] = {"nothing",
                         "hbm",
                         "fma",
                         "gemm",
                         "host-writes",
                         "d2h-copies",
                         "h2d-copies (both streams' bytes)",
                         "d2d-copies"};
  // The second stream's H2D runs: the other half of the host buffer, into the upper half of y.
  Runs r2;
  for (size_t i = 0; i < n; ++i) {
    r2.dsts.push_back(reinterpret_cast<char*>(y) + (size_t(1) << 30) + (i % 256) * run);
    r2.srcs.push_back(host + (2 * i) % (2 * n) * run);
    r2.sizes.push_back(run);
  }
  for (int mode = 0; mode < 8; ++mode) {
    double best = 0, sum = 0;
    for (int round = 0; round < 3; ++round) {
      // Enough work beside to outlast the copies (~20 ms at 55 GB/s for 1 GiB); mode 6's is
      // the second stream's load, which two_streams enqueues itself.
      for (int i = 0; i < 40 && mode > 0 && mode != 6; ++i) {
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
        if (mode == 7)  // as the engine's x_in copies: 1 MiB, device to device
          for (int j = 0; j < 16; ++j)
            CHECK(cudaMemcpyAsync(x + j * (size_t(1) << 18), y, size_t(1) << 20,
                                  cudaMemcpyDeviceToDevice, k));
      }
      CHECK(cudaGetLastError());
      const double g = mode == 6 ? t.two_streams(r, r2, k, kOverlap) : t.batched(r, 48, kOverlap);
      best = std::max(best, g);
      sum += g;
      CHECK(cudaStreamSynchronize(k));
    }
    std::printf("beside %s: best %.2f mean %.2f GB/s\n", names[mode], best, sum / 3);
  }
  return 0;
}

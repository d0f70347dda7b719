// CudaBackend: the Backend interface on one CUDA device (see cuda_backend.h for what the engine
// may rely on). GEMMs go to cuBLAS with fp32 accumulation; everything else to kernels/.
#include "backend/cuda/cuda_backend.h"

#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <map>
#include <memory>
#include <tuple>
#include <utility>
#include <vector>

#include "backend/cpu/sampling.h"
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/nccl_exchange.h"
#include "kernels/kernels.h"
#include "util/error.h"

namespace hs {
namespace {

constexpr size_t kMiB = size_t(1) << 20;
// cuBLAS's recommended workspace on Hopper; given up front so no GEMM allocates.
constexpr size_t kCublasWorkspaceBytes = 32 * kMiB;
// Attention's tile lists (4 bytes a query row for the CUDA-core kernel, 16 for the tensor-core
// prefill) and split-K partials: 64 MiB holds the tiles of 4M query rows (larger calls take the
// CUDA-core kernel), and attention.cu splits keys only as far as the partials fit.
constexpr size_t kAttentionWorkspaceBytes = 64 * kMiB;
// Left out of device_capacity_bytes(): cudaMalloc rounds to 2 MiB pages, and kernels and cuBLAS
// modules load lazily on first use, taking device memory after creation.
constexpr size_t kDriverMarginBytes = 256 * kMiB;
// Pinned staging for sampling on the host: logits are copied in chunks of at most this.
constexpr size_t kSampleStagingBytes = 64 * kMiB;
constexpr int64_t kEventRing = 65536;

cudaDataType_t cuda_type(DType t) {
  return t == DType::bf16 ? CUDA_R_16BF : CUDA_R_16F;
}

int to_int(int64_t v, const char* what) {
  HS_CHECK(v >= 0 && v <= INT_MAX, "cuda backend: ", what, " = ", v, " does not fit cuBLAS's int");
  return static_cast<int>(v);
}

class CudaBackend final : public Backend {
 public:
  explicit CudaBackend(const BackendOptions& opt) : device_(opt.device_index), dtype_(opt.dtype) {
    HS_CHECK(dtype_ == DType::f16 || dtype_ == DType::bf16,
             "the cuda backend computes in fp16 or bf16, not ", dtype_name(dtype_));
    int n_devices = 0;
    CUDA_CHECK(cudaGetDeviceCount(&n_devices));
    HS_CHECK(device_ >= 0 && device_ < n_devices, "cuda device ", device_, " requested, ",
             n_devices, " present");
    CUDA_CHECK(cudaSetDevice(device_));
    cudaDeviceProp prop{};
    CUDA_CHECK(cudaGetDeviceProperties(&prop, device_));
    device_name_ = prop.name;
    num_sms_ = prop.multiProcessorCount;
    HS_CHECK(prop.unifiedAddressing && prop.canMapHostMemory, "cuda device ", device_, " (",
             device_name_, ") cannot map host memory, which the host pool needs");

    for (cudaStream_t& s : streams_)
      CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    CUBLAS_CHECK(cublasCreate(&cublas_));
    CUBLAS_CHECK(cublasSetStream(cublas_, stream(Stream::compute)));
    // Split-K partial sums in fp32 too, never in the 16-bit output type (cuBLAS's default
    // allows that): the fp32 accumulation, as the cpu twin sums.
    CUBLAS_CHECK(cublasSetMathMode(
        cublas_, static_cast<cublasMath_t>(CUBLAS_DEFAULT_MATH |
                                           CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION)));
    CUDA_CHECK(cudaMalloc(&cublas_workspace_, kCublasWorkspaceBytes));
    CUBLAS_CHECK(cublasSetWorkspace(cublas_, cublas_workspace_, kCublasWorkspaceBytes));
    CUBLAS_CHECK(cublasLtCreate(&lt_));
    CUDA_CHECK(cudaMalloc(&attention_workspace_, kAttentionWorkspaceBytes));
    CUDA_CHECK(cudaHostAlloc(&sample_staging_, kSampleStagingBytes,
                             cudaHostAllocPortable | cudaHostAllocMapped));

    slots_.assign(kEventRing, nullptr);
    slot_ids_.assign(kEventRing, -1);
    CUDA_CHECK(cudaEventCreate(&epoch_));
    CUDA_CHECK(cudaEventRecord(epoch_, stream(Stream::compute)));
    CUDA_CHECK(cudaEventSynchronize(epoch_));

    size_t free_bytes = 0, total_bytes = 0;
    CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
    capacity_bytes_ = free_bytes > kDriverMarginBytes ? free_bytes - kDriverMarginBytes : 0;
    if (opt.device_mem_gib > 0)
      capacity_bytes_ =
          std::min(capacity_bytes_, static_cast<size_t>(opt.device_mem_gib * double(1 << 30)));
  }

  ~CudaBackend() override {
    // Errors are ignored here: a destructor must not throw, and a context broken by an earlier
    // error has already been reported by the call that saw it.
    cudaSetDevice(device_);
    for (cudaStream_t s : streams_) cudaStreamSynchronize(s);
    nccl_.reset();
    for (cudaEvent_t e : slots_)
      if (e) cudaEventDestroy(e);
    cudaEventDestroy(epoch_);
    for (const auto& [key, p] : lt_plans_) destroy(p);
    cublasLtDestroy(lt_);
    cublasDestroy(cublas_);
    cudaFree(cublas_workspace_);
    cudaFree(attention_workspace_);
    cudaFreeHost(sample_staging_);
    for (cudaStream_t s : streams_) cudaStreamDestroy(s);
  }

  std::string name() const override { return "cuda"; }
  std::string device_name() const override { return device_name_; }
  DType dtype() const override { return dtype_; }

  // ---- memory ---------------------------------------------------------------------------
  void* host_alloc(size_t bytes) override {
    if (bytes == 0) return nullptr;
    use_device();
    void* p = nullptr;
    const cudaError_t e = cudaHostAlloc(&p, bytes, cudaHostAllocPortable | cudaHostAllocMapped);
    if (e != cudaSuccess) {
      cudaGetLastError();  // not sticky; keep it from surfacing at the next launch check
      fail("cudaHostAlloc of ", bytes, " bytes (pinned, mapped) failed: ", cudaGetErrorString(e),
           ". Pin less host memory (a smaller pool or batch) or raise the memlock limit");
    }
    // Kernels (copy_rows) use the host pointer as a device pointer: true under unified
    // addressing, which the constructor checked; confirm rather than assume.
    void* dev = nullptr;
    CUDA_CHECK(cudaHostGetDevicePointer(&dev, p, 0));
    HS_CHECK(dev == p, "pinned host memory maps to a different device address");
    return p;
  }

  // Frees ignore errors (see the destructor): they run during unwinding after a failure.
  void host_free(void* p) override {
    if (!p) return;
    use_device();
    cudaFreeHost(p);
  }

  void* device_alloc(size_t bytes) override {
    if (bytes == 0) return nullptr;
    use_device();
    void* p = nullptr;
    const cudaError_t e = cudaMalloc(&p, bytes);
    if (e != cudaSuccess) {
      cudaGetLastError();
      size_t free_bytes = 0, total_bytes = 0;
      cudaMemGetInfo(&free_bytes, &total_bytes);
      fail("cudaMalloc of ", bytes, " bytes on ", device_name_, " failed (", cudaGetErrorString(e),
           "): ", free_bytes, " bytes free of ", total_bytes);
    }
    return p;
  }

  void device_free(void* p) override {
    if (!p) return;
    use_device();
    cudaFree(p);
  }

  size_t device_capacity_bytes() const override { return capacity_bytes_; }
  bool device_memory_is_host() const override { return false; }

  // Pins memory the caller mapped (a node's shared weight segment) for this device's copy
  // engines, as cudaHostAlloc pins the pool: copies from it run at the same rate. Portable
  // and mapped like the pool, so every path that reads the pool may read it.
  void host_register(void* p, size_t bytes) override {
    if (bytes == 0) return;
    use_device();
    const cudaError_t e =
        cudaHostRegister(p, bytes, cudaHostRegisterPortable | cudaHostRegisterMapped);
    if (e != cudaSuccess) {
      cudaGetLastError();  // not sticky
      fail("cudaHostRegister of ", bytes,
           " bytes of shared host memory failed: ", cudaGetErrorString(e),
           ". Raise the memlock limit, or run with --share-weights none");
    }
  }
  void host_unregister(void* p) override {
    if (!p) return;
    use_device();
    cudaHostUnregister(p);
  }

  // ---- copies and ordering -------------------------------------------------------------------
  void copy_h2d(void* dst, const void* src, size_t bytes, Stream s) override {
    copy(dst, src, bytes, s);
  }
  void copy_d2h(void* dst, const void* src, size_t bytes, Stream s) override {
    copy(dst, src, bytes, s);
  }
  void copy_d2d(void* dst, const void* src, size_t bytes, Stream s) override {
    copy(dst, src, bytes, s);
  }

  void copy_rows(void* dst, const int32_t* dst_rows, const void* src, const int32_t* src_rows,
                 int64_t n_rows, int64_t row_elems, Stream s) override {
    use_device();
    kernels::copy_rows(dst, dst_rows, src, src_rows, n_rows,
                       row_elems * static_cast<int64_t>(dtype_bytes(dtype_)), stream(s));
  }

  // One cudaMemcpyBatchAsync per call (CUDA 12.8+): the runtime hands every run to the copy
  // engines at the cost of one API call, where a cudaMemcpyAsync per run would cost a few
  // microseconds of host time each (a decode step of opt-13b has ~10^4 runs). A driver that
  // refuses the batch API falls back to one cudaMemcpyAsync per run, for good.
  void copy_runs(void* dst, const void* src, const std::vector<CopyRun>& runs, size_t unit_bytes,
                 Stream s) override {
    if (runs.empty() || unit_bytes == 0) return;
    use_device();
    run_dsts_.clear();
    run_srcs_.clear();
    run_bytes_.clear();
    for (const CopyRun& r : runs) {
      if (r.count <= 0) continue;
      run_dsts_.push_back(static_cast<char*>(dst) + static_cast<size_t>(r.dst) * unit_bytes);
      run_srcs_.push_back(static_cast<const char*>(src) + static_cast<size_t>(r.src) * unit_bytes);
      run_bytes_.push_back(static_cast<size_t>(r.count) * unit_bytes);
    }
    if (run_bytes_.empty()) return;
    if (batch_copies_) {
      cudaMemcpyAttributes attr{};
      attr.srcAccessOrder = cudaMemcpySrcAccessOrderStream;  // sources are ordered by events
      attr.flags = cudaMemcpyFlagPreferOverlapWithCompute;
      size_t attr_index = 0;
      const cudaError_t e =
          cudaMemcpyBatchAsync(run_dsts_.data(), run_srcs_.data(), run_bytes_.data(),
                               run_bytes_.size(), &attr, &attr_index, 1, stream(s));
      if (e == cudaSuccess) return;
      HS_CHECK(e == cudaErrorNotSupported || e == cudaErrorInvalidValue, "cudaMemcpyBatchAsync of ",
               run_bytes_.size(), " runs failed: ", cudaGetErrorString(e));
      cudaGetLastError();  // not sticky: clear it, and copy run by run from now on
      batch_copies_ = false;
    }
    for (size_t i = 0; i < run_bytes_.size(); ++i)
      CUDA_CHECK(
          cudaMemcpyAsync(run_dsts_[i], run_srcs_[i], run_bytes_[i], cudaMemcpyDefault, stream(s)));
  }

  // ---- the weight exchange (NCCL: backend/cuda/nccl_exchange.h) ------------------------------
  std::string device_exchange_unavailable() const override { return NcclExchange::unavailable(); }
  void join_exchange(int rank, int ranks,
                     const std::function<std::string(const std::string&)>& broadcast) override {
    HS_CHECK(!nccl_, "join_exchange: this backend is in an exchange already");
    use_device();
    nccl_ = std::make_unique<NcclExchange>(rank, ranks, broadcast);
  }
  void all_gather(void* buf, const std::vector<int64_t>& counts, Stream s) override {
    HS_CHECK(nccl_, "all_gather: this backend has joined no exchange");
    use_device();
    nccl_->all_gather(buf, counts, stream(s));
  }

  void dequantize(void* dst, const void* src, WeightFormat f, int64_t rows, int64_t cols,
                  int64_t group, Stream s) override {
    use_device();
    kernels::dequantize(dtype_, dst, src, f, rows, cols, group, stream(s));
  }

  void compress_rows(void* dst, const void* src, const int32_t* rows, int64_t count, int64_t cols,
                     CacheFormat f, int64_t group, Stream s) override {
    use_device();
    kernels::compress_cache_rows(dtype_, dst, src, rows, count, cols, f, group, stream(s));
  }

  void expand_rows(void* dst, const void* src, int64_t count, int64_t cols, CacheFormat f,
                   int64_t group, Stream s) override {
    use_device();
    kernels::expand_cache_rows(dtype_, dst, src, count, cols, f, group, stream(s));
  }

  Event record(Stream s) override {
    use_device();
    const int64_t id = next_event_id_++;
    const int64_t slot = id % kEventRing;
    if (!slots_[slot]) CUDA_CHECK(cudaEventCreate(&slots_[slot]));
    CUDA_CHECK(cudaEventRecord(slots_[slot], stream(s)));
    slot_ids_[slot] = id;
    return Event{id};
  }

  void wait(Stream s, Event e) override {
    use_device();
    CUDA_CHECK(cudaStreamWaitEvent(stream(s), event(e), 0));
  }

  void sync(Event e) override {
    use_device();
    CUDA_CHECK(cudaEventSynchronize(event(e)));
  }

  void synchronize() override {
    use_device();
    for (cudaStream_t s : streams_) CUDA_CHECK(cudaStreamSynchronize(s));
  }

  double event_ms(Event e) override {
    use_device();
    float ms = 0.f;
    CUDA_CHECK(cudaEventElapsedTime(&ms, epoch_, event(e)));
    return ms;
  }

  // ---- compute ---------------------------------------------------------------------------
  void embed(void* out, const void* table, const int32_t* ids, int64_t rows, int64_t dim) override {
    use_device();
    kernels::embed(dtype_, out, table, ids, rows, dim, compute());
  }

  void add_rows(void* x, const void* table, const int32_t* idx, int64_t rows,
                int64_t dim) override {
    use_device();
    kernels::add_rows(dtype_, x, table, idx, rows, dim, compute());
  }

  void layernorm(void* out, const void* x, const void* w, const void* b, int64_t rows, int64_t dim,
                 float eps) override {
    use_device();
    kernels::layernorm(dtype_, out, x, w, b, rows, dim, eps, compute());
  }

  void rmsnorm(void* out, const void* x, const void* w, int64_t rows, int64_t dim,
               float eps) override {
    use_device();
    kernels::rmsnorm(dtype_, out, x, w, rows, dim, eps, compute());
  }

  void linear(void* out, const void* x, const void* w, const void* b, int64_t rows, int64_t k,
              int64_t n) override {
    use_device();
    if (rows <= 0 || n <= 0) return;
    if (b)
      gemm_bias(out, x, w, b, rows, k, n);
    else
      gemm(out, cuda_type(dtype_), x, w, rows, k, n, 0.f);
  }

  void linear_f32(float* out, const void* x, const void* w, int64_t rows, int64_t k,
                  int64_t n) override {
    use_device();
    if (rows <= 0 || n <= 0) return;
    gemm(out, CUDA_R_32F, x, w, rows, k, n, 0.f);
  }

  void scale(void* x, float s, int64_t n) override {
    use_device();
    kernels::scale(dtype_, x, s, n, compute());
  }

  void rope(void* x, const int32_t* pos, int64_t rows, int64_t heads, int64_t head_dim,
            float theta) override {
    use_device();
    kernels::rope(dtype_, x, pos, rows, heads, head_dim, theta, compute());
  }

  void attention(void* out, const void* q, const void* k, const void* v, const int32_t* block_table,
                 const int32_t* seq, const int32_t* pos, const cpu::AttentionShape& s) override {
    use_device();
    kernels::attention(dtype_, out, q, k, v, block_table, seq, pos, s, attention_workspace_,
                       kAttentionWorkspaceBytes, num_sms_, compute());
  }

  void relu(void* x, int64_t n) override {
    use_device();
    kernels::relu(dtype_, x, n, compute());
  }

  void silu_mul(void* out, const void* gate, const void* up, int64_t n) override {
    use_device();
    kernels::silu_mul(dtype_, out, gate, up, n, compute());
  }

  void add(void* out, const void* a, const void* b, int64_t n) override {
    use_device();
    kernels::add(dtype_, out, a, b, n, compute());
  }

  void sample(int32_t* tokens_host, const float* logits, int64_t rows, int64_t vocab,
              const SamplingParams& p, const uint64_t* keys_host,
              const int64_t* steps_host) override {
    use_device();
    if (rows <= 0) return;
    HS_CHECK(vocab > 0, "sample: empty vocabulary");
    if (p.greedy()) {
      // The argmax kernel writes straight into mapped pinned memory.
      const int64_t per_chunk = static_cast<int64_t>(kSampleStagingBytes / sizeof(int32_t));
      auto* staged = static_cast<int32_t*>(sample_staging_);
      for (int64_t r0 = 0; r0 < rows; r0 += per_chunk) {
        const int64_t n = std::min(per_chunk, rows - r0);
        kernels::argmax_rows(staged, logits + r0 * vocab, n, vocab, compute());
        CUDA_CHECK(cudaStreamSynchronize(compute()));
        std::memcpy(tokens_host + r0, staged, n * sizeof(int32_t));
      }
      return;
    }
    // Temperature / top-k / top-p: the host's sampler on copied logits, chunk by chunk, so the
    // tokens are exactly hs::sample_token's.
    const size_t row_bytes = static_cast<size_t>(vocab) * sizeof(float);
    const int64_t per_chunk =
        static_cast<int64_t>(std::max<size_t>(1, kSampleStagingBytes / row_bytes));
    std::vector<float> big;  // a single row larger than the staging buffer (never in practice)
    auto* staged = static_cast<float*>(sample_staging_);
    if (row_bytes > kSampleStagingBytes) {
      big.resize(vocab);
      staged = big.data();
    }
    for (int64_t r0 = 0; r0 < rows; r0 += per_chunk) {
      const int64_t n = std::min(per_chunk, rows - r0);
      CUDA_CHECK(cudaMemcpyAsync(staged, logits + r0 * vocab, n * row_bytes, cudaMemcpyDefault,
                                 compute()));
      CUDA_CHECK(cudaStreamSynchronize(compute()));
      for (int64_t r = 0; r < n; ++r)
        tokens_host[r0 + r] =
            sample_token(staged + r * vocab, vocab, p, keys_host[r0 + r], steps_host[r0 + r]);
    }
  }

 private:
  cudaStream_t stream(Stream s) const { return streams_[static_cast<int>(s)]; }
  cudaStream_t compute() const { return stream(Stream::compute); }
  void use_device() const { CUDA_CHECK(cudaSetDevice(device_)); }

  void copy(void* dst, const void* src, size_t bytes, Stream s) {
    if (bytes == 0) return;
    use_device();
    CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDefault, stream(s)));
  }

  cudaEvent_t event(Event e) const {
    HS_CHECK(e.id >= 0 && e.id < next_event_id_ && slot_ids_[e.id % kEventRing] == e.id, "event ",
             e.id, " is not held by the cuda backend (it keeps the last ", kEventRing,
             " recorded; ", next_event_id_, " so far)");
    return slots_[e.id % kEventRing];
  }

  // Row-major out[rows, n] = x[rows, k] w[n, k]^T + beta out. In cuBLAS's column-major terms
  // out^T [n, rows] = w [n, k] x^T [k, rows]: A = w read transposed (lda = k), B = x (ldb = k),
  // C = out^T (ldc = n). fp32 accumulation (CUBLAS_COMPUTE_32F) on the tensor cores.
  void gemm(void* out, cudaDataType_t out_type, const void* x, const void* w, int64_t rows,
            int64_t k, int64_t n, float beta) {
    const float alpha = 1.f;
    const int m_ = to_int(n, "n"), n_ = to_int(rows, "rows"), k_ = to_int(k, "k");
    CUBLAS_CHECK(cublasGemmEx(cublas_, CUBLAS_OP_T, CUBLAS_OP_N, m_, n_, k_, &alpha, w,
                              cuda_type(dtype_), std::max(k_, 1), x, cuda_type(dtype_),
                              std::max(k_, 1), &beta, out, out_type, m_, CUBLAS_COMPUTE_32F,
                              CUBLAS_GEMM_DEFAULT));
  }

  // gemm with the bias added to the fp32 accumulator and one rounding, as the cpu's dot + bias:
  // cuBLASLt's bias epilogue. (The bias as C with beta = 1 in cublasGemmEx rounded twice: 1.3x the
  // single rounding's error in cuda_ops_test on an H100; docs/BENCHMARKS.md, "Accuracy: tokens and
  // logits".) A plan (descriptors and the heuristic's algorithm) is kept per shape and pointer
  // alignment; only the bias pointer changes between calls.
  struct LtPlan {
    cublasLtMatmulDesc_t desc = nullptr;
    cublasLtMatrixLayout_t a = nullptr, b = nullptr, d = nullptr;
    cublasLtMatmulAlgo_t algo{};
  };
  // A new plan for gemm_bias (bias pointer set): descriptors, then the heuristic's algorithm.
  void make_lt_plan(LtPlan& p, int m_, int n_, int k_, const void* bias, uint32_t a_align,
                    uint32_t b_align, uint32_t d_align) {
    const cudaDataType_t t = cuda_type(dtype_);
    CUBLAS_CHECK(cublasLtMatmulDescCreate(&p.desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    const cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
    const cublasLtEpilogue_t epilogue = CUBLASLT_EPILOGUE_BIAS;
    CUBLAS_CHECK(
        cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof(ta)));
    CUBLAS_CHECK(
        cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof(tb)));
    CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epilogue,
                                                sizeof(epilogue)));
    CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias,
                                                sizeof(bias)));
    // A = w as stored, [k, m] column-major (read transposed); B = x, [k, rows]; C = D = out^T.
    CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p.a, t, k_, m_, std::max(k_, 1)));
    CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p.b, t, k_, n_, std::max(k_, 1)));
    CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p.d, t, m_, n_, m_));

    cublasLtMatmulPreference_t pref = nullptr;
    CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref));
    const uint64_t ws = kCublasWorkspaceBytes;
    const std::pair<cublasLtMatmulPreferenceAttributes_t, uint32_t> u32_prefs[] = {
        {CUBLASLT_MATMUL_PREF_REDUCTION_SCHEME_MASK,
         CUBLASLT_REDUCTION_SCHEME_COMPUTE_TYPE},  // split-K partial sums in fp32 only
        {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, a_align},
        {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, b_align},
        {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, d_align},
        {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, d_align}};
    cublasStatus_t st = cublasLtMatmulPreferenceSetAttribute(
        pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws));
    for (const auto& [attr, value] : u32_prefs)
      if (st == CUBLAS_STATUS_SUCCESS)
        st = cublasLtMatmulPreferenceSetAttribute(pref, attr, &value, sizeof(value));
    cublasLtMatmulHeuristicResult_t result{};
    int found = 0;
    if (st == CUBLAS_STATUS_SUCCESS)
      st =
          cublasLtMatmulAlgoGetHeuristic(lt_, p.desc, p.a, p.b, p.d, p.d, pref, 1, &result, &found);
    cublasLtMatmulPreferenceDestroy(pref);
    HS_CHECK(st == CUBLAS_STATUS_SUCCESS && found > 0, "cuBLASLt has no bias GEMM for rows ", n_,
             ", k ", k_, ", n ", m_, " in ", dtype_name(dtype_), ": ", cublasGetStatusString(st));
    p.algo = result.algo;
  }

  static void destroy(const LtPlan& p) {
    if (p.a) cublasLtMatrixLayoutDestroy(p.a);
    if (p.b) cublasLtMatrixLayoutDestroy(p.b);
    if (p.d) cublasLtMatrixLayoutDestroy(p.d);
    if (p.desc) cublasLtMatmulDescDestroy(p.desc);
  }

  void gemm_bias(void* out, const void* x, const void* w, const void* bias, int64_t rows, int64_t k,
                 int64_t n) {
    const int m_ = to_int(n, "n"), n_ = to_int(rows, "rows"), k_ = to_int(k, "k");
    auto alignment = [](const void* p) {  // the largest power of two dividing p, up to 256
      const auto v = reinterpret_cast<uintptr_t>(p);
      return static_cast<uint32_t>(std::min<uintptr_t>(256, v & (~v + 1)));
    };
    const uint32_t a_align = alignment(w), b_align = alignment(x), d_align = alignment(out);
    const auto key = std::make_tuple(m_, n_, k_, a_align, b_align, d_align, alignment(bias));
    auto [it, made] = lt_plans_.try_emplace(key);
    LtPlan& p = it->second;
    if (!made) {
      CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias,
                                                  sizeof(bias)));
    } else {
      try {
        make_lt_plan(p, m_, n_, k_, bias, a_align, b_align, d_align);
      } catch (...) {  // no half-made plan stays behind for the next call of this shape
        destroy(p);
        lt_plans_.erase(it);
        throw;
      }
    }
    const float alpha = 1.f, beta = 0.f;
    CUBLAS_CHECK(cublasLtMatmul(lt_, p.desc, &alpha, w, p.a, x, p.b, &beta, out, p.d, out, p.d,
                                &p.algo, cublas_workspace_, kCublasWorkspaceBytes, compute()));
  }

  int device_;
  DType dtype_;
  std::string device_name_;
  int num_sms_ = 0;
  cudaStream_t streams_[kNumStreams] = {};
  cublasHandle_t cublas_ = nullptr;
  cublasLtHandle_t lt_ = nullptr;
  std::map<std::tuple<int, int, int, uint32_t, uint32_t, uint32_t, uint32_t>, LtPlan> lt_plans_;
  void* cublas_workspace_ = nullptr;  // cuBLAS's and cuBLASLt's (both on the compute stream)
  void* attention_workspace_ = nullptr;
  void* sample_staging_ = nullptr;
  cudaEvent_t epoch_ = nullptr;
  std::vector<cudaEvent_t> slots_;  // the event ring
  std::vector<int64_t> slot_ids_;   // which Event id each slot holds
  int64_t next_event_id_ = 0;
  size_t capacity_bytes_ = 0;
  std::unique_ptr<NcclExchange> nccl_;  // the node's weight exchange, once joined
  bool batch_copies_ = true;            // cudaMemcpyBatchAsync works here (until it says otherwise)
  std::vector<void*> run_dsts_;         // copy_runs' argument arrays, kept to reuse their memory
  std::vector<const void*> run_srcs_;
  std::vector<size_t> run_bytes_;
};

}  // namespace

std::unique_ptr<Backend> make_cuda_backend(const BackendOptions& opt) {
  return std::make_unique<CudaBackend>(opt);
}

}  // namespace hs

// The compute device behind one interface. Engine code talks to a Backend and never names one;
// `cpu` (fp32 reference, always built) and `cuda` implement it.
//
// Model: a "device" with its own memory and six in-order streams. Copies and kernels are
// enqueued on a stream; events order streams against each other. On the cpu backend device
// memory is ordinary host memory and every call completes before it returns, so the same
// engine code runs on both. All pointers passed to compute calls are device pointers, holding
// elements of dtype() unless a parameter says float/int32_t; int32 index arrays live on the
// device too (upload them with copy_h2d). Host-pool memory from host_alloc() is also usable by
// copy_rows (pinned, device-visible memory on CUDA), so new cache rows can be written back
// straight into their host blocks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "backend/cpu/ops.h"
#include "model/cache_format.h"
#include "model/quant.h"
#include "util/dtype.h"
#include "util/error.h"

namespace hs {

struct SamplingParams;

enum class Stream : int {
  compute = 0,    // kernels and GEMMs
  weights = 1,    // host-to-device weight uploads
  cache_in = 2,   // host-to-device cache blocks (K/V and activation checkpoints)
  cache_out = 3,  // device-to-host write-back of new cache entries
  cache_dev = 4,  // device-resident cache blocks copied into the working set (a kernel)
  expand = 5,     // compressed weights expanded into the element type on the device (a kernel)
};
constexpr int kNumStreams = 6;
// "compute", "weights", "cache_in", "cache_out", "cache_dev", "expand"
const char* stream_name(Stream s);

// One contiguous piece of a gathered copy: units [src, src + count) to [dst, dst + count).
struct CopyRun {
  int64_t src = 0, dst = 0, count = 0;
};

// A point in a stream's work. Backend-owned; cheap to copy.
struct Event {
  int64_t id = -1;
};

class Backend {
 public:
  virtual ~Backend() = default;

  virtual std::string name() const = 0;         // "cpu" or "cuda"
  virtual std::string device_name() const = 0;  // e.g. "NVIDIA H100 80GB HBM3"
  // Element type of weights, activations and caches, on the device and in the host pool.
  virtual DType dtype() const = 0;

  // ---- memory ---------------------------------------------------------------------------
  // Host memory for the pool: pinned (and device-visible) on CUDA. Throws hs::Error if it
  // cannot be had.
  virtual void* host_alloc(size_t bytes) = 0;
  virtual void host_free(void* p) = 0;
  // Host memory the caller owns (a node's shared weight segment) made usable as host_alloc()'s
  // is for copies: pinned for DMA on CUDA. Throws hs::Error if it cannot be. host_unregister
  // undoes it; the memory itself stays the caller's.
  virtual void host_register(void* p, size_t bytes) = 0;
  virtual void host_unregister(void* p) = 0;
  virtual void* device_alloc(size_t bytes) = 0;  // throws hs::Error when out of memory
  virtual void device_free(void* p) = 0;
  // True where device memory is host memory (the cpu backend): a rank's device pool then counts
  // against the host budget too.
  virtual bool device_memory_is_host() const = 0;
  // Device memory the engine may plan with (cpu: the budget it was created with).
  virtual size_t device_capacity_bytes() const = 0;

  // ---- copies and ordering -------------------------------------------------------------------
  virtual void copy_h2d(void* dst, const void* src, size_t bytes, Stream s) = 0;
  virtual void copy_d2h(void* dst, const void* src, size_t bytes, Stream s) = 0;
  virtual void copy_d2d(void* dst, const void* src, size_t bytes, Stream s) = 0;
  // dst row dst_rows[i] = src row src_rows[i], i < n_rows, rows of row_elems elements of
  // dtype(). dst or src may be host-pool memory. Index arrays are device pointers.
  virtual void copy_rows(void* dst, const int32_t* dst_rows, const void* src,
                         const int32_t* src_rows, int64_t n_rows, int64_t row_elems, Stream s) = 0;
  // The same as copy_rows for runs of whole units (unit_bytes each), with the run list on the
  // host, by the copy engines (DMA) on CUDA: no multiprocessor takes part, so compute on other
  // streams runs at full speed meanwhile. copy_rows over mapped host memory holds
  // multiprocessors for the whole PCIe transfer and stalls every kernel behind it (measured on
  // an H100: a decode step's GEMMs waited out each 1.7 ms cache load); long runs go here.
  virtual void copy_runs(void* dst, const void* src, const std::vector<CopyRun>& runs,
                         size_t unit_bytes, Stream s) = 0;
  // Expands the compressed matrix src [rows, cols] (device memory, format f = int8 or int4 laid
  // out as model/quant.h says, int4 in groups of `group` inputs) into dst [rows, cols] of
  // dtype(), with quant.h's arithmetic (w = q * scale, or fma(q, scale, min) in fp32) rounded
  // once to dtype(): the cpu backend's dequantize_rows rounded to fp16 / bf16, bit for bit.
  virtual void dequantize(void* dst, const void* src, WeightFormat f, int64_t rows, int64_t cols,
                          int64_t group, Stream s) = 0;
  // Compressed cache rows (model/cache_format.h): dst row rows[i] = src row rows[i] (rows of
  // cols elements of dtype()) compressed in format f, groups of `group`, i < count; the
  // compressed rows are cache_row_bytes(f, cols, group, dtype bytes) apart. rows: a device
  // index array, or nullptr for rows 0 .. count - 1.
  virtual void compress_rows(void* dst, const void* src, const int32_t* rows, int64_t count,
                             int64_t cols, CacheFormat f, int64_t group, Stream s) = 0;
  // dst rows [0, count) (dtype()) = the compressed rows src [0, count) expanded, rounded once to
  // dtype(): the cpu backend's expand_cache_row, bit for bit.
  virtual void expand_rows(void* dst, const void* src, int64_t count, int64_t cols, CacheFormat f,
                           int64_t group, Stream s) = 0;
  // ---- the weight exchange between the GPUs of a node (--weight-exchange nccl) -------------
  // Empty where this backend can gather device memory among the ranks of a node itself, else
  // why it cannot (no NCCL in the build, or a backend without one).
  virtual std::string device_exchange_unavailable() const {
    return "the " + name() + " backend has no exchange between devices";
  }
  // Joins the node's exchange as `rank` of `ranks`: rank 0 makes the group's id and
  // broadcast(id) hands it to every rank (the node group's broadcast). Every rank of the node
  // calls it once, at the same point. Throws hs::Error if the group cannot be formed.
  virtual void join_exchange(int rank, int ranks,
                             const std::function<std::string(const std::string&)>& broadcast) {
    (void)rank, (void)ranks, (void)broadcast;
    fail("--weight-exchange nccl: ", device_exchange_unavailable());
  }
  // In place, in device memory, on stream s: rank r's counts[r] bytes, which start at the sum of
  // counts[0 .. r - 1] in buf, reach every rank's buf. counts is the same on every rank, one
  // per rank, and every rank makes the same calls in the same order.
  virtual void all_gather(void* buf, const std::vector<int64_t>& counts, Stream s) {
    (void)buf, (void)counts, (void)s;
    fail("--weight-exchange nccl: ", device_exchange_unavailable());
  }

  virtual Event record(Stream s) = 0;        // marks the work enqueued on s so far
  virtual void wait(Stream s, Event e) = 0;  // later work on s starts after e
  virtual void sync(Event e) = 0;            // the host waits for e
  virtual void synchronize() = 0;            // the host waits for every stream
  // Milliseconds from the backend's creation to e (device clock on CUDA); e must be complete.
  virtual double event_ms(Event e) = 0;

  // ---- compute (compute stream; shapes as in backend/cpu/ops.h) -------------------------
  virtual void embed(void* out, const void* table, const int32_t* ids, int64_t rows,
                     int64_t dim) = 0;
  virtual void add_rows(void* x, const void* table, const int32_t* idx, int64_t rows,
                        int64_t dim) = 0;
  virtual void layernorm(void* out, const void* x, const void* w, const void* b, int64_t rows,
                         int64_t dim, float eps) = 0;
  virtual void rmsnorm(void* out, const void* x, const void* w, int64_t rows, int64_t dim,
                       float eps) = 0;
  // out = x w^T + b (b may be null).  out: [rows, n], x: [rows, k], w: [n, k].
  virtual void linear(void* out, const void* x, const void* w, const void* b, int64_t rows,
                      int64_t k, int64_t n) = 0;
  // As linear, with fp32 output (the logits).
  virtual void linear_f32(float* out, const void* x, const void* w, int64_t rows, int64_t k,
                          int64_t n) = 0;
  virtual void scale(void* x, float s, int64_t n) = 0;
  virtual void rope(void* x, const int32_t* pos, int64_t rows, int64_t heads, int64_t head_dim,
                    float theta) = 0;
  virtual void attention(void* out, const void* q, const void* k, const void* v,
                         const int32_t* block_table, const int32_t* seq, const int32_t* pos,
                         const cpu::AttentionShape& s) = 0;
  virtual void relu(void* x, int64_t n) = 0;
  virtual void silu_mul(void* out, const void* gate, const void* up, int64_t n) = 0;
  virtual void add(void* out, const void* a, const void* b, int64_t n) = 0;
  // Picks one token per row of fp32 logits [rows, vocab] (engine/sampler.h semantics:
  // keys[r] = request_key(id), steps[r] = the request's generation step) and writes them to
  // HOST memory tokens_host[rows]; returns when they are there.
  virtual void sample(int32_t* tokens_host, const float* logits, int64_t rows, int64_t vocab,
                      const SamplingParams& p, const uint64_t* keys_host,
                      const int64_t* steps_host) = 0;
};

// Backends this binary was built with ("cpu", and "cuda" when nvcc was found).
std::vector<std::string> available_backends();
// Empty where `--weight-exchange nccl` can run with this binary on `device`, else why not: the
// check a command makes before it loads anything.
std::string device_exchange_unavailable(const std::string& device);

struct BackendOptions {
  int device_index = 0;       // CUDA device (the local rank under MPI)
  DType dtype = DType::f16;   // CUDA compute dtype (fp16 or bf16); cpu is always fp32
  double device_mem_gib = 0;  // cpu: the notional device budget; cuda: 0 = what is free
};

// Creates a backend by name; throws hs::Error naming what is available otherwise.
std::unique_ptr<Backend> make_backend(const std::string& name, const BackendOptions& opt = {});

}  // namespace hs

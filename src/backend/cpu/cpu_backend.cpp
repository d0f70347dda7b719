#include "backend/cpu/cpu_backend.h"

#include <cstdlib>
#include <cstring>

#include "backend/cpu/sampling.h"
#include "util/error.h"

namespace hs {
namespace {
float* F(void* p) {
  return static_cast<float*>(p);
}
const float* F(const void* p) {
  return static_cast<const float*>(p);
}

// 64-byte alignment: what the ops' vectorized loops like, and what pinned memory gives on CUDA.
// The bytes are written once, so the memory is resident from the start as pinned memory is: a
// run holds what its plan says from its first step (not a working set that grows until the
// OOM killer ends it mid-job), and one that cannot have it fails here.
void* aligned_bytes(size_t bytes) {
  void* p = nullptr;
  if (posix_memalign(&p, 64, bytes == 0 ? 64 : bytes) != 0) return nullptr;
  std::memset(p, 0, bytes);
  return p;
}
}  // namespace

CpuBackend::CpuBackend(size_t device_capacity_bytes)
    : device_capacity_bytes_(device_capacity_bytes),
      epoch_(std::chrono::steady_clock::now()),
      event_times_ms_(kEventRing, 0.0) {}

CpuBackend::~CpuBackend() {
  for (auto& [p, bytes] : host_blocks_) std::free(p);
  for (auto& [p, bytes] : device_blocks_) std::free(p);
}

void* CpuBackend::host_alloc(size_t bytes) {
  void* p = aligned_bytes(bytes);
  HS_CHECK(p, "cannot allocate ", bytes, " bytes of host memory");
  host_blocks_[p] = bytes;
  host_bytes_ += bytes;
  return p;
}

void CpuBackend::host_free(void* p) {
  auto it = host_blocks_.find(p);
  if (it == host_blocks_.end()) return;
  host_bytes_ -= it->second;
  host_blocks_.erase(it);
  std::free(p);
}

void* CpuBackend::device_alloc(size_t bytes) {
  HS_CHECK(device_bytes_ + bytes <= device_capacity_bytes_, "out of device memory: ", bytes,
           " bytes requested, ", device_bytes_, " of ", device_capacity_bytes_,
           " bytes in use on the cpu backend's notional device");
  void* p = aligned_bytes(bytes);
  HS_CHECK(p, "cannot allocate ", bytes, " bytes for the cpu backend's device memory");
  device_blocks_[p] = bytes;
  device_bytes_ += bytes;
  return p;
}

void CpuBackend::device_free(void* p) {
  auto it = device_blocks_.find(p);
  if (it == device_blocks_.end()) return;
  device_bytes_ -= it->second;
  device_blocks_.erase(it);
  std::free(p);
}

void CpuBackend::copy_h2d(void* dst, const void* src, size_t bytes, Stream) {
  std::memcpy(dst, src, bytes);
}
void CpuBackend::copy_d2h(void* dst, const void* src, size_t bytes, Stream) {
  std::memcpy(dst, src, bytes);
}
void CpuBackend::copy_d2d(void* dst, const void* src, size_t bytes, Stream) {
  std::memmove(dst, src, bytes);
}

void CpuBackend::copy_rows(void* dst, const int32_t* dst_rows, const void* src,
                           const int32_t* src_rows, int64_t n_rows, int64_t row_elems, Stream) {
  const size_t row_bytes = static_cast<size_t>(row_elems) * sizeof(float);
  char* d = static_cast<char*>(dst);
  const char* s = static_cast<const char*>(src);
  for (int64_t i = 0; i < n_rows; ++i)
    std::memcpy(d + dst_rows[i] * row_bytes, s + src_rows[i] * row_bytes, row_bytes);
}

void CpuBackend::copy_runs(void* dst, const void* src, const std::vector<CopyRun>& runs,
                           size_t unit_bytes, Stream) {
  char* d = static_cast<char*>(dst);
  const char* s = static_cast<const char*>(src);
  for (const CopyRun& r : runs)
    std::memcpy(d + static_cast<size_t>(r.dst) * unit_bytes,
                s + static_cast<size_t>(r.src) * unit_bytes,
                static_cast<size_t>(r.count) * unit_bytes);
}

// dst: [rows, cols] fp32; src: the compressed matrix (model/quant.h). quant.h's own expansion is
// the reference both backends share.
void CpuBackend::dequantize(void* dst, const void* src, WeightFormat f, int64_t rows, int64_t cols,
                            int64_t group, Stream) {
  dequantize_rows(f, src, rows, cols, group, 0, rows, F(dst));
}

void CpuBackend::compress_rows(void* dst, const void* src, const int32_t* rows, int64_t count,
                               int64_t cols, CacheFormat f, int64_t group, Stream) {
  const int64_t row_bytes = cache_row_bytes(f, cols, group, 4);
  for (int64_t i = 0; i < count; ++i) {
    const int64_t r = rows ? rows[i] : i;
    compress_cache_row(f, F(src) + r * cols, cols, group, static_cast<char*>(dst) + r * row_bytes);
  }
}

void CpuBackend::expand_rows(void* dst, const void* src, int64_t count, int64_t cols, CacheFormat f,
                             int64_t group, Stream) {
  const int64_t row_bytes = cache_row_bytes(f, cols, group, 4);
  for (int64_t i = 0; i < count; ++i)
    expand_cache_row(f, static_cast<const char*>(src) + i * row_bytes, cols, group,
                     F(dst) + i * cols);
}

Event CpuBackend::record(Stream) {
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - epoch_).count();
  const int64_t id = next_event_++;
  event_times_ms_[id % kEventRing] = ms;
  return Event{id};
}

double CpuBackend::event_ms(Event e) {
  HS_CHECK(e.id >= 0 && e.id < next_event_ && next_event_ - e.id <= kEventRing, "event ", e.id,
           " was not recorded or is too old to have a time");
  return event_times_ms_[e.id % kEventRing];
}

void CpuBackend::embed(void* out, const void* table, const int32_t* ids, int64_t rows,
                       int64_t dim) {
  cpu::embed(F(out), F(table), ids, rows, dim);
}
void CpuBackend::add_rows(void* x, const void* table, const int32_t* idx, int64_t rows,
                          int64_t dim) {
  cpu::add_rows(F(x), F(table), idx, rows, dim);
}
void CpuBackend::layernorm(void* out, const void* x, const void* w, const void* b, int64_t rows,
                           int64_t dim, float eps) {
  cpu::layernorm(F(out), F(x), F(w), F(b), rows, dim, eps);
}
void CpuBackend::rmsnorm(void* out, const void* x, const void* w, int64_t rows, int64_t dim,
                         float eps) {
  cpu::rmsnorm(F(out), F(x), F(w), rows, dim, eps);
}
void CpuBackend::linear(void* out, const void* x, const void* w, const void* b, int64_t rows,
                        int64_t k, int64_t n) {
  cpu::linear(F(out), F(x), F(w), F(b), rows, k, n);
}
void CpuBackend::linear_f32(float* out, const void* x, const void* w, int64_t rows, int64_t k,
                            int64_t n) {
  cpu::linear(out, F(x), F(w), nullptr, rows, k, n);
}
void CpuBackend::scale(void* x, float s, int64_t n) {
  cpu::scale(F(x), s, n);
}
void CpuBackend::rope(void* x, const int32_t* pos, int64_t rows, int64_t heads, int64_t head_dim,
                      float theta) {
  cpu::rope(F(x), pos, rows, heads, head_dim, theta);
}
void CpuBackend::attention(void* out, const void* q, const void* k, const void* v,
                           const int32_t* block_table, const int32_t* seq, const int32_t* pos,
                           const cpu::AttentionShape& s) {
  cpu::attention(F(out), F(q), F(k), F(v), block_table, seq, pos, s);
}
void CpuBackend::relu(void* x, int64_t n) {
  cpu::relu(F(x), n);
}
void CpuBackend::silu_mul(void* out, const void* gate, const void* up, int64_t n) {
  cpu::silu_mul(F(out), F(gate), F(up), n);
}
void CpuBackend::add(void* out, const void* a, const void* b, int64_t n) {
  cpu::add(F(out), F(a), F(b), n);
}

void CpuBackend::sample(int32_t* tokens_host, const float* logits, int64_t rows, int64_t vocab,
                        const SamplingParams& p, const uint64_t* keys_host,
                        const int64_t* steps_host) {
  for (int64_t r = 0; r < rows; ++r)
    tokens_host[r] = sample_token(logits + r * vocab, vocab, p, keys_host[r], steps_host[r]);
}

}  // namespace hs

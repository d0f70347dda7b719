// The cpu backend: the Backend interface over the fp32 cpu ops (backend/cpu/ops.h). "Device"
// memory is ordinary host memory, every call completes before it returns (so streams need no
// ordering), and event times are host steady-clock milliseconds. It is the CI backend and the
// oracle: the engine runs on it unchanged, and its results must equal the reference engine's.
#pragma once

#include <chrono>
#include <unordered_map>
#include <vector>

#include "backend/backend.h"

namespace hs {

class CpuBackend final : public Backend {
 public:
  // device_capacity_bytes: the notional device memory; device_alloc beyond it throws, so a plan
  // that overruns its device budget fails on the cpu backend as it would on a GPU.
  explicit CpuBackend(size_t device_capacity_bytes);
  ~CpuBackend() override;

  std::string name() const override { return "cpu"; }
  std::string device_name() const override { return "cpu (fp32 reference)"; }
  DType dtype() const override { return DType::f32; }

  void* host_alloc(size_t bytes) override;
  void host_free(void* p) override;
  void* device_alloc(size_t bytes) override;
  void device_free(void* p) override;
  void host_register(void*, size_t) override {}  // host memory is all the cpu backend uses
  void host_unregister(void*) override {}
  bool device_memory_is_host() const override { return true; }
  size_t device_capacity_bytes() const override { return device_capacity_bytes_; }

  // What is allocated now (tests check that a run holds exactly the memory its plan said).
  size_t host_allocated_bytes() const { return host_bytes_; }
  size_t device_allocated_bytes() const { return device_bytes_; }

  void copy_h2d(void* dst, const void* src, size_t bytes, Stream s) override;
  void copy_d2h(void* dst, const void* src, size_t bytes, Stream s) override;
  void copy_d2d(void* dst, const void* src, size_t bytes, Stream s) override;
  void copy_rows(void* dst, const int32_t* dst_rows, const void* src, const int32_t* src_rows,
                 int64_t n_rows, int64_t row_elems, Stream s) override;
  void copy_runs(void* dst, const void* src, const std::vector<CopyRun>& runs, size_t unit_bytes,
                 Stream s) override;
  void dequantize(void* dst, const void* src, WeightFormat f, int64_t rows, int64_t cols,
                  int64_t group, Stream s) override;
  void compress_rows(void* dst, const void* src, const int32_t* rows, int64_t count, int64_t cols,
                     CacheFormat f, int64_t group, Stream s) override;
  void expand_rows(void* dst, const void* src, int64_t count, int64_t cols, CacheFormat f,
                   int64_t group, Stream s) override;
  Event record(Stream s) override;
  void wait(Stream, Event) override {}  // work is complete when enqueued
  void sync(Event) override {}
  void synchronize() override {}
  double event_ms(Event e) override;

  void embed(void* out, const void* table, const int32_t* ids, int64_t rows, int64_t dim) override;
  void add_rows(void* x, const void* table, const int32_t* idx, int64_t rows, int64_t dim) override;
  void layernorm(void* out, const void* x, const void* w, const void* b, int64_t rows, int64_t dim,
                 float eps) override;
  void rmsnorm(void* out, const void* x, const void* w, int64_t rows, int64_t dim,
               float eps) override;
  void linear(void* out, const void* x, const void* w, const void* b, int64_t rows, int64_t k,
              int64_t n) override;
  void linear_f32(float* out, const void* x, const void* w, int64_t rows, int64_t k,
                  int64_t n) override;
  void scale(void* x, float s, int64_t n) override;
  void rope(void* x, const int32_t* pos, int64_t rows, int64_t heads, int64_t head_dim,
            float theta) override;
  void attention(void* out, const void* q, const void* k, const void* v, const int32_t* block_table,
                 const int32_t* seq, const int32_t* pos, const cpu::AttentionShape& s) override;
  void relu(void* x, int64_t n) override;
  void silu_mul(void* out, const void* gate, const void* up, int64_t n) override;
  void add(void* out, const void* a, const void* b, int64_t n) override;
  void sample(int32_t* tokens_host, const float* logits, int64_t rows, int64_t vocab,
              const SamplingParams& p, const uint64_t* keys_host,
              const int64_t* steps_host) override;

 private:
  size_t device_capacity_bytes_;
  size_t host_bytes_ = 0, device_bytes_ = 0;
  std::unordered_map<void*, size_t> host_blocks_, device_blocks_;  // pointer -> bytes
  std::chrono::steady_clock::time_point epoch_;
  // Times of the latest kEventRing events, by Event::id modulo the ring: bounded memory over a
  // long run, while the engine reads each event's time within the step that recorded it.
  static constexpr int64_t kEventRing = int64_t(1) << 20;
  std::vector<double> event_times_ms_;
  int64_t next_event_ = 0;
};

}  // namespace hs

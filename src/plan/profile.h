// Measuring the cost model's constants on a backend: pinned host-to-device and device-to-host
// bandwidth, the GEMM rate and device memory bandwidth, each timed with the backend's events.
#pragma once

#include <cstddef>
#include <cstdint>

#include <vector>

#include "backend/backend.h"
#include "model/config.h"
#include "plan/plan.h"

namespace hs {

struct ProfileOptions {
  // Each measurement grows its size until one timed run takes this long or the size reaches
  // its cap (then repeats runs until they take this long together): shorter runs measure
  // launch and event overheads, not rates.
  double target_ms = 5;
  size_t max_copy_bytes = size_t(256) << 20;  // 256 MiB: well past PCIe's ramp-up
  int64_t max_gemm_dim = 8192;                // rows = k = n: a large projection, near peak
  // measure_model_costs: the row counts of each linear's curve (ascending), up to the first
  // whose run takes max_point_ms; the prefill attention timed on attention_seqs sequences of
  // attention_tokens tokens.
  std::vector<int64_t> gemm_rows = {1,    16,   64,   128,   256,   512,  1024,
                                    2048, 4096, 8192, 16384, 32768, 65536};
  double max_point_ms = 10;
  int64_t attention_seqs = 4, attention_tokens = 512;
  // measure_model_costs: a square GEMM timed in a burst after the device idled, then over
  // sustain_ms of back-to-back runs; sustained / burst time (CostConstants::sustained_slowdown)
  // scales every curve point and the prefill attention whose run takes capped_from_ms or more,
  // as a GPU's power cap slows them in a long run of GEMMs (the engine's prefill and K/V
  // recompute) against the short bursts the points are timed in: 13-16% on the H100s here.
  // sustain_ms = 0, or the cpu backend (no such cap): no scaling.
  double sustain_ms = 2000, capped_from_ms = 0.1;
};

// Times H2D and D2H copies between host_alloc() memory and the device, square GEMMs through
// Backend::linear (2 d^3 FLOPs), and a device-to-device copy, which reads and writes each
// byte (mem_gbps = 2 bytes / time). Every size is run once untimed first. Sizes double (copies,
// from 4 MiB) or the FLOPs double (GEMMs, from d = 128) until a run takes target_ms; the rate
// is the median of three timings at that size. Measured: 0.55-0.85 s on an H100 80GB HBM3
// (PCIe 5: 45-55 GB/s each way from run to run, 900 TFLOP/s fp16 and bf16 at d = 8192,
// 2980 GB/s device copies), about 0.1-0.2 s on the cpu backend.
CostConstants measure_constants(Backend& b, const ProfileOptions& o = {});

// The H2D rate as a long run of loads meets it: back-to-back copies of copy_bytes from
// host_alloc() memory to the device on the cache-load stream for about `ms`, each timed by
// events. A link's rate is not steady: on the H100s here, with nothing else on the GPU, some
// 64-256 MiB copies run at half rate (~22 GB/s) in most seconds, and a loop of them averages
// a few % under its fastest copy, the rate measure_constants reports (docs/BENCHMARKS.md,
// "The H100 link's own rate"). At least four copies, whatever `ms`.
struct H2dSample {
  double mean_gbps = 0;          // every copy's bytes over every copy's time
  double best_gbps = 0;          // the fastest copy
  double slowest_gbps = 0;       // the slowest copy
  int64_t copies = 0;            // copies timed
  int64_t copy_bytes = 0;        // bytes each
  int64_t half_rate_copies = 0;  // copies at under 60% of the fastest
};
H2dSample sample_h2d(Backend& b, double ms, size_t copy_bytes = size_t(64) << 20);

// What the cost model needs to know of one model on b, into k: the time curve of each of its
// linears (plan/gemm_time.h), the rate of its causal prefill attention, and the fixed cost of
// a kernel, and the sustained slowdown of GEMMs (ProfileOptions::sustain_ms). Then times the
// H2D and D2H copies again and keeps the higher of each against k's (a link can run slow for
// a while after a process starts, never fast). Takes 4.5-5 s on an H100 (2-2.5 s without the
// slowdown).
void measure_model_costs(Backend& b, const ModelConfig& c, CostConstants& k,
                         const ProfileOptions& o = {});

}  // namespace hs

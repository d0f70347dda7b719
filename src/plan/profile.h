// Measuring the cost model's constants on a backend: pinned host-to-device and device-to-host
// bandwidth, the GEMM rate and device memory bandwidth, each timed with the backend's events.
#pragma once

#include <cstddef>
#include <cstdint>

#include "backend/backend.h"
#include "plan/plan.h"

namespace hs {

struct ProfileOptions {
  // Each measurement grows its size until one timed run takes this long or the size reaches
  // its cap (then repeats runs until they take this long together): shorter runs measure
  // launch and event overheads, not rates.
  double target_ms = 5;
  size_t max_copy_bytes = size_t(256) << 20;  // 256 MiB: well past PCIe's ramp-up
  int64_t max_gemm_dim = 8192;                // rows = k = n: a large projection, near peak
};

// Times H2D and D2H copies between host_alloc() memory and the device, square GEMMs through
// Backend::linear (2 d^3 FLOPs), and a device-to-device copy, which reads and writes each
// byte (mem_gbps = 2 bytes / time). Every size is run once untimed first. Sizes double (copies,
// from 4 MiB) or the FLOPs double (GEMMs, from d = 128) until a run takes target_ms; the rate
// is the median of three timings at that size. Measured: 0.55-0.85 s on an H100 80GB HBM3
// (PCIe 5: 45-55 GB/s each way from run to run, 900 TFLOP/s fp16 and bf16 at d = 8192,
// 2980 GB/s device copies), about 0.1-0.2 s on the cpu backend.
CostConstants measure_constants(Backend& b, const ProfileOptions& o = {});

}  // namespace hs

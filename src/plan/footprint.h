// The memory a plan needs, host and device, before any work starts. It is not a model of the
// engine's memory but the engine's own layout: plan_footprint() lays out the run exactly as
// the engine will (cache/run_memory.h, from run_shape() below) without allocating, and reads
// the sizes off it. So `hybridserve plan` and `run` agree to the byte, and a plan made under
// a budget is one the engine can build under it.
//
// Host pool = streamed weights (L - gpu_weight_layers layers, plan.h: streams_weights), unless
//             the node's ranks share them (then they are the node pool's, once per node)
//           + host caches (L - gpu_cache_layers layers, every request at its final size)
//           + staging: token ids of every final token (int32) and, keeping a cache, one new
//             row a request at the larger of the K/V and checkpoint row sizes
// Node      = shared weights + ranks x (host pool + device pool where it is host memory)
//             (plan.h: NodeLayout::host_bytes)
// Users size jobs from these numbers (an engine that takes more is killed by the OOM killer with
// nothing in its log); the engine holds exactly them.
//
// Device    = the engine's device pool (regions aligned to 256 bytes): model-wide weights,
//             resident layers and the double buffer, resident caches, and the working set
//             (hidden states of every mini-batch; per working set, host_sets of them for
//             host-cache items and two for device-cache ones (cache/run_memory.h), the working K/V,
//             loaded checkpoints and the layer input kept for write-back; compute temporaries sized
//             for the widest step, at least the longest prompt the context admits; and the head).
// It does not include the backend's own workspaces (cuBLAS, sampling buffers): a budget is what
// the engine may allocate beyond them (the CUDA backend's device_capacity_bytes() already
// subtracts them, and plan_run caps the budget at it).
#pragma once

#include <cstdint>
#include <vector>

#include "cache/run_memory.h"
#include "model/config.h"
#include "plan/plan.h"

namespace hs {

struct Footprint {
  int64_t host_weight_bytes = 0;  // streamed weights, in the host pool or the node pool
  int64_t host_cache_bytes = 0;
  int64_t host_staging_bytes = 0;
  int64_t host_pool_bytes = 0;      // a rank's: caches + staging (+ weights when not shared)
  int64_t shared_weight_bytes = 0;  // the node pool: the weights when shared, else 0
  int64_t node_host_bytes = 0;      // NodeLayout::host_bytes of the above and device_bytes

  int64_t device_global_weight_bytes = 0;
  int64_t device_layer_weight_bytes = 0;  // resident layers and the double buffer
  int64_t device_cache_bytes = 0;         // resident cache layers
  int64_t working_set_bytes = 0;          // the rest: working set, indices, alignment padding
  int64_t device_bytes = 0;               // the sum of the four: RunMemory's device.bytes()
};

// The run shape the engine lays out for plan p and workload w, its elements of type dtype
// (the backend's; the planner uses p.dtype). p.host_pool_bytes becomes the host pool's size
// (0: exactly the regions). Mini-batches not yet formed are formed as the engine forms them
// (default_mini_batches, plan/mini_batches.h).
RunShape run_shape(const ModelConfig& c, const Plan& p, const Workload& w, DType dtype,
                   size_t max_chunk_bytes = MemoryPool::kDefaultMaxChunkBytes);

// The footprint of plan p for workload w, from RunMemory(run_shape(c, p, w, p.dtype)).
Footprint plan_footprint(const ModelConfig& c, const Plan& p, const Workload& w);

// One GiB, 2^30 bytes: the unit of --gpu-mem-gib and --host-mem-gib.
constexpr double kBytesPerGib = 1024.0 * 1024.0 * 1024.0;
inline double to_gib(int64_t bytes) {
  return static_cast<double>(bytes) / kBytesPerGib;
}

}  // namespace hs

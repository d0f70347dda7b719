// The memory a plan needs, host and device, before any work starts. Users size jobs from the
// host number (an engine that takes more is killed by the OOM killer with nothing in its log),
// so the engine allocates exactly these parts.
//
// Caches are counted at their final size: request i ends with prompt_i + gen_i tokens, i.e.
// ceil((prompt_i + gen_i) / block_tokens) whole blocks, K/V or activation blocks by
// is_act_block() (activation blocks hidden*elem a row, K/V blocks 2*kv_dim*elem a row).
// Block kinds do not depend on the layer: device-resident cache layers hold the same blocks.
//
// Host pool = (n_layers - gpu_weight_layers) * W                       non-resident weights
//           + (n_layers - gpu_cache_layers) * sum_i cache_i             host caches, final size
//           + staging                                                  token ids + one layer's
//                                                                      new rows for the batch
// Device    = model-wide weights (embeddings, final norm, head)
//           + gpu_weight_layers * W + (2 * W if any layer streams)     resident + double buffer
//           + gpu_cache_layers * sum_i cache_i                         resident caches
//           + working set of the heaviest mini-batch (below)
// Working set of mini-batch R (one layer at a time):
//   2 * cache_io(R)   the blocks of R as K/V (activation blocks are recomputed into K/V) plus
//                     R's checkpoint rows as loaded; twice, since the next mini-batch's blocks
//                     are prefetched while this one computes
//   + max(prefill, decode) temporaries: per token processed 2h (residual, normed) + 2q (query,
//     attention output) + 2kv (new K, V) + (m-1) ffn (FFN intermediate, m = 2 OPT, 3 SwiGLU)
//     elements, the prefill processing every prompt token of R, a decode step one per request;
//     plus fp32 logits of one row per request and, in decode, the normed checkpoint rows.
// recompute-tokens keeps no cache: its working set is the K/V of R for one layer at full length
// plus the temporaries of all R's positions.
#pragma once

#include <cstdint>
#include <vector>

#include "model/config.h"
#include "plan/plan.h"

namespace hs {

struct Footprint {
  int64_t host_weight_bytes = 0;
  int64_t host_cache_bytes = 0;
  int64_t host_staging_bytes = 0;
  int64_t host_pool_bytes = 0;  // the sum of the three

  int64_t device_global_weight_bytes = 0;
  int64_t device_layer_weight_bytes = 0;  // resident layers and the double buffer
  int64_t device_cache_bytes = 0;         // resident cache layers
  int64_t working_set_bytes = 0;
  int64_t device_bytes = 0;  // the sum of the four
};

// The footprint of plan p for workload w. The working set is that of the heaviest of
// p.mini_batches, or, before they are formed (mini_batches empty), of the mini_batch_size
// requests with the longest prompts and caches: a bound for any assignment.
Footprint plan_footprint(const ModelConfig& c, const Plan& p, const Workload& w);

// One GiB, 2^30 bytes: the unit of --gpu-mem-gib and --host-mem-gib.
constexpr double kBytesPerGib = 1024.0 * 1024.0 * 1024.0;
inline double to_gib(int64_t bytes) {
  return static_cast<double>(bytes) / kBytesPerGib;
}

}  // namespace hs

// Every buffer a run uses, host and device, laid out before anything is allocated; the engine
// then allocates exactly this. The host pool is the plan's number (plan/footprint.h, what users
// size jobs from): the engine's regions must fit in it, and what they leave is kept as staging
// so the run holds exactly what the plan said.
//
// Host pool (pinned on CUDA; packed, no padding, so its size is the sum of its parts):
//   weights   the parts of every streamed layer (L - gpu_weight_layers of them, spread over the
//             depth as util/spread.h says), as the backend's dtype or compressed (RunShape::
//             weight_format, model/quant.h: stored_part_bytes); in the node pool instead
//             when the ranks of a node share them (RunShape::shared_weights)
//   cache     K/V and checkpoint blocks of the layers whose cache lives on the host, in the
//             element type or compressed (RunShape::cache_format, model/cache_format.h)
//   staging   the rest of the plan's pool
// Node pool (shared_weights only; laid over the node's shared segment, registered for DMA):
//   weights   as above, once for every rank of the node
// Device (regions aligned to 256 bytes):
//   weights         model-wide parts and the GPU-resident layers (the others)
//   weight buffers  two layer-sized buffers for streamed layers (double buffering)
//   weight staging  with compressed weights, two buffers of a compressed layer: its bytes land
//                   there and are expanded into the weight buffer of the same parity
//   cache           blocks of the GPU-resident cache layers (gpu_cache_layers of them; the
//                   host holds the other L - gpu_cache_layers, spread over the depth)
//   working set     hidden states of every mini-batch (they stay between layers); working
//                   sets (items in flight of each cache home: host_sets for host-cache
//                   layers, two for device-cache layers, where the plan has them; plan.h:
//                   working_set_turns) of working K/V blocks, loaded checkpoints and the layer
//                   input kept for write-back (and, with a compressed host cache, the host
//                   sets' compressed rows as loaded and as written back); one set of compute
//                   temporaries; the head's
//   indices         each mini-batch's index arrays (engine/mini_batch.h), uploaded each step
#pragma once

#include <cstdint>
#include <vector>

#include "cache/cache_store.h"
#include "cache/memory_pool.h"
#include "model/config.h"
#include "model/quant.h"
#include "util/dtype.h"

namespace hs {

// The most working sets host-cache items may take turns on (RunShape::host_sets).
constexpr int64_t kMaxHostSets = 4;

// What a run holds: the model, the cache policy's shape and the largest batch it will run.
struct RunShape {
  ModelConfig config;
  DType dtype = DType::f16;
  int64_t block_tokens = 16;
  double act_fraction = 0;  // share of blocks held as checkpoints
  bool keep_cache = true;   // false: recompute-tokens (no cache; every step reruns all tokens)
  int64_t gpu_weight_layers = 0;
  int64_t gpu_stored_weight_layers = 0;  // Plan::gpu_stored_weight_layers
  int64_t gpu_cache_layers = 0;
  int64_t host_sets = 2;  // working sets of the host-cache layers' items (plan.h)
  WeightFormat weight_format = WeightFormat::native;  // of the streamed layers (model/quant.h)
  int64_t quant_group = kDefaultQuantGroup;
  CacheFormat cache_format = CacheFormat::native;  // of the host-cache layers' blocks
  int64_t cache_group = kDefaultCacheGroup;
  std::vector<int64_t> prompt_lens;                // per request
  std::vector<int64_t> gen_lens;                   // per request: tokens to generate
  std::vector<std::vector<int32_t>> mini_batches;  // request indices
  int64_t host_pool_bytes = 0;  // the plan's pool; 0: exactly what the regions need
  bool shared_weights = false;  // streamed weights in the node pool, not the rank's host pool
  size_t max_chunk_bytes = MemoryPool::kDefaultMaxChunkBytes;
};

// The most a mini-batch asks of the per-item buffers in any step, and what its index arrays
// need. The engine checks a batch against these before it starts.
struct ItemCapacity {
  int64_t tokens = 0;  // tokens run through a layer in one step (prefill: the prompts; at
                       // least the longest prompt the context admits)
  int64_t requests = 0;
  int64_t max_blocks = 0;  // blocks of its longest request
  int64_t blocks = 0;      // blocks of all its requests (working K/V blocks)
  int64_t act_blocks = 0;  // checkpoint blocks of all its requests (loaded checkpoints)
  int64_t index_elems(int64_t block_tokens) const;  // int32 elements of its index arrays
  bool fits_in(const ItemCapacity& o) const;        // every field <= o's
  void widen(const ItemCapacity& o);                // element-wise max
};

// Tokens a request's cache is sized for: prompt + gen, its final length (plan/footprint.h
// counts the same; the last generated token is never cached, so one row is spare).
int64_t cache_capacity_tokens(int64_t prompt_len, int64_t gen_len);
// Capacity one mini-batch of the shape needs.
ItemCapacity item_capacity(const RunShape& s, const std::vector<int32_t>& mini_batch);

struct RunMemory {
  // Throws hs::Error if the regions do not fit in s.host_pool_bytes.
  explicit RunMemory(const RunShape& s);
  RunMemory(const RunMemory&) = delete;  // the cache stores point into the pools
  RunMemory& operator=(const RunMemory&) = delete;

  RunShape shape;
  ItemCapacity item;   // widest mini-batch
  int64_t x_rows = 0;  // hidden-state rows of every mini-batch in the widest step
  CacheLayout cache_layout;

  MemoryPool host;
  MemoryPool node;  // empty unless shape.shared_weights
  MemoryPool device;

  // Host or node pool (weight_pool()).
  std::vector<std::vector<int>> host_layer_parts;  // [layer][i of layer_parts()]; streamed only
  MemoryPool& weight_pool() { return shape.shared_weights ? node : host; }
  const MemoryPool& weight_pool() const { return shape.shared_weights ? node : host; }
  // Host pool.
  CacheStore host_cache;  // host-cache layers, in order (the i-th is the i-th spread layer)

  // Device.
  std::vector<int> device_global_parts;              // [i of global_parts()]
  std::vector<std::vector<int>> device_layer_parts;  // [layer][i]; empty for streamed layers
  // [layer][i]: the parts as stored (compressed ones compressed) of the streamed layers that
  // keep them on the device (Plan::gpu_stored_weight_layers); empty for the others.
  std::vector<std::vector<int>> device_stored_parts;
  std::vector<int> weight_buffer_parts[2];   // empty when every layer is resident
  std::vector<int> weight_staging_parts[2];  // compressed weights only: as stored
  CacheStore device_cache;                   // device-cache layers, in order
  int x = -1;                                // [x_rows, hidden]
  struct WorkingSet {
    int k = -1, v = -1;  // [blocks, block_tokens, kv_dim]: working K/V
    int act = -1;        // [act_blocks, block_tokens, hidden]: loaded checkpoints
    int x_in = -1;       // [tokens, hidden]: the layer's input, written back as checkpoints
    // Host sets with a compressed host cache only, rows of cache_row_bytes: the loaded blocks
    // land here and are expanded into k, v and act; the rows written back are compressed here
    // (K/V at their working rows, checkpoints at their token rows) and copied to the host.
    int kc = -1, vc = -1;  // [blocks * block_tokens] compressed K (V) rows
    int actc = -1;         // [max(act_blocks * block_tokens, tokens)] compressed checkpoint rows
  };
  std::vector<WorkingSet> sets;   // host-cache layers' host_sets, then device-cache layers' two
  int h = -1;                     // [max(tokens, act_blocks * block_tokens), hidden]
  int q = -1, att = -1;           // [tokens, q_dim]
  int k_new = -1, v_new = -1;     // [tokens, kv_dim]
  int f1 = -1, f3 = -1;           // [tokens, ffn_dim] (f3: SwiGLU only)
  int e = -1;                     // [tokens, embed_dim] (OPT with project_in only)
  int last = -1, last_norm = -1;  // [requests, hidden]
  int last_e = -1;                // [requests, embed_dim] (OPT with project_out only)
  int logits = -1;                // [requests, vocab] fp32
  std::vector<int> device_index;  // per mini-batch
};

}  // namespace hs

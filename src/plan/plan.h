// The plan of a run: how the cache is held (the policy and its activation share), how the
// batch is cut into mini-batches, what stays resident on the GPU, and what the cost model
// predicts for it. Made by the planner (plan/planner.h) from the model's shape, the workload
// and the cost constants; carried out by the engine, which must move exactly the bytes that
// predict_step_traffic() says.
//
// Block accounting (shared by planner and engine, so predictions are exact):
//  - A request's cache is cut into blocks of `block_tokens` consecutive positions. Block b of
//    every request is an activation-checkpoint block iff floor((b+1)*f) > floor(b*f) with
//    f = act_fraction (activation blocks spread evenly); otherwise a K/V block. A request whose
//    cache holds n tokens therefore has ceil(n / block_tokens) blocks, floor(ceil(n/bt) * f) of
//    them activation blocks.
//  - A decode step loads, for each layer whose cache lives on the host, every block holding at
//    least one cached token, whole (block_tokens rows): K/V blocks cost 2*kv_dim*elem bytes a
//    row, activation blocks hidden*elem bytes a row.
//  - A step writes back each new token's entry (K and V, or its checkpoint) for every layer
//    whose cache lives on the host: one row per request per layer.
//  - gpu_weight_layers layers keep their weights on the device; the other L - gpu_weight_layers
//    are streamed: uploaded once per layer per step (prefill and every decode step). Streamed
//    layers are spread evenly over the depth (util/spread.h), so that every stretch of
//    layers sends about the same bytes: with all of them at the end, the copy engines idled
//    through the resident layers and the GPU waited through the streamed ones.
//  - gpu_cache_layers layers keep their caches on the device (never crossing PCIe); the caches
//    of the other L - gpu_cache_layers, spread the same way, live on the host. Block kinds
//    do not depend on the layer: a device-resident cache layer holds the same K/V and
//    activation blocks (its activation blocks are recomputed there too).
//  - The prefill writes back each prompt token's entry (K and V, or its checkpoint, by its
//    block) for every layer whose cache lives on the host; it loads no cache.
//  - Model-wide weights (embeddings, final norm, head) stay on the device; they never cross.
//  - recompute-tokens keeps no cache: each step recomputes every position from token ids.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "model/cache_format.h"
#include "model/config.h"
#include "model/quant.h"
#include "util/dtype.h"
#include "util/spread.h"

namespace hs {

enum class Policy { kv, act, hybrid, recompute_tokens, automatic };
const char* policy_name(Policy p);        // "kv", "act", "hybrid", "recompute-tokens", "auto"
Policy parse_policy(const std::string&);  // throws hs::Error listing the choices

// Measured milliseconds of one linear, out[rows, n] = x[rows, k] w[n, k]^T, at a few row
// counts (ascending): GEMM time is not a rate. Below ~256 rows it is the time to read w (flat
// in rows); above ~1024 it grows with the FLOPs; between, neither roofline holds (measured on
// an H100, 5120 x 5120 fp16: 0.026 ms at 4 rows, 0.031 at 256, 0.088 at 1024, 0.31 at 4096).
struct GemmCurve {
  int64_t k = 0, n = 0;
  std::vector<double> rows, ms;
};

// Constants of the cost model: measured at start-up by profile() or given on the command line.
struct CostConstants {
  double h2d_gbps = 25;  // host-to-device, pinned, GB/s (1e9 bytes)
  double d2h_gbps = 25;
  double gemm_tflops = 150;  // dense fp16/bf16 GEMM rate for shapes without a curve
  double mem_gbps = 2000;    // device memory bandwidth (attention reads K/V at this rate)
  // Compressed weights expanded into the element type, GB/s of expanded bytes written
  // (Backend::dequantize of int4); 0: not measured, taken as reading the compressed bytes and
  // writing the expanded ones at mem_gbps.
  double expand_gbps = 0;
  // The weight exchange's all-gather (Plan::exchange_ranks > 1): bytes each rank receives per
  // second from its peers (NCCL's bus bandwidth; over NVLink, or host memory for the host
  // stand-in). 0: no exchange.
  double exchange_gbps = 0;
  // Causal prefill attention, FLOPs (2 q n (n + 1) for a sequence of n tokens) per time.
  double attention_tflops = 50;
  double launch_us = 5;          // fixed cost of one kernel on the compute stream
  std::vector<GemmCurve> gemms;  // the model's linears, measured (plan/gemm_time.h)
  // How much slower a long run of GEMMs is than a burst (power cap), as measured; already
  // applied to the GEMM-bound points of `gemms` and to attention_tflops (plan/profile.h).
  double sustained_slowdown = 1;
};

// What is being run: per-request prompt lengths and tokens to generate.
struct Workload {
  std::vector<int64_t> prompt_lens;
  std::vector<int64_t> gen_lens;
  static Workload uniform(int64_t batch, int64_t prompt_len, int64_t gen_len);
  int64_t batch() const { return static_cast<int64_t>(prompt_lens.size()); }
};

// How the ranks of a node hold a run: how many ranks share the node, whether they share one host
// copy of the streamed weights (the node pool, cache/shared_segment.h) or each holds its own, and
// whether a rank's device memory is host memory too (the cpu backend).
struct NodeLayout {
  int64_t ranks = 1;
  bool shared_weights = false;
  bool device_in_host = false;
  // Host memory the node's ranks hold together: the shared weights once, and every rank's host
  // pool (which holds its own weights when they are not shared) and, where device memory is
  // host memory, its device pool.
  int64_t host_bytes(int64_t shared_weight_bytes, int64_t rank_pool_bytes,
                     int64_t rank_device_bytes) const {
    return shared_weight_bytes +
           ranks * (rank_pool_bytes + (device_in_host ? rank_device_bytes : 0));
  }
};

struct Plan {
  Policy requested = Policy::automatic;
  Policy policy = Policy::kv;  // what runs (auto resolved to one of the others)
  double act_fraction = 0;     // share of cache blocks held as activation checkpoints
  int64_t block_tokens = 16;
  int64_t mini_batch_size = 1;  // requests per mini-batch (the last may hold fewer)
  int64_t num_mini_batches = 1;
  std::vector<std::vector<int32_t>> mini_batches;  // request indices of each mini-batch
  int64_t gpu_weight_layers = 0;                   // layers whose weights stay on the device
  // Of the other (buffered) layers, these hold their weights on the device as stored, in the
  // compressed weight_format: no PCIe, expanded into the layer buffer each step as a streamed
  // layer's are (stores_weights_on_device). 0 with native weights.
  int64_t gpu_stored_weight_layers = 0;
  int64_t gpu_cache_layers = 0;  // layers whose caches stay on the device
  // Working sets host-cache items take turns on (working_set_turns): a host load can run this
  // many items ahead of compute. More than two only pay where device-cache layers come between.
  int64_t host_sets = 2;
  DType dtype = DType::f16;  // element type of weights and caches
  // How the streamed layers' weights are held in the host pool and cross PCIe (model/quant.h):
  // native (dtype), or compressed and expanded on the device into the layer's buffer.
  WeightFormat weight_format = WeightFormat::native;
  int64_t quant_group = kDefaultQuantGroup;  // int4: inputs per (scale, min)
  // How the host-cache layers' blocks are held in the host pool and cross PCIe
  // (model/cache_format.h): native, or compressed row by row when written back and expanded on
  // the device when loaded. Device-resident cache layers stay in dtype.
  CacheFormat cache_format = CacheFormat::native;
  int64_t cache_group = kDefaultCacheGroup;  // elements per (scale, min)

  // Per layer, per token, as the host cache holds them and PCIe carries them.
  int64_t kv_bytes_per_token = 0;   // 2 * kv_dim * elem, or two compressed rows
  int64_t act_bytes_per_token = 0;  // hidden * elem, or one compressed row

  NodeLayout node;  // the ranks of a node; the budgets below are the node's
  // Ranks of the node that split each streamed layer's PCIe copy and all-gather the rest from
  // each other (--weight-exchange host|nccl): each copies its 1 / exchange_ranks share
  // (streamed_layer_share_bytes) and receives the other shares at constants.exchange_gbps.
  // 1: every rank copies whole layers.
  int64_t exchange_ranks = 1;

  // Memory the run needs (checked when the plan is made, before any work).
  int64_t host_pool_bytes = 0;  // a rank's: host caches + staging (+ its weights, if not shared)
  int64_t shared_weight_bytes = 0;  // the node's one copy of the streamed weights (0: not shared)
  int64_t node_host_bytes = 0;      // NodeLayout::host_bytes: what the host budget must hold
  int64_t device_bytes = 0;  // a rank's: resident share + double-buffered weights + working set

  // Predictions for an average decode step.
  double predicted_pcie_ms = 0;
  double predicted_gpu_ms = 0;
  double predicted_step_ms = 0;  // max of the two (they overlap)
  double predicted_prefill_ms = 0;
  double predicted_tokens_per_s = 0;  // generated tokens / (prefill + decode time)

  CostConstants constants;
  std::string explanation;  // why this choice, in a sentence or two
};

// Bytes one step moves, by kind.
struct StepTraffic {
  int64_t weights_h2d = 0;
  int64_t kv_h2d = 0;
  int64_t act_h2d = 0;
  int64_t write_back_d2h = 0;
  int64_t total_h2d() const { return weights_h2d + kv_h2d + act_h2d; }
};

// Is block b of a request an activation block, under activation share f?
bool is_act_block(int64_t b, double f);

// The layers the plan streams weights for, and keeps the caches of on the host: spread evenly
// (util/spread.h), the last of each stretch, so a single streamed layer is the last and its
// upload goes beside all the others.
bool streams_weights(const Plan& p, int64_t layers, int64_t layer);
bool host_cache_layer(const Plan& p, int64_t layers, int64_t layer);
// Of the layers streams_weights names (those expanded into the two layer buffers), the
// gpu_stored_weight_layers whose stored bytes stay on the device, spread evenly among them;
// the others cross PCIe every phase.
bool stores_weights_on_device(const Plan& p, int64_t layers, int64_t layer);
// The layers whose weights cross PCIe each phase: L - gpu_weight_layers - gpu_stored_...
int64_t host_streamed_layers(const Plan& p, int64_t layers);

// The weight upload of a step: each streamed layer's bytes go in slices beside the items
// (layer, mini-batch; item = layer * mini_batches + mb) of its window: from the previous
// streamed layer's first item to its own first, exclusive (from the step's first item for the
// first streamed layer; a first streamed layer 0 goes whole before the step: window empty).
// Its slices fill the window's items by water-filling: slice_i = max(0, level - cache_i),
// summing to the layer's bytes, so every item's H2D bytes (its cache load, cache_i, plus its
// slice) come as close to equal as they can. Per item: the layer whose bytes [begin, end) go
// beside it (layer -1: none), and the streamed layer two back, the last reader of the buffer
// (of two) the bytes go into, which must be done first (-1: none).
struct WeightSlice {
  int64_t layer = -1;
  int64_t begin = 0, end = 0;
  int64_t buffer_reader = -1;
};
// A layer flagged in on_device (if given) moves no bytes: its slices are empty.
std::vector<WeightSlice> weight_slices(int64_t layers, int64_t mini_batches,
                                       const std::vector<bool>& streamed, int64_t layer_bytes,
                                       const std::vector<int64_t>& item_cache_bytes,
                                       const std::vector<bool>& on_device = {});
// The working sets (cache/run_memory.h) the items of a step take turns on: host-cache items on
// host_sets of them (sets 0 .. host_sets - 1, in turn), device-cache items on two of their own
// (the next two), so a load from the host waits only for the host-cache item host_sets before
// it, never for a stretch of device-cache layers between. Sharing one pair, a host load could
// run at most two items ahead and PCIe idled through every resident stretch (opt-6.7b, kv, 18 of
// 32 cache layers resident: 80% of the measured H2D bandwidth); with a pair of their own, it
// still idled where a stretch's compute outlasted two host loads (~1.8 ms at each of 3 double
// stretches a step in that run), which a third set hides. Per item (layer * mini_batches + mb):
// its set, and the item before it on that set (-1: none), whose compute and write-back must be
// done first.
struct WorkingSetTurn {
  int set = 0;
  int64_t previous = -1;
};
std::vector<WorkingSetTurn> working_set_turns(int64_t mini_batches,
                                              const std::vector<bool>& host_cache,
                                              int64_t host_sets = 2);
// Cut points 0 = c_0 <= .. <= c_n = total of n slices of `total` bytes by water-filling over
// `base` (slice_i = c_{i+1} - c_i ~ max(0, level - base_i)); equal slices when base is even.
std::vector<int64_t> water_fill(int64_t total, const std::vector<int64_t>& base);

// Exact bytes of one decode step in which request i has cached_lens[i] tokens before the step
// (requests that finished are left out by the caller), by the accounting above.
StepTraffic predict_step_traffic(const ModelConfig& c, const Plan& p,
                                 const std::vector<int64_t>& cached_lens);

}  // namespace hs

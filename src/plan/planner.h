// The planner: from a model's shape, a workload and the machine's constants and budgets, the
// plan of a run (plan/plan.h): policy and activation share, mini-batches, what stays resident
// on the GPU, and what the cost model predicts for it. docs/PLANNER.md describes the search.
#pragma once

#include <cstdint>
#include <optional>

#include "model/config.h"
#include "plan/plan.h"
#include "util/dtype.h"

namespace hs {

struct PlanOptions {
  Policy policy = Policy::automatic;
  // Fixes the activation share instead of searching it: for hybrid (and auto, which then
  // means hybrid); kv accepts only 0 and act only 1.
  std::optional<double> act_fraction;
  CostConstants constants;
  // Device memory the engine may allocate (the paper's RTX 4090: 24 GiB), beyond the backend's
  // own workspaces (cuBLAS, sampling buffers): plan_run passes min(--gpu-mem-gib, the
  // backend's device_capacity_bytes()), which has them taken off already.
  double gpu_mem_gib = 24;
  // Host memory the node's ranks may take together (NodeLayout::host_bytes): the shared
  // weights once and every rank's pools.
  double host_mem_gib = 256;
  NodeLayout node;           // ranks per node, shared weights, device memory in host memory
  DType dtype = DType::f16;  // element type of weights and caches
  WeightFormat weight_format = WeightFormat::native;  // of the streamed layers (Plan)
  // The user allows lossy formats: weight_format is chosen among native, int8 and int4 by
  // predicted throughput (make_plan).
  bool weight_format_auto = false;
  int64_t quant_group = kDefaultQuantGroup;
  CacheFormat cache_format = CacheFormat::native;  // of the host cache (Plan)
  // Likewise for the host cache's format, among native, int8 and int4 (--cache-format
  // auto-lossy).
  bool cache_format_auto = false;
  // Ranks of the node splitting each streamed layer's PCIe copy (Plan::exchange_ranks): 1, or
  // node.ranks, with constants.exchange_gbps the all-gather's rate.
  int64_t exchange_ranks = 1;
  int64_t cache_group = kDefaultCacheGroup;
  int64_t block_tokens = 16;
  std::optional<int64_t> mini_batch_size;  // fixes the requests per mini-batch
  // Fixes the working sets host-cache items take turns on (Plan::host_sets) instead of
  // letting the replay choose between 2 and 3.
  std::optional<int64_t> host_sets;
  // At most this many layers' caches on the GPU (the rest on the host, where
  // --cache-format applies); empty: as many as the budget and the cost model favour.
  std::optional<int64_t> max_gpu_cache_layers;
};

// The activation shares searched for hybrid and auto: k / kActShareSteps, k = 0 .. steps.
constexpr int kActShareSteps = 32;

// Chooses the plan with the highest predicted throughput (generated tokens per second) that
// fits both memory budgets. Ties go to the smaller activation share, then to larger
// mini-batches. Device memory the mini-batches leave is filled with whole layers' weights and
// caches.
// Throws hs::Error when no plan fits, saying how many GiB of host or GPU memory the least
// demanding plan needs, what the budget is and what to lower.
Plan make_plan(const ModelConfig& c, const Workload& w, const PlanOptions& o);

}  // namespace hs

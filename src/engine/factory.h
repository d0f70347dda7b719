// How `hybridserve run` (and bench) get an engine without naming one: options, the plan made
// for them, the generator, and what the runner reads back from it (trace, plan).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "cache/node_group.h"
#include "engine/generator.h"
#include "engine/trace.h"
#include "model/weights.h"
#include "plan/plan.h"

namespace hs {

// How `hybridserve run` asks for an engine.
struct EngineOptions {
  std::string engine = "hybrid";       // "hybrid", or "reference" (the oracle)
  Policy policy = Policy::automatic;   // auto: the planner chooses, GPU-resident shares included
  std::optional<double> act_fraction;  // hybrid (and auto): fixes the checkpoint share
  int64_t block_tokens = 16;
  std::optional<int64_t> mini_batch_size;       // fixes the requests per mini-batch
  std::optional<int64_t> host_sets;             // fixes Plan::host_sets
  std::optional<int64_t> max_gpu_cache_layers;  // caps Plan::gpu_cache_layers
  // How the streamed layers' weights are held and cross PCIe (model/quant.h): native, or
  // compressed (lossy) and expanded on the device.
  WeightFormat weight_format = WeightFormat::native;
  bool weight_format_auto = false;  // the planner picks the format (--weight-format auto-lossy)
  int64_t quant_group = kDefaultQuantGroup;
  // How the host cache's blocks are held and cross PCIe (model/cache_format.h).
  CacheFormat cache_format = CacheFormat::native;
  bool cache_format_auto = false;  // the planner picks it (--cache-format auto-lossy)
  int64_t cache_group = kDefaultCacheGroup;
  double gpu_mem_gib = 0;  // device memory the plan may use; 0: what the backend has
  // Host memory of the node's ranks together (plan.h: NodeLayout::host_bytes); 0: 80% of the
  // machine's memory.
  double host_mem_gib = 0;
  // The ranks of this rank's node (nullptr: alone): host_mem_gib holds all of them. With
  // share_weights and two or more ranks they hold one copy of the streamed weights
  // (MemoryLimits::node) and plan alike, with the smallest device budget among them; the
  // engine's construction is then a collective step of the node.
  NodeGroup* node = nullptr;
  bool share_weights = true;
  // Ranks of the node (the node group's size, with shared weights) that split each streamed
  // layer's copy and all-gather the rest (Plan::exchange_ranks; HybridEngine::join_step); 1:
  // none. Its all-gather rate is constants.exchange_gbps.
  int64_t exchange_ranks = 1;
  Workload workload;        // the largest batch generate() will be given
  CostConstants constants;  // the cost model's constants (profiled, or the defaults)
};

// The workload `run` plans for: batches of batch_size requests, each generating
// max_new_tokens after a prompt of max_prompt_tokens (0, or more than the context leaves: what
// the context leaves), so every request the context admits fits the cache. A longer prompt
// (its generation cut short by the context) still fits; a batch that does not fit as a whole
// runs in smaller groups.
Workload run_workload(const ModelConfig& c, int64_t batch_size, int64_t max_prompt_tokens,
                      int64_t max_new_tokens);

// 80% of MemTotal (/proc/meminfo): the default host pool budget, leaving the rest to the OS,
// the dataset and the output.
int64_t default_host_mem_bytes();

// The plan of a run: the planner for every policy (it resolves auto and fixes kv/act shares),
// with the backend's dtype and memory, checked against the engine's own device layout (and
// re-planned with less memory where that overruns the budget). Its device_bytes is the
// engine's.
Plan plan_run(const ModelConfig& c, const EngineOptions& o, const Backend& backend);

// The engine `run` uses: the reference generator for engine "reference", else a HybridEngine
// on plan_run()'s plan. Throws hs::Error (needed bytes, what to lower) if the plan does not fit.
// The weights are copied in; `weights` may go once it returns.
std::unique_ptr<Generator> make_generator(const EngineOptions& o, const WeightSource& weights,
                                          Backend& backend);
// The same, owning its backend (what a rank of `run` keeps).
std::unique_ptr<Generator> make_generator(const EngineOptions& o, const WeightSource& weights,
                                          std::unique_ptr<Backend> backend);

// What the runner asks of a generator without naming the engine: its trace events (nullptr
// for a generator without a trace), the events recorded since the last take (moved out), the
// per-phase summary ("" without a trace), and its plan (nullptr without; as JSON:
// plan/plan_json.h).
const std::vector<TraceEvent>* trace_of(const Generator& g);
std::vector<TraceEvent> take_trace(Generator& g);
std::string trace_summary(const Generator& g);
const Plan* plan_of(const Generator& g);
// Seconds the engine took to build (memory and weights; engine.h: load_s), 0 without one.
double load_s_of(const Generator& g);

// A rank's part in the steps of the weight exchange when it has nothing to generate
// (engine.h: HybridEngine::join_step): ran (a peer ran a step, this rank took part), idle (no
// rank runs one) or all_left (every rank has left: no more steps).
enum class Lockstep { ran, idle, all_left };
// join_step(leaving) of a generator that exchanges weights with its node's ranks; an empty
// function for one that does not.
std::function<Lockstep(bool leaving)> lockstep_of(Generator& g);

}  // namespace hs

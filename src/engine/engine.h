// The hybrid-cache engine: weights and caches in a host pool, streamed to the device layer by
// layer; each cache block holds either K/V or an activation checkpoint (the layer's input),
// from which K/V are recomputed right before attention. Prefill and decode run layer-major over
// mini-batches (engine/schedule.cpp is the loop nest). The policy (kv, act, hybrid,
// recompute-tokens) changes only the data: which blocks are checkpoints, whether a cache is
// kept. On the cpu backend every policy gives the reference engine's tokens, bit for bit.
#pragma once

#include <array>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "backend/backend.h"
#include "cache/block_allocator.h"
#include "cache/block_table.h"
#include "cache/node_group.h"
#include "cache/run_memory.h"
#include "cache/shared_segment.h"
#include "engine/factory.h"  // make_generator() and the rest of what run asks of an engine
#include "engine/generator.h"
#include "engine/mini_batch.h"
#include "engine/trace.h"
#include "engine/tracer.h"
#include "model/weights.h"
#include "plan/footprint.h"  // run_shape(): the layout the engine allocates, as planned
#include "plan/plan.h"
#include "plan/step_schedule.h"

namespace hs {

struct MemoryLimits {
  // Implicit from a host budget: HybridEngine(weights, backend, plan, workload, budget_bytes).
  MemoryLimits(int64_t host_budget = 0, size_t max_chunk = MemoryPool::kDefaultMaxChunkBytes)
      : host_budget_bytes(host_budget), max_chunk_bytes(max_chunk) {}
  // The node's host memory (plan.h: NodeLayout::host_bytes) may not exceed it; 0:
  // default_host_mem_bytes().
  int64_t host_budget_bytes;
  size_t max_chunk_bytes;  // pool chunks (what is pinned at once) and cache segments
  // The ranks of this rank's node (nullptr: alone). Where the plan shares the streamed weights
  // (Plan::node), they load them together into one shared segment, each its share, and the
  // engine's construction is a collective step of the group. Where it exchanges them
  // (Plan::exchange_ranks), every step is one too (HybridEngine::join_step).
  NodeGroup* node = nullptr;
};

class HybridEngine final : public Generator {
 public:
  // plan: what to run (tests build it by hand; memory fields left 0 are filled in from the
  // layout, plan/footprint.h). capacity: the largest batch generate() will be given; caches
  // and working set are sized for it. Checks both memory budgets before allocating anything
  // big; throws hs::Error with the bytes needed and what to lower.
  HybridEngine(const WeightSource& weights, Backend& backend, const Plan& plan,
               const Workload& capacity, const MemoryLimits& limits = {});
  // The same, owning its backend.
  HybridEngine(const WeightSource& weights, std::unique_ptr<Backend> backend, const Plan& plan,
               const Workload& capacity, const MemoryLimits& limits = {});
  ~HybridEngine() override;

  const ModelConfig& config() const override { return cfg_; }
  std::vector<GenResult> generate(const std::vector<GenRequest>& batch,
                                  const SamplingParams& sampling,
                                  const StopFn& stop = nullptr) override;

  const Plan& plan() const { return plan_; }

  // The weight exchange (Plan::exchange_ranks > 1): each rank of the node copies its share of
  // every streamed layer (1 / N of its bytes, rank r the r-th) and all-gathers the rest from
  // its peers, so the ranks walk the layers in lockstep. Each step starts with an agreement
  // among them (generate() says it runs one); a rank with nothing to generate calls join_step
  // instead, as often as it can until every rank leaves: when a peer runs a step, it runs the
  // step's weight copies and all-gathers with it (nothing else, and untraced). Host stand-in
  // only: the all-gather is the node group's (MPI) in the device buffers, which must be host
  // memory (the cpu backend). A failure inside a step ends the process (std::abort), since
  // its peers would wait in the step's next all-gather: the launcher ends the job and
  // --resume completes it.
  // leaving: this rank will generate no more. Returns ran (a peer ran a step, this rank took
  // part), idle (no rank is running one) or all_left (every rank is leaving: no more steps).
  Lockstep join_step(bool leaving);
  bool exchanges_weights() const { return exchange_ != nullptr; }
  const std::vector<TraceEvent>& trace() const { return tracer_.events(); }
  void clear_trace() {
    tracer_.clear();
    trace_done_ = 0;
  }
  Backend& backend() const { return b_; }
  // Write-backs into a device-resident cache whose runs average at least this many bytes go by
  // the copy engines (Backend::copy_runs), shorter ones by the copy_rows kernel; into the host
  // cache always by the copy engines (schedule.cpp: store_cache). Both give the same bytes;
  // tests set 0 (always copy_runs) or a huge value to run each path.
  static constexpr int64_t kDefaultMinDmaRunBytes = 64 << 10;
  void set_min_dma_run_bytes(int64_t bytes) { min_dma_run_bytes_ = bytes; }
  // Each step's logits go to fn as well (copied to the host: for tests, not for speed).
  void set_logits_observer(LogitsFn fn) override { observe_ = std::move(fn); }
  // Each step's schedule goes to fn once it is enqueued, with each operation's end event
  // (Event{}: it had nothing to do), before the step's synchronize. For tests.
  using StepObserver = std::function<void(const StepSchedule&, const std::vector<Event>&)>;
  void set_step_observer(StepObserver fn) { step_observer_ = std::move(fn); }
  int64_t host_pool_bytes() const { return static_cast<int64_t>(mem_->host.bytes()); }
  int64_t shared_weight_bytes() const { return static_cast<int64_t>(mem_->node.bytes()); }
  // Seconds the construction took from the budget checks to the last weight in place.
  double load_s() const { return load_s_; }
  int64_t device_bytes() const { return static_cast<int64_t>(mem_->device.bytes()); }

 private:
  // Device pointers of one layer's parts (nullptr where the model has no such part).
  using LayerWeights = std::array<const void*, static_cast<size_t>(Part::tok_embed)>;

  // One step of the batch (0: prefill), as the schedule runs it.
  struct Step {
    int64_t index = 0;
    std::vector<MiniBatch> mbs;
    std::vector<int64_t> x_row;         // first row of each mini-batch's hidden states
    std::vector<int32_t*> idx;          // each mini-batch's index arrays on the device
    std::vector<WorkingSetTurn> turns;  // per item (layer * mbs + mb): its working set
    std::vector<int32_t> sampled;       // by batch index
    const SamplingParams* sampling = nullptr;
    std::vector<uint64_t> keys;                  // request_key(id), by batch index
    const std::vector<size_t>* group = nullptr;  // by batch index: the index in generate()'s
  };

  // The step's schedule (plan/step_schedule.h) run by schedule.cpp: the shape it is built
  // from, the loop over its operations, and one function per kind of operation, each
  // returning the operation's end event (Event{} where it had nothing to do).
  StepShape step_shape(const Step& s) const;
  void run_step(Step& s);
  Event run_op(Step& s, const StepOp& op);
  Event upload_indices(Step& s);
  Event embed(Step& s, int mb);
  Event load_weights(Step& s, const StepOp& slice);
  Event load_cache(Step& s, int layer, int mb);
  Event recompute(Step& s, int layer, int mb);
  Event compute(Step& s, int layer, int mb);
  Event store_cache(Step& s, int layer, int mb);
  Event sample(Step& s, int mb);
  Event expand_weights(Step& s, int layer);
  Event exchange_weights(Step& s, int layer);
  // The exchange's parts: bytes [begin, end) of this rank's share of a layer (from the share's
  // start; without an exchange the share is the layer) into the layer's buffers (staging for
  // compressed parts), returning the bytes copied; the other ranks' shares into them.
  int64_t copy_share(int layer, int64_t begin, int64_t end);
  void gather_shares(int layer);
  void expand_cache(Step& s, int layer, int mb, bool kv);

  void init(const WeightSource& weights, const MemoryLimits& limits);

  // Helpers.
  const LayerWeights& weights_of(int layer) const;
  bool streams_weights(int layer) const { return streamed_[static_cast<size_t>(layer)]; }
  bool host_cache(int layer) const { return host_cache_[static_cast<size_t>(layer)]; }
  // Bytes a host-cache layer's load of this mini-batch's blocks moves (K/V and checkpoints).
  int64_t item_cache_h2d_bytes(const MiniBatch& m) const;
  // Streamed layers before `layer`: its buffer is the parity of that.
  int weight_buffer(int layer) const;
  const SlotArray& cache_array(int layer, CacheArray a) const;
  const RunMemory::WorkingSet& working_set(const Step& s, int item) const;
  void norm(int layer, Part w, Part b, void* out, const void* x, int64_t rows);
  void* dev(int region) const { return mem_->device.ptr(region); }
  template <typename T>
  T* at(const void* base, int64_t elems) const {
    return reinterpret_cast<T*>(static_cast<char*>(const_cast<void*>(base)) + elems * elem_);
  }
  std::vector<std::vector<int32_t>> form_mini_batches(size_t batch) const;
  // Why requests `group` of `batch` do not fit the planned capacity ("" if they do).
  std::string misfit(const std::vector<GenRequest>& batch, const std::vector<size_t>& group) const;
  // Prefill and decode of requests `group` of `all`, results into results[group[i]].
  void run_batch(const std::vector<GenRequest>& all, const std::vector<size_t>& group,
                 const SamplingParams& sampling, const StopFn& stop,
                 std::vector<GenResult>& results);

  std::unique_ptr<Backend> owned_backend_;  // first: it outlives the pools given back to it
  ModelConfig cfg_;
  Backend& b_;
  Plan plan_;
  Workload capacity_;
  int64_t elem_ = 4;  // bytes of the backend's dtype
  bool keep_cache_ = true;
  double load_s_ = 0;
  std::unique_ptr<SharedSegment> segment_;  // before mem_: the node pool unregisters first
  std::unique_ptr<RunMemory> mem_;
  std::vector<PartSpec> layer_specs_;        // parts of a layer (the same for every layer)
  std::vector<LayerWeights> resident_;       // by layer; filled for the resident ones
  std::vector<bool> streamed_, host_cache_;  // by layer: plan's streams_weights, host_cache_layer
  std::vector<bool> stored_on_device_;       // by layer: plan's stores_weights_on_device
  LayerWeights buffer_[2] = {};              // streamed layers, double buffered
  // Compressed weights (Plan::weight_format): where a streamed layer's compressed parts land
  // before they are expanded into the buffer of the same parity; by part, whether it is
  // compressed and its bytes as streamed (the layer's parts back to back: streamed_bytes_).
  LayerWeights staging_[2] = {};
  std::vector<bool> compressed_;
  std::vector<int64_t> part_bytes_;
  int64_t streamed_bytes_ = 0;
  // The weight exchange (nullptr: none): the node group, and the bytes of a layer's share,
  // ceil(streamed_bytes_ / ranks) (without an exchange: the whole layer, rank 0's).
  NodeGroup* exchange_ = nullptr;
  bool device_exchange_ = false;  // the backend gathers in device memory (NCCL), not exchange_
  int64_t share_bytes_ = 0;
  // Bytes [first, second) of a streamed layer that rank r copies (the last rank's may be short).
  std::pair<int64_t, int64_t> share_of(int r) const {
    return {std::min(r * share_bytes_, streamed_bytes_),
            std::min((r + 1) * share_bytes_, streamed_bytes_)};
  }
  std::pair<int64_t, int64_t> own_share() const {
    return share_of(exchange_ ? exchange_->rank() : 0);
  }
  std::array<const void*, 32> global_ = {};  // model-wide parts by Part
  Tracer tracer_;
  size_t trace_done_ = 0;  // trace events of finished steps (run_step reads their times late)
  // A step filing more trace events than this reads their times at once, so the backend's
  // ring of events (65536 on CUDA) never has to hold two steps of them.
  static constexpr size_t kDeferredTraceEvents = 8192;
  int64_t min_dma_run_bytes_ = kDefaultMinDmaRunBytes;
  LogitsFn observe_;
  StepObserver step_observer_;
  StepScheduler scheduler_;  // the steps' lists (plan/step_schedule.h), rebuilt only as needed
};

}  // namespace hs

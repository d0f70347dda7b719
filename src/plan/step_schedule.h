// The schedule of one step (prefill or decode) of the whole batch, as data: the operations in
// the order the engine enqueues them, each with its stream and the earlier operations whose
// end it waits for. The engine executes the list (engine/schedule.cpp); the cost model times
// the same list (plan/cost_model.cpp); nothing else decides the order.
//
// The step is layer-major. Each streamed layer's weights cross PCIe once; the mini-batches run
// through a layer one after another while the next items' cache blocks and a slice of the next
// streamed layer's weights are in flight. An item is one (layer, mini-batch) pair,
// item = layer * mini_batches + mb. The list, in order:
//
//   1. the first layer's weights, whole, if layer 0 is streamed (no window to spread them over)
//   2. the host-cache loads that start their working sets' turns: they wait for nothing in the
//      step, so they reach the copy engines first
//   3. every mini-batch's index arrays (indices), then their embeddings (embed)
//   4. item 0's cache load, then for each item in order:
//        the next item's cache load,
//        a slice of a later streamed layer's weights (plan.h: weight_slices), and after a
//        layer's final slice its expansion where the weights are compressed,
//        the item's K/V recompute (if it loads checkpoints) and its layer,
//        the write-back of its new cache rows,
//        and on the last layer its mini-batch's head.
//
// Waits (each names an operation earlier in the list; a stream keeps the waits of the
// operations before it, as CUDA streams do):
//   weights     the latest host cache load before it (which may have been enqueued earlier, as
//               a turn's start), and for a window's first slice the last layer op of the
//               streamed layer two back (the last reader of the buffer it fills). Left free,
//               the weights ran a layer ahead and the copy engines, shared first come first
//               served, starved the cache loads beside them.
//   cache_load  the layer op and write-back of the item before it on its working set (plan.h:
//               working_set_turns); from the host, the latest weight slice that moves bytes, so
//               the copy engines take loads and slices in list order; within the device, the
//               index arrays it reads.
//   exchange    (a weight exchange, on the expand stream) the layer's final slice: the other
//               ranks' shares all-gathered; it then stands for the layer's weights below. A
//               layer stored on the device has none (every rank holds its own).
//   expand      (compressed weights, on its own stream) the layer's final slice, or its
//               exchange; it then stands for the layer's weights in the waits below
//   recompute / layer   the item's layer weights (its streamed layer's final slice), its cache
//               load, and the write-back of the item before it on its working set.
//   store       the item's layer op.
//   head        nothing beyond its stream: the mini-batch's last-layer op is before it.
// Operations with nothing to move are left out (a prefill loads no cache; recompute-tokens
// keeps none), and so are waits on them; a weight slice is always listed, since its waits hold
// the slices after it.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "backend/backend.h"  // Stream
#include "plan/plan.h"

namespace hs {

enum class OpKind : int {
  weights,     // a slice [begin, end) of a streamed layer's weights into its buffer
  cache_load,  // an item's cache blocks into its working set (from the host or the device)
  indices,     // every mini-batch's index arrays to the device
  embed,       // a mini-batch's embeddings
  recompute,   // K/V of an item's loaded checkpoint rows
  layer,       // an item's projections, attention and FFN
  store,       // an item's new cache rows into its cache
  head,        // a mini-batch's head and sampling
  expand,      // a streamed layer's compressed weights expanded into its buffer
  exchange,    // the other ranks' shares of a streamed layer all-gathered into its buffer
};
const char* op_kind_name(OpKind k);

struct StepOp {
  OpKind kind = OpKind::layer;
  Stream stream = Stream::compute;
  int32_t layer = -1;  // -1: model-wide (indices, embed, head)
  int32_t mb = -1;     // -1: the whole batch (weights, indices)
  int64_t bytes = 0;   // moved: a slice's or a load's or a write-back's bytes; 0 for compute
  int64_t begin = 0, end = 0;  // weights: the slice's bytes of its layer
  bool host = false;           // cache_load, store: the item's cache is on the host
  // The operations (indices into the list, all earlier) whose end this one waits for; -1: none.
  std::array<int32_t, 3> waits = {-1, -1, -1};
};

// What a step's list is built from. By layer: whether its weights stream and whether its cache
// is on the host; by mini-batch: the bytes one item of it loads and writes back (0: none) and
// the checkpoint rows it recomputes.
struct StepShape {
  int64_t layers = 0;
  std::vector<bool> streamed, host_cache;
  int64_t host_sets = 2;    // Plan::host_sets
  int64_t layer_bytes = 0;  // a streamed layer's bytes as they cross PCIe (this rank's share)
  bool expand = false;      // compressed weights: each streamed layer is expanded once it is in
  // With a weight exchange (Plan::exchange_ranks): the bytes of a streamed layer this rank
  // receives from its peers once its own share is in; 0: none.
  int64_t exchange_bytes = 0;
  // By layer (empty: none): streamed layers whose stored weights stay on the device
  // (Plan::gpu_stored_weight_layers). They move no bytes; their (empty) slices and expansion
  // keep their place in the two layer buffers' turns.
  std::vector<bool> stored_on_device;
  int64_t bytes_of(int64_t layer) const {
    return !stored_on_device.empty() && stored_on_device[static_cast<size_t>(layer)] ? 0
                                                                                     : layer_bytes;
  }
  std::vector<int64_t> load_bytes, store_bytes, recompute_rows;  // by mini-batch
  int64_t mini_batches() const { return static_cast<int64_t>(load_bytes.size()); }
};

struct StepSchedule {
  std::vector<StepOp> ops;
  std::vector<WorkingSetTurn> turns;  // by item: its working set
};

StepSchedule step_schedule(const StepShape& shape);
// The same into `out`, reusing its memory (for callers that build many lists, as the planner).
void step_schedule(const StepShape& shape, StepSchedule& out);

// The lists of many shapes in a row that mostly differ only in their bytes, as the planner's:
// one per decode step of each plan it tries. Where a shape lists the same operations with the
// same waits as the one before, the list before has only its bytes refreshed; otherwise it is
// built again. Either way the same list as step_schedule(shape).
class StepScheduler {
 public:
  const StepSchedule& schedule(const StepShape& shape);

 private:
  StepShape shape_;  // what schedule_ was last made for
  StepSchedule schedule_;
  bool built_ = false;
};

}  // namespace hs

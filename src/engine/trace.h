// The engine's trace: one event per transfer and per compute phase, with device timings where
// the backend has them. It feeds the per-phase summary, the HDF5 /trace and the analysis tools.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace hs {

enum class TraceKind : int {
  weights = 0,    // H2D of one layer's weights
  kv = 1,         // H2D of K/V cache blocks
  act = 2,        // H2D of activation-checkpoint blocks
  recompute = 3,  // K/V recomputed from checkpoints
  attention = 4,
  projections = 5,  // Q/K/V/O projections (and norms)
  ffn = 6,
  write_back = 7,     // D2H of new cache entries
  sampling = 8,       // head, logits and token choice
  embed = 9,          // token + position embedding
  expand = 10,        // compressed weights expanded on the device (model/quant.h)
  cache_expand = 11,  // compressed host-cache rows expanded on the device (cache_format.h)
  exchange = 12,      // a streamed layer's other shares all-gathered from the node's ranks
};
constexpr int kNumTraceKinds = 13;
const char* trace_kind_name(TraceKind k);

struct TraceEvent {
  int64_t step = 0;         // 0 = prefill, then 1, 2, ... per generated token
  int32_t layer = -1;       // -1 for model-wide phases (embedding, head)
  int32_t mini_batch = -1;  // -1 when the event covers the whole batch (weights)
  TraceKind kind = TraceKind::weights;
  int64_t bytes = 0;    // bytes moved (transfers) or 0 (compute)
  double start_ms = 0;  // from the backend's epoch
  double end_ms = 0;
  int32_t stream = 0;  // hs::Stream
};

// Per kind: events, bytes, busy milliseconds. Printed at the end of run and bench.
struct TraceSummary {
  int64_t count[kNumTraceKinds] = {};
  int64_t bytes[kNumTraceKinds] = {};
  double busy_ms[kNumTraceKinds] = {};
};
TraceSummary summarize(const std::vector<TraceEvent>& events);
void accumulate(TraceSummary& into, const std::vector<TraceEvent>& events);  // adds events
std::string format_summary(const TraceSummary& s);  // a small table, one line per kind

}  // namespace hs

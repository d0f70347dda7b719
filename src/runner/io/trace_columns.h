// The columns of a trace as files hold them, in one order: /trace's datasets (trace_h5.h) and
// the trace CSV's header (trace_csv.h) name them alike. The first eight are a trace event's
// fields; rank, session and unit say where it ran.
#pragma once

namespace hs {

enum TraceColumn {
  kStep,
  kLayer,
  kMiniBatch,
  kKind,
  kBytes,
  kStart,
  kEnd,
  kStream,
  kRank,
  kSession,
  kUnit,
  kNumTraceColumns
};
inline constexpr const char* kTraceColumnNames[kNumTraceColumns] = {
    "step",   "layer",  "mini_batch", "kind",    "bytes", "start_ms",
    "end_ms", "stream", "rank",       "session", "unit"};

}  // namespace hs

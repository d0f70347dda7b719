// Steps and units out of a stream of trace rows: the span of each step of each work unit (from
// its first event's start to its last event's end) and of each unit's prefill and decode, the
// way `bench` times them, found in one pass over rows in file order with bounded memory.
//
// A unit's rows are consecutive in a trace (a rank's trace is appended a unit at a time) and its
// steps follow each other, so a step is complete once a row of the same rank and session shows
// another unit or a step two ahead; the step before the current one stays open for events filed
// late (a prefetch for the next step filed before the last events of this one).
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "runner/io/trace_log.h"

namespace hs {

struct StepSpan {
  int32_t rank = 0, session = 0;
  int64_t unit = 0, step = 0;
  double start_ms = 0, end_ms = 0;
  int64_t events = 0;
  double span_ms() const { return end_ms - start_ms; }
};

// One unit on one rank: its prefill (step 0) and its decode steps (every step after it).
struct UnitSpan {
  int32_t rank = 0, session = 0;
  int64_t unit = 0;
  bool has_prefill = false, has_decode = false;
  double prefill_start_ms = 0, prefill_end_ms = 0;
  double decode_start_ms = 0, decode_end_ms = 0;
  int64_t first_decode_step = 0, last_decode_step = 0;
  double prefill_ms() const { return has_prefill ? prefill_end_ms - prefill_start_ms : 0; }
  double decode_ms() const { return has_decode ? decode_end_ms - decode_start_ms : 0; }
  int64_t decode_steps() const { return has_decode ? last_decode_step - first_decode_step + 1 : 0; }
};

class StepTracker {
 public:
  using StepFn = std::function<void(const StepSpan&)>;
  using UnitFn = std::function<void(const UnitSpan&)>;
  StepTracker(StepFn on_step, UnitFn on_unit)
      : on_step_(std::move(on_step)), on_unit_(std::move(on_unit)) {}

  void add(const TraceRow& r);
  // Reports the steps and units still open (at the end of the trace).
  void finish();

 private:
  StepFn on_step_;
  UnitFn on_unit_;
  std::vector<StepSpan> open_steps_;  // a few per rank and session
  std::vector<UnitSpan> open_units_;  // one per rank and session
};

}  // namespace hs

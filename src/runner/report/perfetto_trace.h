// The trace as a Chrome trace-event JSON file, which ui.perfetto.dev and chrome://tracing open:
// one process per rank (and session, when a job was resumed: each session has its own clock),
// one thread per stream, one complete event ("X") per trace row with its step, layer,
// mini-batch, kind, bytes, GB/s and row in args; each step's start as an instant event on its
// process, and the measured step time (with the plan's prediction, when /meta has one) as a
// counter. Written as rows arrive, so memory does not grow with the trace.
//
// Times are microseconds from the lane's clock, printed to the nanosecond from integer
// nanoseconds, so an event that starts where the one before it ends on its stream starts at
// exactly that time in the file too (a viewer nests events on one thread by their times).
#pragma once

#include <cstdint>
#include <cstdio>
#include <map>
#include <string>
#include <utility>

#include "backend/backend.h"
#include "runner/io/trace_log.h"
#include "runner/report/step_spans.h"
#include "runner/report/trace_input.h"

namespace hs {

class PerfettoTrace {
 public:
  // Opens `path` for writing; throws hs::Error naming it when it cannot.
  PerfettoTrace(const std::string& path, const RunInfo& info);
  ~PerfettoTrace();
  PerfettoTrace(const PerfettoTrace&) = delete;
  PerfettoTrace& operator=(const PerfettoTrace&) = delete;

  void add(const TraceRow& r, int64_t row);
  void add_step(const StepSpan& s);
  // Names the processes and threads seen and closes the file; throws if a write failed.
  void finish();

  int64_t events() const { return events_; }
  // Events that began before the previous event on their stream had ended without ending
  // before it did (a clock glitch): viewers drop such events, so they are drawn from the
  // previous event's end. Their row's times are unchanged in its args.
  int64_t adjusted() const { return adjusted_; }

 private:
  int pid(int32_t rank, int32_t session) const;
  void write(const char* text, size_t n);

  std::string path_;
  std::FILE* f_ = nullptr;
  bool first_ = true;
  double predicted_step_ms_ = -1, predicted_prefill_ms_ = -1;
  std::map<std::pair<int32_t, int32_t>, bool> lanes_;   // (rank, session) seen
  std::map<std::pair<int, int>, int64_t> last_end_ns_;  // (pid, stream): end of its last event
  int64_t events_ = 0, adjusted_ = 0;
};

}  // namespace hs

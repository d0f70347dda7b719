// Records the engine's trace: an event is recorded on a stream before and after each piece of
// work, and their times (Backend::event_ms, the device clock on CUDA) are read once the step
// has completed, so tracing never makes the host wait inside a step.
#pragma once

#include <cstdint>
#include <vector>

#include "backend/backend.h"
#include "engine/trace.h"

namespace hs {

class Tracer {
 public:
  explicit Tracer(Backend& backend) : backend_(backend) {}

  // Marks the start of work about to be enqueued on s.
  Event begin(Stream s) { return backend_.record(s); }
  // Marks the end of that work on s and files its event; returns the end event (the point
  // other streams wait on). `bytes`: bytes moved, 0 for compute.
  Event end(Event start, Stream s, TraceKind kind, int64_t step, int layer, int mini_batch,
            int64_t bytes = 0);
  // Fills in the times of the events filed before `upto` (events() index; default: all) that
  // are not yet filled in; the streams must be done with them.
  void resolve(size_t upto = SIZE_MAX);
  size_t filed() const { return events_.size(); }

  const std::vector<TraceEvent>& events() const { return events_; }
  void clear();

 private:
  Backend& backend_;
  std::vector<TraceEvent> events_;
  std::vector<Event> pending_;  // start and end of events_[resolved_ ..], in pairs
  size_t resolved_ = 0;
};

}  // namespace hs

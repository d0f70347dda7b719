#include "engine/tracer.h"

#include <algorithm>

namespace hs {

Event Tracer::end(Event start, Stream s, TraceKind kind, int64_t step, int layer, int mini_batch,
                  int64_t bytes) {
  const Event stop = backend_.record(s);
  TraceEvent e;
  e.step = step;
  e.layer = layer;
  e.mini_batch = mini_batch;
  e.kind = kind;
  e.bytes = bytes;
  e.stream = static_cast<int32_t>(s);
  events_.push_back(e);
  pending_.push_back(start);
  pending_.push_back(stop);
  return stop;
}

void Tracer::resolve(size_t upto) {
  upto = std::min(upto, events_.size());
  if (upto <= resolved_) return;
  for (size_t i = resolved_; i < upto; ++i) {
    const size_t p = 2 * (i - resolved_);
    events_[i].start_ms = backend_.event_ms(pending_[p]);
    events_[i].end_ms = backend_.event_ms(pending_[p + 1]);
  }
  pending_.erase(pending_.begin(),
                 pending_.begin() + static_cast<std::ptrdiff_t>(2 * (upto - resolved_)));
  resolved_ = upto;
}

void Tracer::clear() {
  events_.clear();
  pending_.clear();
  resolved_ = 0;
}

}  // namespace hs

#include "engine/trace.h"

#include <cstdio>

namespace hs {

const char* trace_kind_name(TraceKind k) {
  switch (k) {
    case TraceKind::weights:
      return "weights";
    case TraceKind::kv:
      return "kv";
    case TraceKind::act:
      return "act";
    case TraceKind::recompute:
      return "recompute";
    case TraceKind::attention:
      return "attention";
    case TraceKind::projections:
      return "projections";
    case TraceKind::ffn:
      return "ffn";
    case TraceKind::write_back:
      return "write-back";
    case TraceKind::sampling:
      return "sampling";
    case TraceKind::embed:
      return "embed";
    case TraceKind::expand:
      return "expand";
    case TraceKind::cache_expand:
      return "cache-expand";
    case TraceKind::exchange:
      return "exchange";
  }
  return "?";
}

TraceSummary summarize(const std::vector<TraceEvent>& events) {
  TraceSummary s;
  accumulate(s, events);
  return s;
}

void accumulate(TraceSummary& s, const std::vector<TraceEvent>& events) {
  for (const TraceEvent& e : events) {
    const int k = static_cast<int>(e.kind);
    if (k < 0 || k >= kNumTraceKinds) continue;
    ++s.count[k];
    s.bytes[k] += e.bytes;
    s.busy_ms[k] += e.end_ms - e.start_ms;
  }
}

std::string format_summary(const TraceSummary& s) {
  std::string out = "phase         events        bytes     busy ms    GB/s\n";
  char line[128];
  for (int k = 0; k < kNumTraceKinds; ++k) {
    if (s.count[k] == 0) continue;
    // Bandwidth only for transfers: bytes over the time the copies were busy.
    char gbps[16] = "";
    if (s.bytes[k] > 0 && s.busy_ms[k] > 0)
      std::snprintf(gbps, sizeof gbps, "%7.2f", double(s.bytes[k]) / (s.busy_ms[k] * 1e6));
    std::snprintf(line, sizeof line, "%-12s %7lld %12lld %11.2f %7s\n",
                  trace_kind_name(static_cast<TraceKind>(k)), static_cast<long long>(s.count[k]),
                  static_cast<long long>(s.bytes[k]), s.busy_ms[k], gbps);
    out += line;
  }
  return out;
}

}  // namespace hs

// `hybridserve report`: a trace read once, in chunks, into the numbers of a report
// (trace_stats.h) and, as it is read, a Perfetto timeline (perfetto_trace.h); then the same
// numbers as terminal text (text_report.h) and a self-contained HTML page (html_report.h).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "runner/report/trace_input.h"
#include "runner/report/trace_stats.h"

namespace hs {

struct ReportOptions {
  std::string input;     // a results .h5, a bench .h5 or a bench CSV
  std::string perfetto;  // Chrome trace JSON to write ("" none)
  std::string html;      // HTML page to write ("" none)
  bool text = false;     // print the summary (also when nothing else is asked for)
  std::optional<int32_t> rank;
  std::string steps;  // --steps as given ("" all)
  std::optional<int64_t> timeline_step;
  int64_t chunk_rows = 1 << 16;  // trace rows read at a time
};

// What a report shows: the file's account of the run and the trace's numbers.
struct Report {
  RunInfo info;
  std::optional<RequestSummary> requests;
  TraceStats stats;
  std::string selection;  // the selection in words ("" all rows)
  int64_t perfetto_events = -1, perfetto_adjusted = 0;
};

// Reads o.input once, writes o.perfetto on the way; throws hs::Error naming the file and row of
// bad input.
Report build_report(const ReportOptions& o, const StatsOptions& stats_options);
// The whole command: the report, then its outputs (HTML file, text on stdout).
void run_report(const ReportOptions& o);

// A table of the report, rendered alike as text and as HTML.
struct ReportTable {
  std::string id;     // the HTML section id
  std::string title;  // what it shows
  std::string note;   // one line under it ("" none)
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
  std::vector<bool> numeric;  // right-aligned columns
};
ReportTable summary_table(const Report& r);  // two columns: what, value
ReportTable kinds_table(const Report& r);    // time and bytes by kind and stream
ReportTable streams_table(const Report& r);  // busy time by stream
ReportTable layers_table(const Report& r);   // per layer: bytes in, load vs compute, bound
ReportTable ranks_table(const Report& r);    // per rank and session: balance

// The trace's totals over every selected rank and session: bytes each way, the traced time (each
// rank and session from its first event to its last, summed), the host-to-device rate over it
// and the device's busy time.
struct TraceTotals {
  int64_t h2d_bytes = 0, d2h_bytes = 0;
  double traced_ms = 0, device_busy_ms = 0;
  double h2d_gbps() const { return traced_ms > 0 ? double(h2d_bytes) / (traced_ms * 1e6) : 0; }
};
TraceTotals trace_totals(const TraceStats& s);

// Numbers shared by the summary and the charts.
double link_h2d_gbps(const RunInfo& info);         // the plan's measured H2D rate; 0 when unknown
double predicted_step_ms(const RunInfo& info);     // -1 when unknown
double predicted_prefill_ms(const RunInfo& info);  // -1 when unknown

// Formatting shared by the text and the HTML.
std::string format_bytes(double bytes);  // "1.23 GB" (decimal units, as GB/s are)
std::string format_ms(double ms);        // "12.3 ms", "4.56 s"
std::string format_fixed(double v, int decimals);

}  // namespace hs

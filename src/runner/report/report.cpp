#include "runner/report/report.h"

#include <cmath>
#include <cstdio>
#include <fstream>
#include <memory>

#include "runner/report/html_report.h"
#include "runner/report/perfetto_trace.h"
#include "runner/report/step_spans.h"
#include "runner/report/text_report.h"
#include "util/error.h"

namespace hs {
namespace {

// A row the report can use, or an error naming the file and row.
void check_row(const TraceRow& r, int64_t row, const std::string& path) {
  const TraceEvent& e = r.event;
  HS_CHECK(std::isfinite(e.start_ms) && std::isfinite(e.end_ms), "'", path, "': trace row ", row,
           " has a time that is not a number");
  HS_CHECK(e.end_ms >= e.start_ms, "'", path, "': trace row ", row, " ends (", e.end_ms,
           " ms) before it starts (", e.start_ms, " ms)");
  HS_CHECK(e.bytes >= 0 && e.step >= 0, "'", path, "': trace row ", row,
           " has a negative byte count or step");
  HS_CHECK(r.rank >= 0 && r.session >= 0, "'", path, "': trace row ", row,
           " has a negative rank or session");
}

std::string describe(const Selection& s) {
  std::string out;
  if (s.rank) out = cat("rank ", *s.rank);
  if (s.steps.first != 0 || s.steps.last != INT64_MAX) {
    if (!out.empty()) out += ", ";
    if (s.steps.first == s.steps.last)
      out += cat("step ", s.steps.first);
    else if (s.steps.last == INT64_MAX)
      out += cat("steps ", s.steps.first, " on");
    else
      out += cat("steps ", s.steps.first, " to ", s.steps.last);
  }
  return out;
}

}  // namespace

Report build_report(const ReportOptions& o, const StatsOptions& stats_options) {
  TraceInput input(o.input);
  Report r{input.info(), input.requests(), TraceStats(stats_options),
           describe(stats_options.selection)};
  std::unique_ptr<PerfettoTrace> perfetto;
  if (!o.perfetto.empty()) perfetto = std::make_unique<PerfettoTrace>(o.perfetto, r.info);
  StepTracker steps(
      [&](const StepSpan& s) {
        r.stats.add_step(s);
        if (perfetto) perfetto->add_step(s);
      },
      [&](const UnitSpan& u) { r.stats.add_unit(u); });
  int64_t rows = 0;
  input.read(o.chunk_rows, [&](int64_t first, const std::vector<TraceRow>& chunk) {
    for (size_t i = 0; i < chunk.size(); ++i) {
      const int64_t row = first + static_cast<int64_t>(i);
      check_row(chunk[i], row, o.input);
      if (!r.stats.add(chunk[i], row)) continue;
      steps.add(chunk[i]);
      if (perfetto) perfetto->add(chunk[i], row);
    }
    rows += static_cast<int64_t>(chunk.size());
  });
  steps.finish();
  if (r.info.trace_rows < 0) r.info.trace_rows = rows;
  if (r.stats.rows_selected() == 0 && rows > 0 && !r.selection.empty()) {
    std::string ranks;
    for (int32_t k : r.stats.ranks_read()) ranks += (ranks.empty() ? "" : ", ") + std::to_string(k);
    fail("no trace row of '", o.input, "' is of ", r.selection, " (its rows are of rank ", ranks,
         ", steps 0 to ", r.stats.max_step_read(), ")");
  }
  if (perfetto) {
    perfetto->finish();
    r.perfetto_events = perfetto->events();
    r.perfetto_adjusted = perfetto->adjusted();
  }
  return r;
}

void run_report(const ReportOptions& o) {
  StatsOptions so;
  if (o.rank) so.selection.rank = *o.rank;
  if (!o.steps.empty()) so.selection.steps = parse_step_range(o.steps);
  so.timeline_step = o.timeline_step;
  const Report r = build_report(o, so);
  if (!o.html.empty()) {
    std::ofstream f(o.html, std::ios::binary);
    HS_CHECK(f.good(), "cannot write the HTML report '", o.html, "'");
    f << render_html(r);
    f.close();
    HS_CHECK(!f.fail(), "cannot write the HTML report '", o.html, "'");
  }
  if (o.text || (o.html.empty() && o.perfetto.empty())) std::fputs(render_text(r).c_str(), stdout);
  if (!o.perfetto.empty()) {
    std::fprintf(stderr, "hybridserve report: %lld timeline events -> %s\n",
                 static_cast<long long>(r.perfetto_events), o.perfetto.c_str());
    if (r.perfetto_adjusted > 0)
      std::fprintf(stderr,
                   "hybridserve report: %lld events began before the one before them on their "
                   "stream had ended; drawn from its end (args.start_us_in_trace has their "
                   "start)\n",
                   static_cast<long long>(r.perfetto_adjusted));
  }
  if (!o.html.empty()) std::fprintf(stderr, "hybridserve report: -> %s\n", o.html.c_str());
}

}  // namespace hs

#include "runner/report/html_report.h"

#include <algorithm>
#include <cmath>

#include "runner/report/svg_chart.h"
#include "util/error.h"

namespace hs {
namespace {

constexpr int kWidth = 960;
constexpr size_t kMaxLanesDrawn = 8;  // lines in one chart before it stops being readable

// One color per trace kind (the order of TraceKind).
const char* const kKindColors[kNumTraceKinds] = {
    "#4e79a7",  // weights
    "#f28e2b",  // kv
    "#e15759",  // act
    "#76b7b2",  // recompute
    "#59a14f",  // attention
    "#edc948",  // projections
    "#b07aa1",  // ffn
    "#ff9da7",  // write-back
    "#9c755f",  // sampling
    "#bab0ac",  // embed
    "#17becf",  // expand
    "#8c564b",  // cache-expand
    "#7f7f7f",  // exchange
};
const char* const kLaneColors[kMaxLanesDrawn] = {"#4e79a7", "#f28e2b", "#59a14f", "#e15759",
                                                 "#b07aa1", "#76b7b2", "#9c755f", "#edc948"};

const char* kStyle = R"(
body { font-family: sans-serif; margin: 24px auto; max-width: 1000px; color: #222; }
h1 { font-size: 22px; margin-bottom: 2px; }
h2 { font-size: 17px; border-bottom: 1px solid #ccc; padding-bottom: 3px; margin-top: 28px; }
h3 { font-size: 14px; margin: 14px 0 4px; }
p.sub, p.note { color: #666; font-size: 12px; margin: 2px 0 8px; }
table { border-collapse: collapse; font-size: 12px; margin: 6px 0 10px; }
th, td { padding: 2px 8px; border-bottom: 1px solid #eee; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
table.kv td:first-child { color: #555; white-space: nowrap; }
td.PCIe { color: #4e79a7; font-weight: bold; }
td.compute { color: #59a14f; font-weight: bold; }
footer { color: #888; font-size: 11px; margin-top: 30px; }
)";

std::string table_html(const ReportTable& t, const char* cls = "") {
  std::string out = std::string("<table") + (cls[0] ? cat(" class=\"", cls, "\"") : "") + ">";
  bool header = false;
  for (const std::string& h : t.header) header = header || !h.empty();
  if (header) {
    out += "<tr>";
    for (const std::string& h : t.header) out += "<th>" + xml_escape(h) + "</th>";
    out += "</tr>";
  }
  for (const auto& row : t.rows) {
    out += "<tr>";
    for (size_t c = 0; c < row.size(); ++c) {
      std::string classes;
      if (c < t.numeric.size() && t.numeric[c]) classes = "n";
      if (t.id == "layers" && c + 1 == row.size()) classes = row[c];
      out += (classes.empty() ? "<td>" : "<td class=\"" + xml_escape(classes) + "\">") +
             xml_escape(row[c]) + "</td>";
    }
    out += "</tr>";
  }
  return out + "</table>";
}

std::string section(const std::string& id, const std::string& title, const std::string& body) {
  return "<section id=\"" + id + "\"><h2>" + xml_escape(title) + "</h2>" + body + "</section>\n";
}

std::string note(const std::string& text) {
  return "<p class=\"note\">" + xml_escape(text) + "</p>";
}

std::string lane_name(const LaneStats& l, bool sessions) {
  return sessions ? cat("rank ", l.rank, " session ", l.session) : cat("rank ", l.rank);
}

bool has_sessions(const TraceStats& s) {
  for (const auto& [key, lane] : s.lanes())
    if (key.second > 0) return true;
  return false;
}

std::vector<std::pair<std::string, std::string>> kind_legend(const TraceStats& s) {
  std::vector<std::pair<std::string, std::string>> items;
  for (int k = 0; k < kNumTraceKinds; ++k)
    if (s.kind_total(k).events > 0)
      items.emplace_back(trace_kind_name(static_cast<TraceKind>(k)), kKindColors[k]);
  return items;
}

std::string time_by_kind(const Report& r) {
  const TraceStats& s = r.stats;
  std::vector<StackedBar> bars;
  for (int st = 0; st < kNumStreams; ++st) {
    if (s.stream_total(st).events == 0) continue;
    StackedBar b;
    b.label = stream_name(static_cast<Stream>(st));
    for (int k = 0; k < kNumTraceKinds; ++k) {
      const Tally& c = s.cell(k, st);
      if (c.events == 0) continue;
      b.segments.push_back({c.busy_ms / 1e3, kKindColors[k],
                            cat(trace_kind_name(static_cast<TraceKind>(k)), " on ", b.label, ": ",
                                format_ms(c.busy_ms), ", ", c.events, " events",
                                c.bytes ? ", " + format_bytes(double(c.bytes)) : "")});
    }
    bars.push_back(b);
  }
  std::string body = note("Busy time of each stream, split by the kind of its events.");
  body += svg_stacked_bars(bars, "busy seconds", kWidth) + svg_legend(kind_legend(s), kWidth);
  const ReportTable kinds = kinds_table(r), streams = streams_table(r);
  body += "<h3>" + xml_escape(kinds.title) + "</h3>" + note(kinds.note) + table_html(kinds);
  body += "<h3>" + xml_escape(streams.title) + "</h3>" + note(streams.note) + table_html(streams);
  return section("time-by-kind", "Time by kind and stream", body);
}

std::string pcie(const Report& r) {
  const TraceStats& s = r.stats;
  const bool sessions = has_sessions(s);
  double longest = 0;
  for (const auto& [key, lane] : s.lanes()) longest = std::max(longest, lane.span_ms());
  const bool seconds = longest > 2000;
  const double x_scale = seconds ? 1e-3 : 1.0;
  std::vector<Series> gbps, busy;
  int64_t h2d = 0;
  size_t drawn = 0;
  for (const auto& [key, lane] : s.lanes()) {
    h2d += lane.h2d_bytes();
    if (drawn == kMaxLanesDrawn) break;
    const TimeBins& b = lane.bins;
    Series g{lane_name(lane, sessions) + " host to device", kLaneColors[drawn], {}};
    Series u{lane_name(lane, sessions) + " device busy", kLaneColors[drawn], {}};
    for (int i = 0; i < b.used(); ++i) {
      const double x = (b.origin_ms() - lane.first_ms + (i + 0.5) * b.bin_ms()) * x_scale;
      g.points.emplace_back(x, b.h2d_gbps(i));
      u.points.emplace_back(x, 100.0 * std::min(1.0, b.device_busy_ms()[size_t(i)] / b.bin_ms()));
    }
    gbps.push_back(g);
    busy.push_back(u);
    ++drawn;
  }
  const double link = link_h2d_gbps(r.info);
  std::string body;
  const std::string x_label =
      std::string("time from the rank's first event (") + (seconds ? "s" : "ms") + ")";
  std::vector<std::pair<std::string, std::string>> legend;
  size_t i = 0;
  for (const auto& [key, lane] : s.lanes()) {
    if (i == kMaxLanesDrawn) break;
    legend.emplace_back(lane_name(lane, sessions), kLaneColors[i++]);
  }
  if (h2d == 0) {
    body += note(
        "No host-to-device copies in the selected rows: the plan kept every layer's weights and "
        "caches on the device.");
  } else {
    std::string text = "Host-to-device GB/s (weights and cache loads) in each of " +
                       std::to_string(s.options().time_bins) + " time bins";
    if (link > 0) {
      text += cat("; dashed: the ", format_fixed(link, 1), " GB/s the plan measured");
      double x_end = 0;
      for (const Series& g : gbps)
        if (!g.points.empty()) x_end = std::max(x_end, g.points.back().first);
      gbps.push_back({"measured link rate", "#888", {{0, link}, {x_end, link}}, true});
      legend.emplace_back("link rate (plan)", "#888");
    }
    body += note(text + ".");
    body += svg_line_chart(gbps, x_label, "GB/s", kWidth, 240);
  }
  body += note(
      "Device busy: the share of each bin the device's streams (compute, expand) were "
      "running.");
  body += svg_line_chart(busy, x_label, "device busy %", kWidth, 200);
  body += svg_legend(legend, kWidth);
  if (s.lanes().size() > kMaxLanesDrawn)
    body += note(cat("The first ", kMaxLanesDrawn, " of ", s.lanes().size(),
                     " ranks/sessions drawn; --rank R shows another."));
  return section("pcie", "PCIe and device over time", body);
}

std::string step_times(const Report& r) {
  const TraceStats& s = r.stats;
  Series measured{"measured (mean over units)", "#4e79a7", {}}, low{"fastest", "#a0cbe8", {}},
      high{"slowest", "#a0cbe8", {}};
  for (const auto& [step, t] : s.step_times()) {
    if (step == 0) continue;
    measured.points.emplace_back(double(step), t.mean_ms());
    low.points.emplace_back(double(step), t.min_ms);
    high.points.emplace_back(double(step), t.max_ms);
  }
  std::string body;
  const double predicted = predicted_step_ms(r.info);
  const auto prefill = s.step_times().find(0);
  if (prefill != s.step_times().end())
    body += note(cat("Prefill (step 0): ", format_ms(prefill->second.mean_ms()), " mean over ",
                     prefill->second.count, prefill->second.count == 1 ? " unit" : " units",
                     predicted_prefill_ms(r.info) >= 0
                         ? cat(", predicted ", format_ms(predicted_prefill_ms(r.info)))
                         : ""));
  if (measured.points.empty())
    return section("step-times", "Step times", body + note("No decode steps selected."));
  std::vector<Series> series{low, high, measured};
  std::vector<std::pair<std::string, std::string>> legend{{"measured mean", "#4e79a7"},
                                                          {"fastest and slowest unit", "#a0cbe8"}};
  if (predicted >= 0) {
    series.push_back(
        {"predicted by the plan",
         "#e15759",
         {{measured.points.front().first, predicted}, {measured.points.back().first, predicted}},
         true});
    legend.emplace_back("predicted (plan)", "#e15759");
  }
  body += note("Each decode step from its first event's start to its last event's end.");
  body += svg_line_chart(series, "step", "ms", kWidth, 220) + svg_legend(legend, kWidth);
  return section("step-times", "Step times", body);
}

std::string layers(const Report& r) {
  std::vector<BarGroup> groups;
  for (const auto& [layer, l] : r.stats.layers())
    groups.push_back({layer < 0 ? "head" : std::to_string(layer), {l.load_ms, l.compute_ms}});
  const std::vector<std::pair<std::string, std::string>> series{{"load", "#4e79a7"},
                                                                {"compute", "#59a14f"}};
  const ReportTable t = layers_table(r);
  std::string body = note(t.note + ".");
  body += svg_grouped_bars(groups, series, "ms", kWidth, 220) + svg_legend(series, kWidth);
  body += table_html(t);
  return section("layers", "Per layer: load against compute", body);
}

std::string step_timeline(const Report& r) {
  const StepRows& t = r.stats.timeline();
  if (!t.found || t.rows.empty())
    return section("step-timeline", "Timeline of one step", note("No step to draw."));
  std::vector<int> row_of_stream(kNumStreams, -1);
  std::vector<std::string> rows;
  for (const TraceRow& x : t.rows) row_of_stream[size_t(x.event.stream)] = 0;
  for (int s = 0; s < kNumStreams; ++s)
    if (row_of_stream[size_t(s)] == 0) {
      row_of_stream[size_t(s)] = int(rows.size());
      rows.push_back(stream_name(static_cast<Stream>(s)));
    }
  double t0 = t.rows.front().event.start_ms, t1 = t.rows.front().event.end_ms;
  for (const TraceRow& x : t.rows) {
    t0 = std::min(t0, x.event.start_ms);
    t1 = std::max(t1, x.event.end_ms);
  }
  std::vector<TimeSpan> spans;
  for (size_t i = 0; i < t.rows.size(); ++i) {
    const TraceEvent& e = t.rows[i].event;
    const double ms = e.end_ms - e.start_ms;
    std::string title = cat(trace_kind_name(e.kind), ", layer ", e.layer, ", mini-batch ",
                            e.mini_batch, ": ", format_ms(ms));
    if (e.bytes > 0)
      title +=
          cat(", ", format_bytes(double(e.bytes)),
              ms > 0 ? cat(" at ", format_fixed(double(e.bytes) / (ms * 1e6), 2), " GB/s") : "");
    title += cat(" (trace row ", t.row_index[i], ")");
    spans.push_back({row_of_stream[size_t(e.stream)], e.start_ms - t0, e.end_ms - t0,
                     kKindColors[int(e.kind)], title, e.layer >= 0 ? std::to_string(e.layer) : ""});
  }
  std::string body =
      note(cat("Step ", t.step, " of unit ", t.unit, " on rank ", t.rank,
               t.session ? cat(" (session ", t.session, ")") : "", ": ", t.rows.size(),
               " events over ", format_ms(t1 - t0), t.truncated ? " (more not drawn)" : "",
               ". Numbers in the bars: the layer. --timeline-step N draws "
               "another step."));
  body += svg_timeline(rows, spans, 0, t1 - t0, "ms from the step's first event", kWidth);
  body += svg_legend(kind_legend(r.stats), kWidth);
  return section("step-timeline", cat("Timeline of step ", t.step), body);
}

std::string ranks(const Report& r) {
  const TraceStats& s = r.stats;
  const bool sessions = has_sessions(s);
  std::vector<StackedBar> bars;
  for (const auto& [key, lane] : s.lanes()) {
    double device = 0;
    for (int k = 0; k < kNumStreams; ++k)
      if (is_device_work(k)) device += lane.streams[k].busy_ms;
    const double span = lane.span_ms();
    bars.push_back({lane_name(lane, sessions),
                    {{device / 1e3, "#59a14f", cat("device busy ", format_ms(device))},
                     {std::max(0.0, span - device) / 1e3, "#d5d5d5",
                      cat("device idle ", format_ms(std::max(0.0, span - device)))}}});
  }
  const ReportTable t = ranks_table(r);
  std::string body;
  if (s.lanes().size() <= 1)
    body += note("One rank: nothing to balance.");
  else
    body += note(
        "Traced time of each rank, device busy (green) and idle (grey); a balanced job "
        "has bars of equal length.");
  body += svg_stacked_bars(bars, "seconds", kWidth) + note(t.note) + table_html(t);
  return section("ranks", "Per rank: balance", body);
}

}  // namespace

std::string render_html(const Report& r) {
  std::string out = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">";
  out += "<title>HybridServe report: " + xml_escape(r.info.path) + "</title>";
  out += "<style>" + std::string(kStyle) + "</style></head><body>\n";
  out += "<h1>HybridServe report</h1><p class=\"sub\">" + xml_escape(r.info.path) +
         (r.selection.empty() ? "" : " &middot; " + xml_escape(r.selection)) + "</p>\n";
  const ReportTable summary = summary_table(r);
  out += section("summary", "Run summary", table_html(summary, "kv"));
  out += time_by_kind(r);
  out += pcie(r);
  out += step_times(r);
  out += layers(r);
  out += step_timeline(r);
  out += ranks(r);
  out += "<footer>hybridserve " + xml_escape(HS_VERSION) + " report</footer></body></html>\n";
  return out;
}

}  // namespace hs

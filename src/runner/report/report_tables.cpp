// The report's tables, built once and rendered as text and as HTML alike.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <initializer_list>
#include <map>
#include <set>

#include "runner/report/report.h"
#include "util/error.h"

namespace hs {
namespace {

using json = nlohmann::json;

double json_number(const json& j, const char* key, double otherwise) {
  if (!j.is_object()) return otherwise;
  const auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<double>() : otherwise;
}

std::string json_text(const json& j, const char* key) {
  if (!j.is_object()) return "";
  const auto it = j.find(key);
  if (it == j.end()) return "";
  return it->is_string() ? it->get<std::string>() : it->dump();
}

std::string ratio(double measured, double predicted) {
  if (measured <= 0 || predicted <= 0) return "";
  return cat(" (", format_fixed(measured / predicted, 2), "x the prediction)");
}

std::string percent(double part, double whole) {
  return whole > 0 ? format_fixed(100.0 * part / whole, 1) + "%" : "-";
}

// The model in a line: its shape (bench) or its config.json's main numbers.
std::string model_line(const RunInfo& info) {
  const json& c = info.model_config;
  std::string out = info.model_shape;
  if (c.is_object()) {
    std::string name = json_text(c, "_name_or_path");
    if (name.empty()) name = json_text(c, "model_type");
    out = cat(name, " (", json_text(c, "model_type"), ": ", json_text(c, "num_hidden_layers"),
              " layers, hidden ", json_text(c, "hidden_size"), ", ",
              json_text(c, "num_attention_heads"), " heads)");
  } else if (info.bench.is_object() && out.empty()) {
    out = json_text(info.bench, "model_shape");
  }
  return out.empty() ? "-" : out;
}

std::string plan_line(const json& p) {
  if (!p.is_object()) return "- (the file has no plan)";
  std::string out = json_text(p, "policy");
  const std::string requested = json_text(p, "requested_policy");
  if (!requested.empty() && requested != out) out += cat(" (", requested, " chose it)");
  // The fields a plan has (a plan of an older version may lack some).
  auto part = [&](const std::string& text, std::initializer_list<const char*> keys) {
    for (const char* k : keys)
      if (!p.contains(k)) return;
    out += (out.empty() ? "" : ", ") + text;
  };
  part(cat("act share ", format_fixed(json_number(p, "act_fraction", 0), 3)), {"act_fraction"});
  part(cat(json_text(p, "num_mini_batches"), " mini-batches of ", json_text(p, "mini_batch_size")),
       {"num_mini_batches", "mini_batch_size"});
  part(cat("resident layers: ", json_text(p, "gpu_weight_layers"), " weights, ",
           json_text(p, "gpu_cache_layers"), " caches"),
       {"gpu_weight_layers", "gpu_cache_layers"});
  part(cat(json_text(p, "dtype"), " ", json_text(p, "weight_format")), {"dtype", "weight_format"});
  return out;
}

// Devices by rank, equal ones counted: "2 x NVIDIA H100 80GB HBM3 (hosts n1, n2)".
std::string hardware_line(const json& h) {
  if (!h.is_array() || h.empty()) return "-";
  std::map<std::string, int> devices;
  std::set<std::string> hosts;
  for (const json& r : h) {
    devices[json_text(r, "device")]++;
    const std::string host = json_text(r, "host");
    if (!host.empty()) hosts.insert(host);
  }
  std::string out;
  for (const auto& [device, n] : devices)
    out += cat(out.empty() ? "" : ", ", n, " x ", device.empty() ? "?" : device);
  if (!hosts.empty()) {
    out += " on ";
    bool first = true;
    for (const std::string& host : hosts) {
      out += cat(first ? "" : ", ", host);
      first = false;
    }
  }
  return out;
}

}  // namespace

TraceTotals trace_totals(const TraceStats& s) {
  TraceTotals t;
  for (const auto& [key, lane] : s.lanes()) t.traced_ms += lane.span_ms();
  for (int k = 0; k < kNumStreams; ++k) {
    const Tally c = s.stream_total(k);
    if (is_h2d(k)) t.h2d_bytes += c.bytes;
    if (is_d2h(k)) t.d2h_bytes += c.bytes;
    if (is_device_work(k)) t.device_busy_ms += c.busy_ms;
  }
  return t;
}

std::string format_fixed(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, std::isfinite(v) ? v : 0.0);
  return buf;
}

std::string format_bytes(double bytes) {
  const char* units[] = {"B", "kB", "MB", "GB", "TB"};
  int u = 0;
  while (std::fabs(bytes) >= 1000 && u < 4) {
    bytes /= 1000;
    ++u;
  }
  return u == 0 ? cat(static_cast<int64_t>(bytes), " B") : format_fixed(bytes, 2) + " " + units[u];
}

std::string format_ms(double ms) {
  if (std::fabs(ms) >= 10000) return format_fixed(ms / 1000, 2) + " s";
  if (std::fabs(ms) >= 100) return format_fixed(ms, 1) + " ms";
  return format_fixed(ms, 3) + " ms";
}

double link_h2d_gbps(const RunInfo& info) {
  return info.plan.is_object() ? json_number(info.plan.value("constants", json()), "h2d_gbps", 0)
                               : 0;
}
double predicted_step_ms(const RunInfo& info) {
  return json_number(info.plan, "predicted_step_ms", -1);
}
double predicted_prefill_ms(const RunInfo& info) {
  return json_number(info.plan, "predicted_prefill_ms", -1);
}

ReportTable summary_table(const Report& r) {
  const RunInfo& info = r.info;
  const TraceStats& s = r.stats;
  ReportTable t;
  t.id = "summary";
  t.title = "Run summary";
  t.header = {"", ""};
  t.numeric = {false, false};
  auto add = [&](const std::string& what, const std::string& value) {
    t.rows.push_back({what, value});
  };
  const char* kinds[] = {"results",   "job results (HDF5)",
                         "bench-h5",  "bench trace (HDF5)",
                         "bench-csv", "bench trace (CSV: events only)"};
  std::string format = info.format;
  for (int i = 0; i < 6; i += 2)
    if (format == kinds[i]) format = kinds[i + 1];
  add("file", cat(info.path, " (", format, ")"));
  add("model", model_line(info));
  if (!info.command_line.empty()) add("command", info.command_line);
  add("plan", plan_line(info.plan));
  add("hardware", hardware_line(info.hardware));
  if (!info.start_time.empty())
    add("time", cat(info.start_time, " to ", info.end_time.empty() ? "?" : info.end_time,
                    info.sessions > 1 ? cat(", ", info.sessions, " sessions") : ""));
  if (r.requests) {
    const RequestSummary& q = *r.requests;
    add("requests", cat(q.ok, " ok, ", q.errors, " errors",
                        q.pending ? cat(", ", q.pending, " not done") : "", " of ", q.total));
    add("tokens", cat(q.prompt_tokens, " prompt, ", q.output_tokens, " generated"));
    if (q.wall_ms > 0)
      add("throughput",
          cat(format_fixed(q.output_tokens / (q.wall_ms / 1e3), 1), " generated tokens/s (",
              format_ms(q.wall_ms), " from the first unit handed out to the last result)"));
  } else if (info.bench.is_object()) {
    const json& b = info.bench;
    add("workload", cat("batch ", json_text(b, "batch"), ", prompt ", json_text(b, "prompt_len"),
                        ", generated ", json_text(b, "gen_len")));
    add("throughput", cat(format_fixed(json_number(b, "total_tokens_per_s", 0), 1),
                          " generated tokens/s (prefill + decode; prefill ",
                          format_fixed(json_number(b, "prefill_tokens_per_s", 0), 1), ", decode ",
                          format_fixed(json_number(b, "decode_tokens_per_s", 0), 1), " tokens/s)"));
  } else {
    add("throughput", info.format == "bench-csv"
                          ? "- (a CSV trace has no request counts; `bench --trace-out F.h5` keeps "
                            "them)"
                          : "- (the file has no request counts)");
  }
  const double pred_prefill = predicted_prefill_ms(info), pred_step = predicted_step_ms(info);
  std::string selected = cat(s.rows_selected(), " of ", s.rows_read(), " rows");
  if (!r.selection.empty()) selected += cat(" (", r.selection, ")");
  add("trace",
      cat(selected, "; ", s.lanes().size(), " rank/session clock", s.lanes().size() == 1 ? "" : "s",
          ", steps ", s.max_step() >= 0 ? cat(s.min_step(), " to ", s.max_step()) : "-"));
  if (s.prefills() > 0)
    add("prefill", cat(format_ms(s.measured_prefill_ms()), " measured (mean of ", s.prefills(),
                       s.prefills() == 1 ? " unit)" : " units)",
                       pred_prefill >= 0 ? cat(", ", format_ms(pred_prefill), " predicted") : "",
                       ratio(s.measured_prefill_ms(), pred_prefill)));
  if (s.decode_steps() > 0) {
    add("decode step",
        cat(format_ms(s.measured_step_ms()), " measured (mean of ", s.decode_steps(), " steps)",
            pred_step >= 0 ? cat(", ", format_ms(pred_step), " predicted") : "",
            ratio(s.measured_step_ms(), pred_step)));
    // Per decode step: the copies in and the device's work, against the plan's PCIe and GPU
    // time (the two sides of the roofline).
    double load = 0, device = 0;
    for (int k = 0; k < kNumStreams; ++k) {
      if (is_h2d(k)) load += s.decode_stream(k).busy_ms;
      if (is_device_work(k)) device += s.decode_stream(k).busy_ms;
    }
    const double steps = double(s.decode_steps());
    const double pred_pcie = json_number(info.plan, "predicted_pcie_ms", -1),
                 pred_gpu = json_number(info.plan, "predicted_gpu_ms", -1);
    add("per decode step", cat("host-to-device copies busy ", format_ms(load / steps),
                               pred_pcie >= 0 ? cat(" (predicted ", format_ms(pred_pcie), ")") : "",
                               ", device busy ", format_ms(device / steps),
                               pred_gpu >= 0 ? cat(" (predicted ", format_ms(pred_gpu), ")") : ""));
  }
  const TraceTotals tt = trace_totals(s);
  const double link = link_h2d_gbps(info);
  add("PCIe", cat(format_bytes(double(tt.h2d_bytes)), " host to device, ",
                  format_bytes(double(tt.d2h_bytes)), " device to host; ",
                  format_fixed(tt.h2d_gbps(), 2), " GB/s host to device over the traced time",
                  link > 0 ? cat(" = ", percent(tt.h2d_gbps(), link), " of the ",
                                 format_fixed(link, 1), " GB/s the plan measured")
                           : ""));
  add("device busy", cat(percent(tt.device_busy_ms, tt.traced_ms), " of the traced time (",
                         format_ms(tt.device_busy_ms), " of ", format_ms(tt.traced_ms), ")"));
  if (r.perfetto_events >= 0)
    add("timeline", cat(r.perfetto_events, " events written (one per selected row)"));
  return t;
}

ReportTable kinds_table(const Report& r) {
  const TraceStats& s = r.stats;
  ReportTable t;
  t.id = "time-by-kind";
  t.title = "Time by kind and stream";
  t.note =
      "busy: summed event time (a stream runs one event at a time); share: of its stream; "
      "per step: over every step of every unit and rank";
  t.header = {"kind", "stream", "events", "bytes", "busy", "share", "GB/s", "per step"};
  t.numeric = {false, false, true, true, true, true, true, true};
  const int64_t steps = s.steps_counted();
  for (int k = 0; k < kNumTraceKinds; ++k)
    for (int st = 0; st < kNumStreams; ++st) {
      const Tally& c = s.cell(k, st);
      if (c.events == 0) continue;
      t.rows.push_back({trace_kind_name(static_cast<TraceKind>(k)),
                        stream_name(static_cast<Stream>(st)), std::to_string(c.events),
                        c.bytes ? format_bytes(double(c.bytes)) : "-", format_ms(c.busy_ms),
                        percent(c.busy_ms, s.stream_total(st).busy_ms),
                        c.bytes ? format_fixed(c.gbps(), 2) : "-",
                        steps > 0 ? format_ms(c.busy_ms / double(steps)) : "-"});
    }
  return t;
}

ReportTable streams_table(const Report& r) {
  const TraceStats& s = r.stats;
  ReportTable t;
  t.id = "time-by-stream";
  t.title = "Time by stream";
  t.note =
      "busy share: of the traced time (each rank and session from its first event to its "
      "last)";
  t.header = {"stream", "events", "bytes", "busy", "busy share", "GB/s while busy"};
  t.numeric = {false, true, true, true, true, true};
  const double span = trace_totals(s).traced_ms;
  for (int st = 0; st < kNumStreams; ++st) {
    const Tally c = s.stream_total(st);
    if (c.events == 0) continue;
    t.rows.push_back({stream_name(static_cast<Stream>(st)), std::to_string(c.events),
                      c.bytes ? format_bytes(double(c.bytes)) : "-", format_ms(c.busy_ms),
                      percent(c.busy_ms, span), c.bytes ? format_fixed(c.gbps(), 2) : "-"});
  }
  return t;
}

ReportTable layers_table(const Report& r) {
  ReportTable t;
  t.id = "layers";
  t.title = "Per layer";
  t.note =
      "load: host-to-device copies (weights, K/V, activations); compute: device work; "
      "the larger bounds the layer; head: embedding and sampling";
  t.header = {"layer",   "events",     "bytes in",       "bytes out", "load",
              "compute", "write-back", "load / compute", "bound"};
  t.numeric = {false, true, true, true, true, true, true, true, false};
  for (const auto& [layer, l] : r.stats.layers()) {
    t.rows.push_back({layer < 0 ? "head" : std::to_string(layer), std::to_string(l.events),
                      format_bytes(double(l.bytes_in)), format_bytes(double(l.bytes_out)),
                      format_ms(l.load_ms), format_ms(l.compute_ms), format_ms(l.write_back_ms),
                      l.compute_ms > 0 ? format_fixed(l.load_ms / l.compute_ms, 2) : "-",
                      l.bound()});
  }
  return t;
}

ReportTable ranks_table(const Report& r) {
  ReportTable t;
  t.id = "ranks";
  t.title = "Per rank";
  t.note =
      "traced time: from the rank's first event to its last; requests and tokens from "
      "/requests";
  t.header = {"rank",        "session",  "units",   "steps",    "events", "traced time",
              "device busy", "bytes in", "GB/s in", "requests", "tokens"};
  t.numeric = {false, false, true, true, true, true, true, true, true, true, true};
  for (const auto& [key, lane] : r.stats.lanes()) {
    double device = 0;
    for (int k = 0; k < kNumStreams; ++k)
      if (is_device_work(k)) device += lane.streams[k].busy_ms;
    const double span = lane.span_ms();
    std::string requests = "-", tokens = "-";
    if (r.requests && lane.session == 0) {
      // /requests counts each rank's rows over every session: shown once, on session 0.
      const auto it = r.requests->ranks.find(lane.rank);
      if (it != r.requests->ranks.end()) {
        requests = std::to_string(it->second.requests);
        tokens = std::to_string(it->second.output_tokens);
      }
    }
    t.rows.push_back({std::to_string(lane.rank), std::to_string(lane.session),
                      std::to_string(lane.units), std::to_string(lane.steps),
                      std::to_string(lane.events), format_ms(span), percent(device, span),
                      format_bytes(double(lane.h2d_bytes())),
                      span > 0 ? format_fixed(double(lane.h2d_bytes()) / (span * 1e6), 2) : "-",
                      requests, tokens});
  }
  return t;
}

}  // namespace hs

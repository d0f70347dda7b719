#include "runner/report/perfetto_trace.h"

#include <cerrno>
#include <cinttypes>
#include <cmath>
#include <cstring>

#include <nlohmann/json.hpp>

#include "engine/trace.h"
#include "util/error.h"

namespace hs {
namespace {

using json = nlohmann::json;

// Ranks per session in the process ids: a session's processes follow the one before.
constexpr int kRanksPerSession = 4096;
constexpr int kThreadsPerProcess = 8;  // > kNumStreams

int64_t to_ns(double ms) {
  return std::llround(ms * 1e6);
}

// Microseconds with three decimals, exactly, from integer nanoseconds.
std::string us(int64_t ns) {
  char buf[32];
  const char* sign = ns < 0 ? "-" : "";
  const uint64_t a = ns < 0 ? uint64_t(-(ns + 1)) + 1 : uint64_t(ns);
  std::snprintf(buf, sizeof buf, "%s%" PRIu64 ".%03" PRIu64, sign, a / 1000, a % 1000);
  return buf;
}

std::string number(double v) {
  if (!std::isfinite(v)) return "0";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

}  // namespace

PerfettoTrace::PerfettoTrace(const std::string& path, const RunInfo& info) : path_(path) {
  f_ = std::fopen(path.c_str(), "w");
  HS_CHECK(f_ != nullptr, "cannot write the Perfetto trace '", path, "': ", std::strerror(errno));
  if (info.plan.is_object()) {
    predicted_step_ms_ = info.plan.value("predicted_step_ms", -1.0);
    predicted_prefill_ms_ = info.plan.value("predicted_prefill_ms", -1.0);
  }
  // What the file is about, for a reader of the JSON (viewers show it as the trace's metadata).
  json other = {{"source", info.path}, {"format", info.format}};
  if (!info.model_shape.empty()) other["model_shape"] = info.model_shape;
  if (info.plan.is_object()) other["policy"] = info.plan.value("policy", "");
  if (!info.command_line.empty()) other["command_line"] = info.command_line;
  const std::string head = "{\"displayTimeUnit\":\"ms\",\"otherData\":" +
                           other.dump(-1, ' ', false, json::error_handler_t::replace) +
                           ",\"traceEvents\":[\n";
  std::fwrite(head.data(), 1, head.size(), f_);
}

PerfettoTrace::~PerfettoTrace() {
  if (f_) std::fclose(f_);
}

int PerfettoTrace::pid(int32_t rank, int32_t session) const {
  return 1 + rank + kRanksPerSession * session;
}

void PerfettoTrace::write(const char* text, size_t n) {
  if (!first_) std::fputs(",\n", f_);
  first_ = false;
  std::fwrite(text, 1, n, f_);
}

void PerfettoTrace::add(const TraceRow& r, int64_t row) {
  const TraceEvent& e = r.event;
  lanes_[{r.rank, r.session}] = true;
  const int p = pid(r.rank, r.session), tid = p * kThreadsPerProcess + e.stream;
  int64_t start = to_ns(e.start_ms);
  const int64_t end = std::max(start, to_ns(e.end_ms));
  int64_t& last_end = last_end_ns_[{p, e.stream}];
  const bool overlaps = start < last_end && end > last_end;
  if (overlaps) {
    start = last_end;
    ++adjusted_;
  }
  if (end > last_end) last_end = end;
  const char* kind = trace_kind_name(e.kind);
  const double ms = e.end_ms - e.start_ms;
  const double gbps = e.bytes > 0 && ms > 0 ? double(e.bytes) / (ms * 1e6) : 0;
  char buf[512];
  const int n = std::snprintf(
      buf, sizeof buf,
      "{\"ph\":\"X\",\"name\":\"%s\",\"cat\":\"%s\",\"pid\":%d,\"tid\":%d,\"ts\":%s,\"dur\":%s,"
      "\"args\":{\"step\":%" PRId64
      ",\"layer\":%d,\"mini_batch\":%d,\"kind\":\"%s\","
      "\"bytes\":%" PRId64 ",\"gbps\":%s,\"unit\":%" PRId64 ",\"row\":%" PRId64 "%s%s}}",
      kind, stream_name(static_cast<Stream>(e.stream)), p, tid, us(start).c_str(),
      us(end - start).c_str(), e.step, e.layer, e.mini_batch, kind, e.bytes, number(gbps).c_str(),
      r.unit, row, overlaps ? ",\"start_us_in_trace\":" : "",
      overlaps ? us(to_ns(e.start_ms)).c_str() : "");
  write(buf, size_t(n));
  ++events_;
}

void PerfettoTrace::add_step(const StepSpan& s) {
  const int p = pid(s.rank, s.session);
  const std::string ts = us(to_ns(s.start_ms));
  char buf[384];
  int n = std::snprintf(buf, sizeof buf,
                        "{\"ph\":\"i\",\"s\":\"p\",\"name\":\"step %" PRId64
                        "\",\"cat\":\"step\","
                        "\"pid\":%d,\"tid\":%d,\"ts\":%s,\"args\":{\"unit\":%" PRId64
                        ",\"step\":%" PRId64 ",\"ms\":%s,\"events\":%" PRId64 "}}",
                        s.step, p, p * kThreadsPerProcess, ts.c_str(), s.unit, s.step,
                        number(s.span_ms()).c_str(), s.events);
  write(buf, size_t(n));
  const double predicted = s.step == 0 ? predicted_prefill_ms_ : predicted_step_ms_;
  std::string values = "\"measured\":" + number(s.span_ms());
  if (predicted >= 0) values += ",\"predicted\":" + number(predicted);
  n = std::snprintf(buf, sizeof buf,
                    "{\"ph\":\"C\",\"name\":\"step ms\",\"pid\":%d,\"ts\":%s,\"args\":{%s}}", p,
                    ts.c_str(), values.c_str());
  write(buf, size_t(n));
}

void PerfettoTrace::finish() {
  bool sessions = false;
  for (const auto& [lane, seen] : lanes_) sessions = sessions || lane.second > 0;
  for (const auto& [lane, seen] : lanes_) {
    const auto [rank, session] = lane;
    const int p = pid(rank, session);
    const std::string name =
        sessions ? cat("rank ", rank, " session ", session) : cat("rank ", rank);
    json meta = json::array();
    meta.push_back({{"ph", "M"}, {"name", "process_name"}, {"pid", p}, {"args", {{"name", name}}}});
    meta.push_back(
        {{"ph", "M"}, {"name", "process_sort_index"}, {"pid", p}, {"args", {{"sort_index", p}}}});
    for (int s = 0; s < kNumStreams; ++s) {
      if (last_end_ns_.count({p, s}) == 0) continue;  // no event on this stream
      const int tid = p * kThreadsPerProcess + s;
      meta.push_back({{"ph", "M"},
                      {"name", "thread_name"},
                      {"pid", p},
                      {"tid", tid},
                      {"args", {{"name", stream_name(static_cast<Stream>(s))}}}});
      meta.push_back({{"ph", "M"},
                      {"name", "thread_sort_index"},
                      {"pid", p},
                      {"tid", tid},
                      {"args", {{"sort_index", s}}}});
    }
    for (const json& m : meta) {
      const std::string text = m.dump();
      write(text.data(), text.size());
    }
  }
  std::fputs("\n]}\n", f_);
  const bool failed = std::ferror(f_) != 0;
  const int rc = std::fclose(f_);
  f_ = nullptr;
  HS_CHECK(!failed && rc == 0, "cannot write the Perfetto trace '", path_, "'");
}

}  // namespace hs

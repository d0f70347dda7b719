#include "runner/io/trace_csv.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <iomanip>

#include "backend/backend.h"
#include "runner/io/trace_columns.h"
#include "util/error.h"

namespace hs {
namespace {

constexpr int kRequiredFields = kStream + 1;

std::vector<std::string> split(const std::string& line) {
  std::vector<std::string> out;
  size_t at = 0;
  while (true) {
    const size_t comma = line.find(',', at);
    out.push_back(line.substr(at, comma == std::string::npos ? std::string::npos : comma - at));
    if (comma == std::string::npos) break;
    at = comma + 1;
  }
  for (std::string& s : out) {
    while (!s.empty() && (s.back() == ' ' || s.back() == '\r')) s.pop_back();
    while (!s.empty() && s.front() == ' ') s.erase(s.begin());
  }
  return out;
}

// The column of each field in the header; -1 when absent. Throws for a missing required one.
std::vector<int> header_columns(const std::string& line, const std::string& path) {
  std::vector<int> column(kNumTraceColumns, -1);
  const std::vector<std::string> names = split(line);
  for (size_t i = 0; i < names.size(); ++i)
    for (int f = 0; f < kNumTraceColumns; ++f)
      if (names[i] == kTraceColumnNames[f]) column[f] = static_cast<int>(i);
  for (int f = 0; f < kRequiredFields; ++f)
    HS_CHECK(column[f] >= 0, "'", path, "' line 1: the header has no column '",
             kTraceColumnNames[f],
             "' (a trace CSV, as `bench --trace-out F.csv` writes it, starts with ",
             "step,layer,mini_batch,kind,bytes,start_ms,end_ms,stream)");
  return column;
}

bool parse_int(const std::string& s, int64_t& out) {
  if (s.empty()) return false;
  errno = 0;
  char* end = nullptr;
  const long long v = std::strtoll(s.c_str(), &end, 10);
  if (errno != 0 || end != s.c_str() + s.size()) return false;
  out = v;
  return true;
}

bool parse_double(const std::string& s, double& out) {
  if (s.empty()) return false;
  errno = 0;
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (errno != 0 || end != s.c_str() + s.size() || !std::isfinite(v)) return false;
  out = v;
  return true;
}

}  // namespace

void write_trace_csv(const std::string& path, const std::vector<TraceEvent>& events) {
  std::ofstream f(path);
  HS_CHECK(f.good(), "cannot write the trace file '", path, "'");
  // Microseconds: the default six digits round times an hour into a run to 0.1 ms.
  f << std::fixed << std::setprecision(3);
  f << "step,layer,mini_batch,kind,bytes,start_ms,end_ms,stream\n";
  for (const TraceEvent& e : events)
    f << e.step << ',' << e.layer << ',' << e.mini_batch << ',' << trace_kind_name(e.kind) << ','
      << e.bytes << ',' << e.start_ms << ',' << e.end_ms << ',' << e.stream << '\n';
  f.close();
  HS_CHECK(!f.fail(), "cannot write the trace file '", path, "'");
}

bool is_trace_csv_header(const std::string& first_line) {
  const std::vector<std::string> names = split(first_line);
  for (int f = 0; f < kRequiredFields; ++f) {
    bool found = false;
    for (const std::string& n : names) found = found || n == kTraceColumnNames[f];
    if (!found) return false;
  }
  return true;
}

void read_trace_csv(const std::string& path, int64_t chunk_rows,
                    const std::function<void(const std::vector<TraceRow>&)>& fn) {
  std::ifstream f(path);
  HS_CHECK(f.is_open(), "cannot open the trace file '", path, "'");
  std::string line;
  HS_CHECK(std::getline(f, line), "'", path, "' is empty (a trace CSV starts with its header)");
  const std::vector<int> column = header_columns(line, path);
  int fields = 0;
  for (int c : column) fields = std::max(fields, c + 1);

  std::vector<TraceRow> chunk;
  chunk.reserve(static_cast<size_t>(chunk_rows));
  int64_t line_number = 1;
  while (std::getline(f, line)) {
    ++line_number;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::vector<std::string> v = split(line);
    HS_CHECK(static_cast<int>(v.size()) >= fields, "'", path, "' line ", line_number, ": ",
             v.size(), " fields, the header names ", fields);
    auto where = [&](int field) {
      return cat("'", path, "' line ", line_number, ", column '", kTraceColumnNames[field], "': '",
                 v[size_t(column[field])], "'");
    };
    auto integer = [&](int field, int64_t lo, int64_t hi) -> int64_t {
      if (column[field] < 0) return 0;
      int64_t x = 0;
      HS_CHECK(parse_int(v[size_t(column[field])], x), where(field), " is not an integer");
      HS_CHECK(x >= lo && x <= hi, where(field), " is out of range");
      return x;
    };
    auto real = [&](int field) {
      double x = 0;
      HS_CHECK(parse_double(v[size_t(column[field])], x), where(field), " is not a number");
      return x;
    };
    TraceRow r;
    TraceEvent& e = r.event;
    e.step = integer(kStep, 0, INT64_MAX);
    e.layer = static_cast<int32_t>(integer(kLayer, -1, INT32_MAX));
    e.mini_batch = static_cast<int32_t>(integer(kMiniBatch, -1, INT32_MAX));
    const std::string& kind = v[size_t(column[kKind])];
    int k = -1;
    for (int i = 0; i < kNumTraceKinds; ++i)
      if (kind == trace_kind_name(static_cast<TraceKind>(i))) k = i;
    int64_t number = 0;
    if (k < 0 && parse_int(kind, number) && number >= 0 && number < kNumTraceKinds)
      k = static_cast<int>(number);
    HS_CHECK(k >= 0, where(kKind), " is not a trace kind");
    e.kind = static_cast<TraceKind>(k);
    e.bytes = integer(kBytes, 0, INT64_MAX);
    e.start_ms = real(kStart);
    e.end_ms = real(kEnd);
    HS_CHECK(e.end_ms >= e.start_ms, "'", path, "' line ", line_number, ": end_ms ", e.end_ms,
             " is before start_ms ", e.start_ms);
    const std::string& stream = v[size_t(column[kStream])];
    int s = -1;
    for (int i = 0; i < kNumStreams; ++i)
      if (stream == stream_name(static_cast<Stream>(i))) s = i;
    if (s < 0 && parse_int(stream, number) && number >= 0 && number < kNumStreams)
      s = static_cast<int>(number);
    HS_CHECK(s >= 0, where(kStream), " is not a stream");
    e.stream = s;
    r.rank = static_cast<int32_t>(integer(kRank, 0, INT32_MAX));
    r.session = static_cast<int32_t>(integer(kSession, 0, INT32_MAX));
    r.unit = integer(kUnit, 0, INT64_MAX);
    chunk.push_back(r);
    if (static_cast<int64_t>(chunk.size()) >= chunk_rows) {
      fn(chunk);
      chunk.clear();
    }
  }
  HS_CHECK(!f.bad(), "cannot read the trace file '", path, "'");
  if (!chunk.empty()) fn(chunk);
}

}  // namespace hs

#include "runner/report/trace_input.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>

#include "runner/io/hdf5_handles.h"
#include "runner/io/trace_csv.h"
#include "runner/io/trace_h5.h"
#include "util/error.h"

namespace hs {

using json = nlohmann::json;

struct TraceInput::Hdf5 {
  H5Id file;
  TraceH5Reader trace;
  Hdf5(hid_t f, const std::string& path) : file(f, H5Fclose, "open"), trace(file.get(), path) {}
};

namespace {

// HDF5's signature (at the start of a file without a user block, as ours are).
constexpr char kHdf5Magic[8] = {'\x89', 'H', 'D', 'F', '\r', '\n', '\x1a', '\n'};

json parse_json_attr(hid_t meta, const char* name) {
  const auto text = read_string_attr(meta, name);
  if (!text || text->empty()) return nullptr;
  json j = json::parse(*text, nullptr, /*allow_exceptions=*/false);
  return j.is_discarded() ? json(nullptr) : j;
}

// Reads `count` rows of /requests/<name> from `first` into out (its memory type's elements).
void read_request_column(hid_t group, const char* name, hid_t mem_type, hsize_t first,
                         hsize_t count, void* out, const std::string& path) {
  H5Id d(H5Dopen2(group, name, H5P_DEFAULT), H5Dclose,
         cat("open /requests/", name, " of '", path, "'"));
  H5Id space(H5Dget_space(d.get()), H5Sclose, cat("get the dataspace of /requests/", name));
  h5_check(H5Sselect_hyperslab(space.get(), H5S_SELECT_SET, &first, nullptr, &count, nullptr),
           cat("select rows of /requests/", name));
  H5Id mem(H5Screate_simple(1, &count, nullptr), H5Sclose, "make a memory dataspace");
  HS_CHECK(H5Dread(d.get(), mem_type, mem.get(), space.get(), H5P_DEFAULT, out) >= 0, "'", path,
           "': cannot read /requests/", name);
}

}  // namespace

TraceInput::TraceInput(const std::string& path) {
  info_.path = path;
  std::ifstream probe(path, std::ios::binary);
  HS_CHECK(probe.is_open(), "cannot open '", path, "': ", std::strerror(errno));
  char head[8] = {};
  probe.read(head, sizeof head);
  const bool hdf5 = probe.gcount() == 8 && std::memcmp(head, kHdf5Magic, 8) == 0;
  if (!hdf5) {
    probe.clear();
    probe.seekg(0);
    std::string first_line;
    std::getline(probe, first_line);
    HS_CHECK(is_trace_csv_header(first_line), "'", path,
             "' is neither an HDF5 file (a job's results or `bench --trace-out x.h5`) nor a trace "
             "CSV (`bench --trace-out x.csv`, whose first line is "
             "step,layer,mini_batch,kind,bytes,start_ms,end_ms,stream)");
    info_.format = "bench-csv";
    return;
  }
  silence_hdf5_errors();
  H5Id fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose, "make a file access property list");
  // A job writing the file takes no lock either (runner/io/hdf5_writer.cpp): reading while it
  // runs shows its last checkpoint.
  h5_check(H5Pset_file_locking(fapl.get(), false, true), "turn off HDF5 file locking");
  const hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDONLY, fapl.get());
  HS_CHECK(file >= 0, "cannot open '", path, "' as HDF5 (a truncated or damaged file?)");
  h5_ = std::make_unique<Hdf5>(file, path);
  info_.trace_rows = h5_->trace.rows();
  const hid_t f = h5_->file.get();
  info_.format = H5Lexists(f, "requests", H5P_DEFAULT) > 0 ? "results" : "bench-h5";
  if (H5Lexists(f, "meta", H5P_DEFAULT) > 0) {
    H5Id m(H5Gopen2(f, "meta", H5P_DEFAULT), H5Gclose, cat("open /meta of '", path, "'"));
    info_.plan = parse_json_attr(m.get(), "plan");
    info_.model_config = parse_json_attr(m.get(), "model_config");
    info_.hardware = parse_json_attr(m.get(), "hardware");
    info_.bench = parse_json_attr(m.get(), "bench");
    info_.model_shape = read_string_attr(m.get(), "model_shape").value_or("");
    info_.command_line = read_string_attr(m.get(), "command_line").value_or("");
    info_.version = read_string_attr(m.get(), "version").value_or("");
    info_.start_time = read_string_attr(m.get(), "first_start_time")
                           .value_or(read_string_attr(m.get(), "start_time").value_or(""));
    info_.end_time = read_string_attr(m.get(), "end_time").value_or("");
    info_.sessions = read_int_attr(m.get(), "sessions").value_or(0);
  }
}

TraceInput::~TraceInput() = default;

std::optional<RequestSummary> TraceInput::requests() const {
  if (!h5_ || info_.format != "results") return std::nullopt;
  const std::string& path = info_.path;
  H5Id g(H5Gopen2(h5_->file.get(), "requests", H5P_DEFAULT), H5Gclose,
         cat("open /requests of '", path, "'"));
  hsize_t total = 0;
  {
    H5Id d(H5Dopen2(g.get(), "status", H5P_DEFAULT), H5Dclose,
           cat("open /requests/status of '", path, "'"));
    H5Id space(H5Dget_space(d.get()), H5Sclose, "get the dataspace of /requests/status");
    HS_CHECK(H5Sget_simple_extent_ndims(space.get()) == 1, "'", path,
             "': /requests/status is not a column");
    H5Sget_simple_extent_dims(space.get(), &total, nullptr);
  }
  RequestSummary out;
  out.total = static_cast<int64_t>(total);
  std::map<int32_t, std::pair<double, double>> session_span;  // session -> first start, last end
  H5Id str = vlen_string_type();
  int32_t last_rank = -1, last_session = -1;
  int64_t last_unit = -1;
  for (hsize_t first = 0; first < total;) {
    const hsize_t n = std::min<hsize_t>(1 << 16, total - first);
    std::vector<char*> status(n, nullptr);
    std::vector<int32_t> rank(n), session(n);
    std::vector<int64_t> unit(n), prompt_len(n), output_len(n);
    std::vector<double> start(n), end(n), compute(n);
    read_request_column(g.get(), "status", str.get(), first, n, status.data(), path);
    read_request_column(g.get(), "rank", H5T_NATIVE_INT32, first, n, rank.data(), path);
    read_request_column(g.get(), "session", H5T_NATIVE_INT32, first, n, session.data(), path);
    read_request_column(g.get(), "unit", H5T_NATIVE_INT64, first, n, unit.data(), path);
    read_request_column(g.get(), "prompt_len", H5T_NATIVE_INT64, first, n, prompt_len.data(), path);
    read_request_column(g.get(), "output_len", H5T_NATIVE_INT64, first, n, output_len.data(), path);
    read_request_column(g.get(), "start_ms", H5T_NATIVE_DOUBLE, first, n, start.data(), path);
    read_request_column(g.get(), "end_ms", H5T_NATIVE_DOUBLE, first, n, end.data(), path);
    read_request_column(g.get(), "compute_ms", H5T_NATIVE_DOUBLE, first, n, compute.data(), path);
    for (hsize_t i = 0; i < n; ++i) {
      const std::string s = status[i] ? status[i] : "";
      if (s.empty()) {
        ++out.pending;
        continue;
      }
      const bool ok = s == "ok";
      out.ok += ok ? 1 : 0;
      out.errors += ok ? 0 : 1;
      if (rank[i] < 0) continue;  // never ran (a bad input line)
      RankRequests& k = out.ranks[rank[i]];
      ++k.requests;
      if (ok) {
        ++k.ok;
        k.output_tokens += output_len[i];
        out.output_tokens += output_len[i];
        out.prompt_tokens += prompt_len[i];
      }
      // A unit's rows are consecutive (units are formed in input order); its compute time is
      // on each of them.
      if (rank[i] != last_rank || session[i] != last_session || unit[i] != last_unit) {
        ++k.units;
        k.compute_ms += compute[i];
        last_rank = rank[i];
        last_session = session[i];
        last_unit = unit[i];
      }
      auto [it, fresh] = session_span.try_emplace(session[i], start[i], end[i]);
      if (!fresh) {
        it->second.first = std::min(it->second.first, start[i]);
        it->second.second = std::max(it->second.second, end[i]);
      }
    }
    H5Id mem(H5Screate_simple(1, &n, nullptr), H5Sclose, "make a memory dataspace");
    H5Dvlen_reclaim(str.get(), mem.get(), H5P_DEFAULT, status.data());
    first += n;
  }
  for (const auto& [session, span] : session_span) out.wall_ms += span.second - span.first;
  return out;
}

void TraceInput::read(int64_t chunk_rows,
                      const std::function<void(int64_t, const std::vector<TraceRow>&)>& fn) const {
  HS_CHECK(chunk_rows > 0, "chunk_rows must be > 0");
  if (!h5_) {
    int64_t first = 0;
    read_trace_csv(info_.path, chunk_rows, [&](const std::vector<TraceRow>& rows) {
      fn(first, rows);
      first += static_cast<int64_t>(rows.size());
    });
    return;
  }
  std::vector<TraceRow> rows;
  for (int64_t first = 0; first < info_.trace_rows;) {
    const int64_t n = std::min(chunk_rows, info_.trace_rows - first);
    h5_->trace.read(first, n, rows);
    fn(first, rows);
    first += n;
  }
}

}  // namespace hs

#include "runner/hdf5_writer.h"

#include <hdf5.h>

#include <algorithm>
#include <vector>

#include "backend/backend.h"
#include "engine/trace.h"
#include "runner/trace_log.h"
#include "util/error.h"

namespace hs {
namespace {

// An HDF5 identifier that closes itself.
class H5Id {
 public:
  H5Id(hid_t id, herr_t (*close)(hid_t), const std::string& what) : id_(id), close_(close) {
    HS_CHECK(id >= 0, "HDF5: cannot ", what);
  }
  ~H5Id() {
    if (id_ >= 0) close_(id_);
  }
  H5Id(H5Id&& o) noexcept : id_(o.id_), close_(o.close_) { o.id_ = -1; }
  H5Id(const H5Id&) = delete;
  H5Id& operator=(const H5Id&) = delete;
  H5Id& operator=(H5Id&&) = delete;
  hid_t get() const { return id_; }
  // Closes now and reports a failure (for the file: that is when data reaches the disk).
  void close(const std::string& what) {
    const herr_t rc = close_(id_);
    id_ = -1;
    HS_CHECK(rc >= 0, "HDF5: cannot ", what);
  }

 private:
  hid_t id_;
  herr_t (*close_)(hid_t);
};

void check(herr_t rc, const std::string& what) {
  HS_CHECK(rc >= 0, "HDF5: cannot ", what);
}

H5Id vlen_string_type() {
  H5Id t(H5Tcopy(H5T_C_S1), H5Tclose, "copy the string type");
  check(H5Tset_size(t.get(), H5T_VARIABLE), "make a variable-length string type");
  check(H5Tset_cset(t.get(), H5T_CSET_UTF8), "set the string type to UTF-8");
  return t;
}

// A 1-D dataset of n elements of `type`, filled from `data` (may be null when n == 0).
void write_column(hid_t group, const char* name, hid_t file_type, hid_t mem_type, hsize_t n,
                  const void* data) {
  hsize_t dims[1] = {n};
  H5Id space(H5Screate_simple(1, dims, nullptr), H5Sclose, cat("make the dataspace of ", name));
  H5Id d(H5Dcreate2(group, name, file_type, space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
         H5Dclose, cat("create dataset ", name));
  if (n > 0)
    check(H5Dwrite(d.get(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data),
          cat("write dataset ", name));
}

template <typename T>
void write_numbers(hid_t group, const char* name, hid_t type, const std::vector<T>& v) {
  write_column(group, name, type, type, v.size(), v.data());
}

void write_strings(hid_t group, const char* name, const std::vector<std::string>& v) {
  std::vector<const char*> ptrs;
  ptrs.reserve(v.size());
  for (const std::string& s : v) ptrs.push_back(s.c_str());
  H5Id t = vlen_string_type();
  write_column(group, name, t.get(), t.get(), ptrs.size(), ptrs.data());
}

void write_string_attr(hid_t obj, const char* name, const std::string& value) {
  H5Id t = vlen_string_type();
  H5Id space(H5Screate(H5S_SCALAR), H5Sclose, "make a scalar dataspace");
  H5Id a(H5Acreate2(obj, name, t.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose,
         cat("create attribute ", name));
  const char* p = value.c_str();
  check(H5Awrite(a.get(), t.get(), &p), cat("write attribute ", name));
}

void write_int_attr(hid_t obj, const char* name, int64_t value) {
  H5Id space(H5Screate(H5S_SCALAR), H5Sclose, "make a scalar dataspace");
  H5Id a(H5Acreate2(obj, name, H5T_STD_I64LE, space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose,
         cat("create attribute ", name));
  check(H5Awrite(a.get(), H5T_NATIVE_INT64, &value), cat("write attribute ", name));
}

H5Id make_group(hid_t parent, const char* name) {
  return H5Id(H5Gcreate2(parent, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose,
              cat("create group ", name));
}

void write_requests(hid_t file, const JobResults& res) {
  H5Id g = make_group(file, "requests");
  std::vector<std::string> id, status, error, finish, text, prompt_text;
  std::vector<int64_t> line, prompt_len, output_len, unit, prompt_off{0}, output_off{0};
  std::vector<double> start_ms, end_ms, compute_ms;
  std::vector<int32_t> rank, session, prompt_ids, output_ids;
  for (const RequestRecord& r : res.rows) {
    if (!r.done) continue;
    id.push_back(r.id);
    status.push_back(r.ok ? "ok" : "error");
    error.push_back(r.error);
    finish.push_back(r.finish_reason);
    line.push_back(r.line);
    prompt_len.push_back(static_cast<int64_t>(r.prompt_ids.size()));
    output_len.push_back(static_cast<int64_t>(r.output_ids.size()));
    start_ms.push_back(r.start_ms);
    end_ms.push_back(r.end_ms);
    compute_ms.push_back(r.compute_ms);
    rank.push_back(r.rank);
    unit.push_back(r.unit);
    session.push_back(r.session);
    prompt_ids.insert(prompt_ids.end(), r.prompt_ids.begin(), r.prompt_ids.end());
    output_ids.insert(output_ids.end(), r.output_ids.begin(), r.output_ids.end());
    prompt_off.push_back(static_cast<int64_t>(prompt_ids.size()));
    output_off.push_back(static_cast<int64_t>(output_ids.size()));
    if (res.has_text) {
      text.push_back(r.text.value_or(""));
      prompt_text.push_back(r.prompt_text.value_or(""));
    }
  }
  const hid_t g_id = g.get();
  write_strings(g_id, "id", id);
  write_strings(g_id, "status", status);
  write_strings(g_id, "error", error);
  write_numbers(g_id, "line", H5T_NATIVE_INT64, line);
  write_numbers(g_id, "prompt_len", H5T_NATIVE_INT64, prompt_len);
  write_numbers(g_id, "output_len", H5T_NATIVE_INT64, output_len);
  write_strings(g_id, "finish_reason", finish);
  write_numbers(g_id, "start_ms", H5T_NATIVE_DOUBLE, start_ms);
  write_numbers(g_id, "end_ms", H5T_NATIVE_DOUBLE, end_ms);
  write_numbers(g_id, "compute_ms", H5T_NATIVE_DOUBLE, compute_ms);
  write_numbers(g_id, "rank", H5T_NATIVE_INT32, rank);
  write_numbers(g_id, "unit", H5T_NATIVE_INT64, unit);
  write_numbers(g_id, "session", H5T_NATIVE_INT32, session);
  write_numbers(g_id, "prompt_ids", H5T_NATIVE_INT32, prompt_ids);
  write_numbers(g_id, "prompt_offsets", H5T_NATIVE_INT64, prompt_off);
  write_numbers(g_id, "output_ids", H5T_NATIVE_INT32, output_ids);
  write_numbers(g_id, "output_offsets", H5T_NATIVE_INT64, output_off);
  if (res.has_text) {
    write_strings(g_id, "text", text);
    write_strings(g_id, "prompt_text", prompt_text);
  }
  write_int_attr(g_id, "count", static_cast<int64_t>(id.size()));
  write_int_attr(g_id, "total", static_cast<int64_t>(res.rows.size()));
}

// A fixed-size 1-D dataset written in consecutive slices (the trace is copied in chunks).
class ChunkedColumn {
 public:
  ChunkedColumn(hid_t group, const char* name, hid_t file_type, hid_t mem_type, hsize_t n)
      : name_(name),
        mem_type_(mem_type),
        space_(H5Screate_simple(1, &n, nullptr), H5Sclose, cat("make the dataspace of ", name)),
        d_(H5Dcreate2(group, name, file_type, space_.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
           H5Dclose, cat("create dataset ", name)) {}
  void write(hsize_t offset, hsize_t count, const void* data) {
    if (count == 0) return;
    check(H5Sselect_hyperslab(space_.get(), H5S_SELECT_SET, &offset, nullptr, &count, nullptr),
          cat("select rows of ", name_));
    H5Id mem(H5Screate_simple(1, &count, nullptr), H5Sclose, "make a memory dataspace");
    check(H5Dwrite(d_.get(), mem_type_, mem.get(), space_.get(), H5P_DEFAULT, data),
          cat("write dataset ", name_));
  }

 private:
  std::string name_;
  hid_t mem_type_;
  H5Id space_, d_;
};

void write_trace(hid_t file, const JobResults& res) {
  H5Id g = make_group(file, "trace");
  // kind: an HDF5 enum over uint8 (h5py: h5py.check_enum_dtype gives the names), plus a
  // kind_names table indexed by the value for readers that ignore enums.
  H5Id kind_t(H5Tenum_create(H5T_NATIVE_UINT8), H5Tclose, "create the trace kind enum");
  std::vector<std::string> kind_names, stream_names;
  for (int k = 0; k < kNumTraceKinds; ++k) {
    const uint8_t v = static_cast<uint8_t>(k);
    kind_names.push_back(trace_kind_name(static_cast<TraceKind>(k)));
    check(H5Tenum_insert(kind_t.get(), kind_names.back().c_str(), &v), "add a trace kind");
  }
  for (int s = 0; s < kNumStreams; ++s) stream_names.push_back(stream_name(static_cast<Stream>(s)));
  write_strings(g.get(), "kind_names", kind_names);
  write_strings(g.get(), "stream_names", stream_names);

  const int64_t rows = res.write_trace ? res.trace_rows : 0;
  const hsize_t n = static_cast<hsize_t>(rows);
  ChunkedColumn step(g.get(), "step", H5T_NATIVE_INT64, H5T_NATIVE_INT64, n);
  ChunkedColumn layer(g.get(), "layer", H5T_NATIVE_INT32, H5T_NATIVE_INT32, n);
  ChunkedColumn mini_batch(g.get(), "mini_batch", H5T_NATIVE_INT32, H5T_NATIVE_INT32, n);
  ChunkedColumn kind(g.get(), "kind", kind_t.get(), kind_t.get(), n);
  ChunkedColumn bytes(g.get(), "bytes", H5T_NATIVE_INT64, H5T_NATIVE_INT64, n);
  ChunkedColumn start(g.get(), "start_ms", H5T_NATIVE_DOUBLE, H5T_NATIVE_DOUBLE, n);
  ChunkedColumn end(g.get(), "end_ms", H5T_NATIVE_DOUBLE, H5T_NATIVE_DOUBLE, n);
  ChunkedColumn stream(g.get(), "stream", H5T_NATIVE_INT32, H5T_NATIVE_INT32, n);
  ChunkedColumn rank(g.get(), "rank", H5T_NATIVE_INT32, H5T_NATIVE_INT32, n);
  ChunkedColumn session(g.get(), "session", H5T_NATIVE_INT32, H5T_NATIVE_INT32, n);
  ChunkedColumn unit(g.get(), "unit", H5T_NATIVE_INT64, H5T_NATIVE_INT64, n);
  write_int_attr(g.get(), "count", rows);
  write_int_attr(g.get(), "omitted", res.write_trace ? 0 : res.trace_rows);
  if (n == 0 || res.trace_path.empty()) return;

  hsize_t offset = 0;
  TraceLog::read(res.trace_path, rows, 1 << 20, [&](const std::vector<TraceRow>& rows) {
    const hsize_t c = rows.size();
    std::vector<int64_t> i64(c);
    std::vector<int32_t> i32(c);
    std::vector<uint8_t> u8(c);
    std::vector<double> f64(c);
    auto col64 = [&](ChunkedColumn& col, auto get) {
      for (hsize_t i = 0; i < c; ++i) i64[i] = get(rows[i]);
      col.write(offset, c, i64.data());
    };
    auto col32 = [&](ChunkedColumn& col, auto get) {
      for (hsize_t i = 0; i < c; ++i) i32[i] = get(rows[i]);
      col.write(offset, c, i32.data());
    };
    auto colf = [&](ChunkedColumn& col, auto get) {
      for (hsize_t i = 0; i < c; ++i) f64[i] = get(rows[i]);
      col.write(offset, c, f64.data());
    };
    col64(step, [](const TraceRow& r) { return r.event.step; });
    col32(layer, [](const TraceRow& r) { return r.event.layer; });
    col32(mini_batch, [](const TraceRow& r) { return r.event.mini_batch; });
    for (hsize_t i = 0; i < c; ++i) u8[i] = static_cast<uint8_t>(rows[i].event.kind);
    kind.write(offset, c, u8.data());
    col64(bytes, [](const TraceRow& r) { return r.event.bytes; });
    colf(start, [](const TraceRow& r) { return r.event.start_ms; });
    colf(end, [](const TraceRow& r) { return r.event.end_ms; });
    col32(stream, [](const TraceRow& r) { return r.event.stream; });
    col32(rank, [](const TraceRow& r) { return r.rank; });
    col32(session, [](const TraceRow& r) { return r.session; });
    col64(unit, [](const TraceRow& r) { return r.unit; });
    offset += c;
  });
}

void write_meta(hid_t file, const JobResults& res) {
  H5Id g = make_group(file, "meta");
  const JobMeta& m = res.meta;
  write_string_attr(g.get(), "command_line", m.command_line);
  write_string_attr(g.get(), "job_config", m.job_config);
  write_string_attr(g.get(), "model_config", m.model_config);
  write_string_attr(g.get(), "plan", m.plan);
  write_string_attr(g.get(), "hardware", m.hardware);
  write_string_attr(g.get(), "fingerprint", m.fingerprint);
  write_string_attr(g.get(), "version", m.version);
  write_string_attr(g.get(), "start_time", m.start_time);
  write_string_attr(g.get(), "end_time", m.end_time);
  write_string_attr(g.get(), "first_start_time", m.first_start_time);
  write_int_attr(g.get(), "sessions", m.sessions);
  write_int_attr(g.get(), "complete", m.complete ? 1 : 0);
  write_int_attr(g.get(), "requests_total", static_cast<int64_t>(res.rows.size()));
  write_int_attr(g.get(), "requests_done", res.done_count());
}

}  // namespace

void write_results_hdf5(const std::string& path, const JobResults& results) {
  // Errors are reported as hs::Error with context; HDF5's own stack dump would only add noise.
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  H5Id file(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), H5Fclose,
            cat("create results file '", path, "'"));
  write_requests(file.get(), results);
  write_trace(file.get(), results);
  write_meta(file.get(), results);
  file.close(cat("finish writing results file '", path, "'"));
}

}  // namespace hs

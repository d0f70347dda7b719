#include "runner/io/trace_h5.h"

#include <algorithm>

#include "backend/backend.h"
#include "engine/trace.h"
#include "runner/io/posix_file.h"
#include "runner/io/trace_columns.h"
#include "util/error.h"

namespace hs {
namespace {

// kind: an HDF5 enum over uint8 (h5py: h5py.check_enum_dtype gives the names), plus a kind_names
// table indexed by the value for readers that ignore enums.
H5Id trace_kind_type() {
  H5Id t(H5Tenum_create(H5T_NATIVE_UINT8), H5Tclose, "create the trace kind enum");
  for (int k = 0; k < kNumTraceKinds; ++k) {
    const uint8_t v = static_cast<uint8_t>(k);
    h5_check(H5Tenum_insert(t.get(), trace_kind_name(static_cast<TraceKind>(k)), &v),
             "add a trace kind");
  }
  return t;
}

int kind_by_name(const std::string& name) {
  for (int k = 0; k < kNumTraceKinds; ++k)
    if (name == trace_kind_name(static_cast<TraceKind>(k))) return k;
  return -1;
}

}  // namespace

void create_trace_group(hid_t file) {
  H5Id g = make_group(file, "trace");
  H5Id kind_t = trace_kind_type();
  std::vector<std::string> kind_names, stream_names;
  for (int k = 0; k < kNumTraceKinds; ++k)
    kind_names.push_back(trace_kind_name(static_cast<TraceKind>(k)));
  for (int s = 0; s < kNumStreams; ++s) stream_names.push_back(stream_name(static_cast<Stream>(s)));
  write_strings(g.get(), "kind_names", kind_names);
  write_strings(g.get(), "stream_names", stream_names);
  for (const char* name : {"step", "bytes", "unit"})
    make_growing_column(g.get(), name, H5T_STD_I64LE);
  for (const char* name : {"layer", "mini_batch", "stream", "rank", "session"})
    make_growing_column(g.get(), name, H5T_STD_I32LE);
  for (const char* name : {"start_ms", "end_ms"})
    make_growing_column(g.get(), name, H5T_IEEE_F64LE);
  make_growing_column(g.get(), "kind", kind_t.get());
  write_int_attr(g.get(), "count", 0);
}

void append_trace_rows(hid_t file, int64_t first_row, const std::vector<TraceRow>& rows) {
  if (rows.empty()) return;
  H5Id g(H5Gopen2(file, "trace", H5P_DEFAULT), H5Gclose, "open /trace");
  const hsize_t first = static_cast<hsize_t>(first_row), c = rows.size();
  auto column = [&](const char* name, hid_t mem_type, const void* data) {
    H5Id d(H5Dopen2(g.get(), name, H5P_DEFAULT), H5Dclose, cat("open /trace/", name));
    const hsize_t size = first + c;
    h5_check(H5Dset_extent(d.get(), &size), cat("extend /trace/", name));
    H5Id space(H5Dget_space(d.get()), H5Sclose, "get the trace's dataspace");
    h5_check(H5Sselect_hyperslab(space.get(), H5S_SELECT_SET, &first, nullptr, &c, nullptr),
             cat("select rows of /trace/", name));
    H5Id mem(H5Screate_simple(1, &c, nullptr), H5Sclose, "make a memory dataspace");
    h5_check(H5Dwrite(d.get(), mem_type, mem.get(), space.get(), H5P_DEFAULT, data),
             cat("write /trace/", name));
  };
  std::vector<int64_t> i64(c);
  std::vector<int32_t> i32(c);
  std::vector<uint8_t> u8(c);
  std::vector<double> f64(c);
  auto col64 = [&](const char* name, auto get) {
    for (hsize_t i = 0; i < c; ++i) i64[i] = get(rows[i]);
    column(name, H5T_NATIVE_INT64, i64.data());
  };
  auto col32 = [&](const char* name, auto get) {
    for (hsize_t i = 0; i < c; ++i) i32[i] = get(rows[i]);
    column(name, H5T_NATIVE_INT32, i32.data());
  };
  auto colf = [&](const char* name, auto get) {
    for (hsize_t i = 0; i < c; ++i) f64[i] = get(rows[i]);
    column(name, H5T_NATIVE_DOUBLE, f64.data());
  };
  col64("step", [](const TraceRow& r) { return r.event.step; });
  col32("layer", [](const TraceRow& r) { return r.event.layer; });
  col32("mini_batch", [](const TraceRow& r) { return r.event.mini_batch; });
  H5Id kind_t = trace_kind_type();
  for (hsize_t i = 0; i < c; ++i) u8[i] = static_cast<uint8_t>(rows[i].event.kind);
  column("kind", kind_t.get(), u8.data());
  col64("bytes", [](const TraceRow& r) { return r.event.bytes; });
  colf("start_ms", [](const TraceRow& r) { return r.event.start_ms; });
  colf("end_ms", [](const TraceRow& r) { return r.event.end_ms; });
  col32("stream", [](const TraceRow& r) { return r.event.stream; });
  col32("rank", [](const TraceRow& r) { return r.rank; });
  col32("session", [](const TraceRow& r) { return r.session; });
  col64("unit", [](const TraceRow& r) { return r.unit; });
}

void set_trace_count(hid_t file, int64_t rows) {
  H5Id g(H5Gopen2(file, "trace", H5P_DEFAULT), H5Gclose, "open /trace");
  write_int_attr(g.get(), "count", rows);
}

void write_trace_file(const std::string& path, const std::vector<TraceRow>& rows,
                      const std::vector<std::pair<std::string, std::string>>& meta) {
  silence_hdf5_errors();
  const std::string tmp = path + ".tmp";
  {
    H5Id file(H5Fcreate(tmp.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), H5Fclose,
              cat("create the trace file '", tmp, "'"));
    create_trace_group(file.get());
    append_trace_rows(file.get(), 0, rows);
    set_trace_count(file.get(), static_cast<int64_t>(rows.size()));
    H5Id m = make_group(file.get(), "meta");
    for (const auto& [name, value] : meta) write_string_attr(m.get(), name.c_str(), value);
    m.close("close /meta");
    file.close(cat("finish writing the trace file '", tmp, "'"));
  }
  replace_file(tmp, path);
}

TraceH5Reader::TraceH5Reader(hid_t file, const std::string& path)
    : path_(path),
      group_((H5Lexists(file, "trace", H5P_DEFAULT) > 0 ? H5Gopen2(file, "trace", H5P_DEFAULT)
                                                        : hid_t(-1)),
             H5Gclose,
             cat("find /trace in '", path,
                 "' (a results file of `hybridserve run` or a `bench --trace-out x.h5` trace "
                 "has one; was the job run with --no-trace?)")),
      kind_type_(H5Tcopy(H5T_NATIVE_UINT8), H5Tclose, "copy a type") {
  hsize_t shortest = 0;
  for (int c = 0; c < kNumTraceColumns; ++c) {
    const char* name = kTraceColumnNames[c];
    HS_CHECK(H5Lexists(group_.get(), name, H5P_DEFAULT) > 0, "'", path, "': /trace has no column '",
             name, "'");
    H5Id d(H5Dopen2(group_.get(), name, H5P_DEFAULT), H5Dclose,
           cat("open /trace/", name, " of '", path, "'"));
    H5Id space(H5Dget_space(d.get()), H5Sclose, cat("get the dataspace of /trace/", name));
    HS_CHECK(H5Sget_simple_extent_ndims(space.get()) == 1, "'", path, "': /trace/", name,
             " is not a 1-D column");
    hsize_t n = 0;
    H5Sget_simple_extent_dims(space.get(), &n, nullptr);
    shortest = c == 0 ? n : std::min(shortest, n);
    H5Id type(H5Dget_type(d.get()), H5Tclose, cat("get the type of /trace/", name));
    const H5T_class_t cls = H5Tget_class(type.get());
    if (c == kKind) {
      HS_CHECK(cls == H5T_ENUM && H5Tget_size(type.get()) == 1, "'", path,
               "': /trace/kind is not an enum of one byte");
      kind_of_value_.assign(256, -1);
      const int members = H5Tget_nmembers(type.get());
      for (int m = 0; m < members; ++m) {
        char* member = H5Tget_member_name(type.get(), static_cast<unsigned>(m));
        uint8_t value = 0;
        H5Tget_member_value(type.get(), static_cast<unsigned>(m), &value);
        const std::string member_name = member ? member : "";
        H5free_memory(member);
        const int k = kind_by_name(member_name);
        HS_CHECK(k >= 0, "'", path, "': /trace/kind names an unknown kind '", member_name, "'");
        kind_of_value_[value] = k;
      }
      kind_type_ = H5Id(H5Tcopy(type.get()), H5Tclose, "copy the kind type");
    } else {
      const bool want_float = c == kStart || c == kEnd;
      HS_CHECK(cls == (want_float ? H5T_FLOAT : H5T_INTEGER), "'", path, "': /trace/", name,
               " is not of ", want_float ? "a floating-point" : "an integer", " type");
    }
    columns_.push_back(std::move(d));
  }
  // Streams by name: the index a file stores is its stream_names' order.
  const auto names = read_strings(group_.get(), "stream_names");
  for (int s = 0; s < kNumStreams; ++s) stream_of_index_.push_back(s);
  if (names) {
    stream_of_index_.assign(names->size(), -1);
    for (size_t i = 0; i < names->size(); ++i)
      for (int s = 0; s < kNumStreams; ++s)
        if ((*names)[i] == stream_name(static_cast<Stream>(s))) stream_of_index_[i] = s;
  }
  const auto count = read_int_attr(group_.get(), "count");
  rows_ = static_cast<int64_t>(count ? std::min<hsize_t>(static_cast<hsize_t>(*count), shortest)
                                     : shortest);
}

void TraceH5Reader::read_column(size_t column, hid_t mem_type, int64_t first, int64_t count,
                                void* out) const {
  const hid_t d = columns_[column].get();
  H5Id space(H5Dget_space(d), H5Sclose, "get a trace column's dataspace");
  const hsize_t f = static_cast<hsize_t>(first), n = static_cast<hsize_t>(count);
  h5_check(H5Sselect_hyperslab(space.get(), H5S_SELECT_SET, &f, nullptr, &n, nullptr),
           cat("select rows of /trace/", kTraceColumnNames[column]));
  H5Id mem(H5Screate_simple(1, &n, nullptr), H5Sclose, "make a memory dataspace");
  HS_CHECK(H5Dread(d, mem_type, mem.get(), space.get(), H5P_DEFAULT, out) >= 0, "'", path_,
           "': cannot read /trace/", kTraceColumnNames[column], " rows ", first, "..",
           first + count - 1);
}

void TraceH5Reader::read(int64_t first, int64_t count, std::vector<TraceRow>& out) const {
  HS_CHECK(first >= 0 && count >= 0 && first + count <= rows_, "trace rows ", first, "+", count,
           " outside the ", rows_, " of '", path_, "'");
  const size_t n = static_cast<size_t>(count);
  out.assign(n, TraceRow{});
  if (n == 0) return;
  std::vector<int64_t> i64(n);
  std::vector<int32_t> i32(n);
  std::vector<double> f64(n);
  std::vector<uint8_t> u8(n);
  auto longs = [&](size_t c, auto set) {
    read_column(c, H5T_NATIVE_INT64, first, count, i64.data());
    for (size_t i = 0; i < n; ++i) set(out[i], i64[i]);
  };
  auto ints = [&](size_t c, auto set) {
    read_column(c, H5T_NATIVE_INT32, first, count, i32.data());
    for (size_t i = 0; i < n; ++i) set(out[i], i32[i]);
  };
  auto doubles = [&](size_t c, auto set) {
    read_column(c, H5T_NATIVE_DOUBLE, first, count, f64.data());
    for (size_t i = 0; i < n; ++i) set(out[i], f64[i]);
  };
  longs(kStep, [](TraceRow& r, int64_t v) { r.event.step = v; });
  ints(kLayer, [](TraceRow& r, int32_t v) { r.event.layer = v; });
  ints(kMiniBatch, [](TraceRow& r, int32_t v) { r.event.mini_batch = v; });
  longs(kBytes, [](TraceRow& r, int64_t v) { r.event.bytes = v; });
  doubles(kStart, [](TraceRow& r, double v) { r.event.start_ms = v; });
  doubles(kEnd, [](TraceRow& r, double v) { r.event.end_ms = v; });
  ints(kRank, [](TraceRow& r, int32_t v) { r.rank = v; });
  ints(kSession, [](TraceRow& r, int32_t v) { r.session = v; });
  longs(kUnit, [](TraceRow& r, int64_t v) { r.unit = v; });
  read_column(kKind, kind_type_.get(), first, count, u8.data());
  read_column(kStream, H5T_NATIVE_INT32, first, count, i32.data());
  for (size_t i = 0; i < n; ++i) {
    const int k = kind_of_value_[u8[i]];
    HS_CHECK(k >= 0, "'", path_, "': /trace row ", first + int64_t(i), " has kind value ",
             int(u8[i]), ", which /trace/kind does not name");
    out[i].event.kind = static_cast<TraceKind>(k);
    const int32_t s = i32[i];
    const int stream =
        s >= 0 && size_t(s) < stream_of_index_.size() ? stream_of_index_[size_t(s)] : -1;
    HS_CHECK(stream >= 0, "'", path_, "': /trace row ", first + int64_t(i), " has stream ", s,
             ", which /trace/stream_names does not name");
    out[i].event.stream = stream;
  }
}

}  // namespace hs

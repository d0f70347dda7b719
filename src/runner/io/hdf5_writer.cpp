#include "runner/io/hdf5_writer.h"

#include <hdf5.h>

#include <algorithm>
#include <filesystem>
#include <optional>
#include <vector>

#include "runner/io/hdf5_handles.h"
#include "runner/io/posix_file.h"
#include "runner/io/trace_h5.h"
#include "runner/io/trace_log.h"
#include "util/error.h"

namespace hs {
namespace {

H5Id vlen_int32_type() {
  return H5Id(H5Tvlen_create(H5T_NATIVE_INT32), H5Tclose, "make a variable-length int32 type");
}

// A 1-D dataset of n elements with all its space allocated now (contiguous): later writes of
// its elements change no metadata.
void make_fixed_column(hid_t group, const char* name, hid_t type, hsize_t n) {
  H5Id space(H5Screate_simple(1, &n, nullptr), H5Sclose, cat("make the dataspace of ", name));
  H5Id dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose, "make a dataset property list");
  h5_check(H5Pset_alloc_time(dcpl.get(), H5D_ALLOC_TIME_EARLY), "allocate a dataset early");
  H5Id d(H5Dcreate2(group, name, type, space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT), H5Dclose,
         cat("create dataset ", name));
}

// The results file's layout version (/requests attribute "layout"): a file of another layout is
// made again rather than continued.
constexpr int64_t kLayout = 2;

// Opening without HDF5's file lock: a reader (h5py) holding the file open between checkpoints
// must not make a checkpoint fail, and the rows it may see change are ones it sees as not done.
H5Id file_access() {
  H5Id fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose, "make a file access property list");
  h5_check(H5Pset_file_locking(fapl.get(), false, true), "turn off HDF5 file locking");
  return fapl;
}

// The rows of one write, in row order, as HDF5 selections and memory columns.
class RowWrite {
 public:
  RowWrite(hid_t group, const std::vector<RequestRecord>& rows) : group_(group), n_(rows.size()) {
    coords_.reserve(n_);
    for (const RequestRecord& r : rows) coords_.push_back(static_cast<hsize_t>(r.row));
  }

  template <typename T>
  void numbers(const char* name, hid_t mem_type, const std::vector<T>& v) {
    write(name, mem_type, v.data());
  }
  void strings(const char* name, const std::vector<const char*>& v) {
    H5Id t = vlen_string_type();
    write(name, t.get(), v.data());
  }
  void id_arrays(const char* name, const std::vector<hvl_t>& v) {
    H5Id t = vlen_int32_type();
    write(name, t.get(), v.data());
  }

 private:
  void write(const char* name, hid_t mem_type, const void* data) {
    H5Id d(H5Dopen2(group_, name, H5P_DEFAULT), H5Dclose, cat("open dataset ", name));
    H5Id file_space(H5Dget_space(d.get()), H5Sclose, cat("get the dataspace of ", name));
    h5_check(H5Sselect_elements(file_space.get(), H5S_SELECT_SET, n_, coords_.data()),
             cat("select rows of ", name));
    hsize_t n = n_;
    H5Id mem(H5Screate_simple(1, &n, nullptr), H5Sclose, "make a memory dataspace");
    h5_check(H5Dwrite(d.get(), mem_type, mem.get(), file_space.get(), H5P_DEFAULT, data),
             cat("write dataset ", name));
  }

  hid_t group_;
  size_t n_;
  std::vector<hsize_t> coords_;
};

class Hdf5Results : public ResultsSink {
 public:
  Hdf5Results(const OutputPaths& paths, const ResultsLayout& layout, const JobMeta& meta,
              bool resume, std::string* note)
      : paths_(paths), layout_(layout), present_(static_cast<size_t>(layout.total), false) {
    silence_hdf5_errors();
    std::error_code ec;
    if (resume && std::filesystem::exists(paths.output, ec)) {
      const std::string why = continue_file();
      if (why.empty()) return;
      if (note) *note = cat("'", paths.output, "' ", why, ": made again from the journal");
      std::fill(present_.begin(), present_.end(), false);
      rows_in_file_ = journal_units_ = trace_in_file_ = 0;
    }
    create(meta);
  }

  bool missing(int64_t journal_unit, int64_t row) const override {
    // A unit journaled after the file's last checkpoint may be there in part (a write cut short
    // by a crash): it is written again whole.
    return journal_unit >= journal_units_ || !present_[static_cast<size_t>(row)];
  }

  void rewrite_from(int64_t) override {}  // rows are overwritten in place when they come

  void add(RequestRecord r) override {
    HS_CHECK(r.row >= 0 && r.row < layout_.total, "result for row ", r.row, " of ", layout_.total);
    buffered_bytes_ += 128 + r.id.size() + r.error.size() + r.text.value_or("").size() +
                       r.prompt_text.value_or("").size() +
                       4 * (r.prompt_ids.size() + r.output_ids.size());
    buffer_.push_back(std::move(r));
    if (buffered_bytes_ >= kBufferBytes) {
      Open f(paths_.output, "write rows to");
      write_rows(f.id.get());
      f.id.close(cat("write rows to '", paths_.output, "'"));
    }
  }

  void checkpoint(const JobMeta& meta, int64_t journal_units, int64_t trace_rows) override {
    Open f(paths_.output, "write a checkpoint to");
    const hid_t file = f.id.get();
    write_rows(file);
    append_trace(file, trace_rows);
    // The rows and the trace are in the file before the attributes say they are.
    h5_check(H5Fflush(file, H5F_SCOPE_LOCAL), cat("flush '", paths_.output, "'"));
    {
      H5Id g(H5Gopen2(file, "requests", H5P_DEFAULT), H5Gclose, "open /requests");
      write_int_attr(g.get(), "count", rows_in_file_);
      write_int_attr(g.get(), "journal_units", journal_units);
      H5Id t(H5Gopen2(file, "trace", H5P_DEFAULT), H5Gclose, "open /trace");
      write_int_attr(t.get(), "count", trace_in_file_);
      H5Id m(H5Gopen2(file, "meta", H5P_DEFAULT), H5Gclose, "open /meta");
      write_meta(m.get(), meta, meta_in_file_ ? &*meta_in_file_ : nullptr);
      meta_in_file_ = meta;
    }
    f.id.close(cat("finish writing a checkpoint to '", paths_.output, "'"));
    PosixFile(paths_.output, PosixFile::Mode::read).sync();
    journal_units_ = journal_units;
  }

  int64_t rows_in_file() const override { return rows_in_file_; }

 private:
  // Rows waiting beyond this many bytes are written before the next checkpoint.
  static constexpr size_t kBufferBytes = 2u << 20;

  struct Open {
    Open(const std::string& path, const char* what)
        : fapl(file_access()),
          id(H5Fopen(path.c_str(), H5F_ACC_RDWR, fapl.get()), H5Fclose,
             cat(what, " results file '", path, "'")) {}
    H5Id fapl;
    H5Id id;
  };

  // "" when the file is this job's and of this layout (and then its state is read), else why not.
  std::string continue_file() {
    H5Id fapl = file_access();
    const hid_t raw = H5Fopen(paths_.output.c_str(), H5F_ACC_RDONLY, fapl.get());
    if (raw < 0) return "cannot be opened as HDF5";
    H5Id file(raw, H5Fclose, "open the results file");
    if (H5Lexists(file.get(), "requests", H5P_DEFAULT) <= 0 ||
        H5Lexists(file.get(), "meta", H5P_DEFAULT) <= 0 ||
        H5Lexists(file.get(), "trace", H5P_DEFAULT) <= 0)
      return "lacks /requests, /trace or /meta";
    H5Id g(H5Gopen2(file.get(), "requests", H5P_DEFAULT), H5Gclose, "open /requests");
    H5Id m(H5Gopen2(file.get(), "meta", H5P_DEFAULT), H5Gclose, "open /meta");
    H5Id t(H5Gopen2(file.get(), "trace", H5P_DEFAULT), H5Gclose, "open /trace");
    if (read_int_attr(g.get(), "layout") != kLayout) return "is of an older layout";
    if (read_int_attr(g.get(), "total") != layout_.total)
      return "has another row count than the input";
    if (read_string_attr(m.get(), "fingerprint") != layout_.fingerprint)
      return "belongs to another job (its /meta fingerprint differs)";
    if ((H5Lexists(g.get(), "text", H5P_DEFAULT) > 0) != layout_.has_text)
      return "has other columns";
    const auto units = read_int_attr(g.get(), "journal_units");
    const auto trace = read_int_attr(t.get(), "count");
    if (!units || !trace) return "lacks its checkpoint attributes";
    // Which rows are there: their status, read in slices.
    H5Id d(H5Dopen2(g.get(), "status", H5P_DEFAULT), H5Dclose, "open /requests/status");
    H5Id space(H5Dget_space(d.get()), H5Sclose, "get the dataspace of status");
    H5Id type = vlen_string_type();
    int64_t rows = 0;
    for (hsize_t first = 0, total = layout_.total; first < total;) {
      hsize_t n = std::min<hsize_t>(1 << 16, total - first);
      std::vector<char*> status(n, nullptr);
      H5Id mem(H5Screate_simple(1, &n, nullptr), H5Sclose, "make a memory dataspace");
      h5_check(H5Sselect_hyperslab(space.get(), H5S_SELECT_SET, &first, nullptr, &n, nullptr),
               "select rows of status");
      if (H5Dread(d.get(), type.get(), mem.get(), space.get(), H5P_DEFAULT, status.data()) < 0)
        return "has an unreadable status column";
      for (hsize_t i = 0; i < n; ++i) {
        const bool there = status[i] != nullptr && status[i][0] != '\0';
        present_[first + i] = there;
        rows += there ? 1 : 0;
      }
      H5Dvlen_reclaim(type.get(), mem.get(), H5P_DEFAULT, status.data());
      first += n;
    }
    // A kill inside a checkpoint's write can leave a column whose variable-length values point
    // into a heap block that never reached the disk: the status column above reads, yet
    // writing that column again fails on every resume. So every column is read through once.
    for (const auto& [group, name] : {std::pair{&g, "requests"}, std::pair{&t, "trace"}}) {
      const std::string bad = first_unreadable_column(group->get());
      if (!bad.empty()) return cat("has an unreadable column /", name, "/", bad);
    }
    rows_in_file_ = rows;
    journal_units_ = *units;
    trace_in_file_ = *trace;
    return "";
  }

  // The name of the first dataset of `group` that cannot be read whole, "" if all can. Read in
  // slices of rows in the type HDF5 maps the file's type to in memory (variable-length values
  // are read, which checks the heap blocks they live in, and freed).
  static std::string first_unreadable_column(hid_t group) {
    std::vector<std::string> names;
    auto add = [](hid_t, const char* name, const H5L_info_t*, void* out) -> herr_t {
      static_cast<std::vector<std::string>*>(out)->push_back(name);
      return 0;
    };
    if (H5Literate(group, H5_INDEX_NAME, H5_ITER_INC, nullptr, add, &names) < 0) return ".";
    for (const std::string& name : names) {
      const hid_t raw = H5Dopen2(group, name.c_str(), H5P_DEFAULT);
      if (raw < 0) return name;
      H5Id d(raw, H5Dclose, "open a column");
      if (!column_readable(d.get())) return name;
    }
    return "";
  }

  static bool column_readable(hid_t d) {
    const hid_t file_type = H5Dget_type(d), space_id = H5Dget_space(d);
    if (file_type < 0 || space_id < 0) return false;
    H5Id ftype(file_type, H5Tclose, "get a column's type");
    H5Id space(space_id, H5Sclose, "get a column's dataspace");
    H5Id type(H5Tget_native_type(ftype.get(), H5T_DIR_DEFAULT), H5Tclose, "map a column's type");
    if (H5Sget_simple_extent_ndims(space.get()) != 1) return true;  // only 1-d columns are written
    hsize_t total = 0;
    H5Sget_simple_extent_dims(space.get(), &total, nullptr);
    const size_t value_bytes = H5Tget_size(type.get());
    const bool vlen = H5Tis_variable_str(type.get()) > 0 || H5Tget_class(type.get()) == H5T_VLEN;
    std::vector<char> buf;
    for (hsize_t first = 0; first < total;) {
      hsize_t n = std::min<hsize_t>(1 << 16, total - first);
      buf.assign(n * value_bytes, 0);
      H5Id mem(H5Screate_simple(1, &n, nullptr), H5Sclose, "make a memory dataspace");
      if (H5Sselect_hyperslab(space.get(), H5S_SELECT_SET, &first, nullptr, &n, nullptr) < 0 ||
          H5Dread(d, type.get(), mem.get(), space.get(), H5P_DEFAULT, buf.data()) < 0)
        return false;
      if (vlen) H5Dvlen_reclaim(type.get(), mem.get(), H5P_DEFAULT, buf.data());
      first += n;
    }
    return true;
  }

  void create(const JobMeta& meta) {
    H5Id fapl = file_access();
    H5Id file(H5Fcreate(paths_.tmp.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl.get()), H5Fclose,
              cat("create results file '", paths_.tmp, "'"));
    const hsize_t n = static_cast<hsize_t>(layout_.total);
    {
      H5Id g = make_group(file.get(), "requests");
      H5Id str = vlen_string_type();
      H5Id ids = vlen_int32_type();
      for (const char* name : {"id", "status", "error", "finish_reason"})
        make_fixed_column(g.get(), name, str.get(), n);
      for (const char* name : {"line", "prompt_len", "output_len", "unit"})
        make_fixed_column(g.get(), name, H5T_STD_I64LE, n);
      for (const char* name : {"start_ms", "end_ms", "compute_ms"})
        make_fixed_column(g.get(), name, H5T_IEEE_F64LE, n);
      for (const char* name : {"rank", "session"})
        make_fixed_column(g.get(), name, H5T_STD_I32LE, n);
      make_fixed_column(g.get(), "prompt_ids", ids.get(), n);
      make_fixed_column(g.get(), "output_ids", ids.get(), n);
      if (layout_.has_text) {
        make_fixed_column(g.get(), "text", str.get(), n);
        make_fixed_column(g.get(), "prompt_text", str.get(), n);
      }
      write_int_attr(g.get(), "total", layout_.total);
      write_int_attr(g.get(), "count", 0);
      write_int_attr(g.get(), "layout", kLayout);
      write_int_attr(g.get(), "journal_units", 0);
    }
    create_trace_group(file.get());
    {
      H5Id g = make_group(file.get(), "meta");
      write_meta(g.get(), meta, nullptr);
      meta_in_file_ = meta;
    }
    file.close(cat("finish writing results file '", paths_.tmp, "'"));
    replace_file(paths_.tmp, paths_.output);
  }

  void write_rows(hid_t file) {
    if (buffer_.empty()) return;
    std::sort(buffer_.begin(), buffer_.end(),
              [](const RequestRecord& a, const RequestRecord& b) { return a.row < b.row; });
    // One result per row: the last one added wins (a restored row and its recomputation).
    std::vector<RequestRecord> rows;
    rows.reserve(buffer_.size());
    for (RequestRecord& r : buffer_) {
      if (!rows.empty() && rows.back().row == r.row) rows.pop_back();
      rows.push_back(std::move(r));
    }
    buffer_.clear();
    buffered_bytes_ = 0;
    H5Id g(H5Gopen2(file, "requests", H5P_DEFAULT), H5Gclose, "open /requests");
    RowWrite w(g.get(), rows);
    const size_t n = rows.size();
    std::vector<const char*> s(n);
    auto strings = [&](const char* name, auto get) {
      for (size_t i = 0; i < n; ++i) s[i] = get(rows[i]);
      w.strings(name, s);
    };
    std::vector<hvl_t> v(n);
    auto arrays = [&](const char* name, auto get) {
      for (size_t i = 0; i < n; ++i) {
        std::vector<int32_t>& a = get(rows[i]);
        v[i].len = a.size();
        v[i].p = a.data();
      }
      w.id_arrays(name, v);
    };
    std::vector<int64_t> i64(n);
    auto longs = [&](const char* name, auto get) {
      for (size_t i = 0; i < n; ++i) i64[i] = get(rows[i]);
      w.numbers(name, H5T_NATIVE_INT64, i64);
    };
    std::vector<double> f64(n);
    auto doubles = [&](const char* name, auto get) {
      for (size_t i = 0; i < n; ++i) f64[i] = get(rows[i]);
      w.numbers(name, H5T_NATIVE_DOUBLE, f64);
    };
    std::vector<int32_t> i32(n);
    auto ints = [&](const char* name, auto get) {
      for (size_t i = 0; i < n; ++i) i32[i] = get(rows[i]);
      w.numbers(name, H5T_NATIVE_INT32, i32);
    };
    using R = RequestRecord;
    strings("id", [](const R& r) { return r.id.c_str(); });
    strings("error", [](const R& r) { return r.error.c_str(); });
    strings("finish_reason", [](const R& r) { return r.finish_reason.c_str(); });
    if (layout_.has_text) {
      strings("text", [](const R& r) { return r.text ? r.text->c_str() : ""; });
      strings("prompt_text",
              [](const R& r) { return r.prompt_text ? r.prompt_text->c_str() : ""; });
    }
    arrays("prompt_ids", [](R& r) -> std::vector<int32_t>& { return r.prompt_ids; });
    arrays("output_ids", [](R& r) -> std::vector<int32_t>& { return r.output_ids; });
    longs("line", [](const R& r) { return r.line; });
    longs("prompt_len", [](const R& r) { return static_cast<int64_t>(r.prompt_ids.size()); });
    longs("output_len", [](const R& r) { return static_cast<int64_t>(r.output_ids.size()); });
    longs("unit", [](const R& r) { return r.unit; });
    doubles("start_ms", [](const R& r) { return r.start_ms; });
    doubles("end_ms", [](const R& r) { return r.end_ms; });
    doubles("compute_ms", [](const R& r) { return r.compute_ms; });
    ints("rank", [](const R& r) { return r.rank; });
    ints("session", [](const R& r) { return r.session; });
    // status last: a reader takes a row with a status as done.
    strings("status", [](const R& r) { return r.ok ? "ok" : "error"; });
    for (const R& r : rows) {
      rows_in_file_ += present_[static_cast<size_t>(r.row)] ? 0 : 1;
      present_[static_cast<size_t>(r.row)] = true;
    }
  }

  void append_trace(hid_t file, int64_t trace_rows) {
    if (layout_.trace_path.empty() || trace_rows <= trace_in_file_) return;
    int64_t first = trace_in_file_;
    TraceLog::read(layout_.trace_path, trace_in_file_, trace_rows, 1 << 20,
                   [&](const std::vector<TraceRow>& rows) {
                     append_trace_rows(file, first, rows);
                     first += static_cast<int64_t>(rows.size());
                   });
    trace_in_file_ = trace_rows;
  }

  // Writes the attributes of `m` that differ from `old` (all of them when old is null): a
  // checkpoint rewrites the few that change, not the model's config every time.
  static void write_meta(hid_t g, const JobMeta& m, const JobMeta* old) {
    auto text = [&](const char* name, std::string JobMeta::*field) {
      if (!old || old->*field != m.*field) write_string_attr(g, name, m.*field);
    };
    text("command_line", &JobMeta::command_line);
    text("job_config", &JobMeta::job_config);
    text("model_config", &JobMeta::model_config);
    text("plan", &JobMeta::plan);
    text("hardware", &JobMeta::hardware);
    text("fingerprint", &JobMeta::fingerprint);
    text("version", &JobMeta::version);
    text("start_time", &JobMeta::start_time);
    text("end_time", &JobMeta::end_time);
    text("first_start_time", &JobMeta::first_start_time);
    write_int_attr(g, "sessions", m.sessions);
    write_int_attr(g, "complete", m.complete ? 1 : 0);
    write_int_attr(g, "requests_total", m.requests_total);
    write_int_attr(g, "requests_done", m.requests_done);
  }

  OutputPaths paths_;
  ResultsLayout layout_;
  std::vector<bool> present_;  // rows with a result in the file
  int64_t rows_in_file_ = 0;
  int64_t journal_units_ = 0;  // unit records whose rows the file holds (its last checkpoint)
  int64_t trace_in_file_ = 0;
  // What /meta holds, when this process wrote it (none yet for a continued file).
  std::optional<JobMeta> meta_in_file_;
  std::vector<RequestRecord> buffer_;
  size_t buffered_bytes_ = 0;
};

}  // namespace

std::unique_ptr<ResultsSink> open_hdf5_results(const OutputPaths& paths, const ResultsLayout& l,
                                               const JobMeta& meta, bool resume,
                                               std::string* note) {
  return std::make_unique<Hdf5Results>(paths, l, meta, resume, note);
}

}  // namespace hs

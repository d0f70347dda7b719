// The results files read back with the HDF5 library itself (the layout docs/OUTPUT.md
// documents): rows at their input positions after each checkpoint, variable-length token ids,
// UTF-8 strings, the trace appended from its sidecar with the kind enum, /meta attributes; a
// resume continues this job's file and remakes another's; JSONL rows appended in input order.
#include <gtest/gtest.h>

#include <hdf5.h>

#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "runner/io/output_file.h"
#include "runner/io/results_sink.h"
#include "runner/io/trace_log.h"
#include "test_support.h"
#include "util/error.h"

namespace hs {
namespace {

template <typename T>
std::vector<T> read_numbers(hid_t file, const char* path, hid_t type) {
  hid_t d = H5Dopen2(file, path, H5P_DEFAULT);
  EXPECT_GE(d, 0) << path;
  hid_t s = H5Dget_space(d);
  std::vector<T> v(static_cast<size_t>(H5Sget_simple_extent_npoints(s)));
  if (!v.empty()) {
    EXPECT_GE(H5Dread(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data()), 0);
  }
  H5Sclose(s);
  H5Dclose(d);
  return v;
}

std::vector<std::string> read_strings(hid_t file, const char* path) {
  hid_t d = H5Dopen2(file, path, H5P_DEFAULT);
  hid_t s = H5Dget_space(d);
  hid_t t = H5Tcopy(H5T_C_S1);
  H5Tset_size(t, H5T_VARIABLE);
  H5Tset_cset(t, H5T_CSET_UTF8);
  std::vector<char*> raw(static_cast<size_t>(H5Sget_simple_extent_npoints(s)));
  if (!raw.empty()) H5Dread(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, raw.data());
  std::vector<std::string> out;
  for (const char* p : raw) out.push_back(p ? p : "");  // a row not written yet reads as null
  if (!raw.empty()) H5Dvlen_reclaim(t, s, H5P_DEFAULT, raw.data());
  H5Tclose(t);
  H5Sclose(s);
  H5Dclose(d);
  return out;
}

std::string read_string_attr(hid_t file, const char* obj, const char* name) {
  hid_t a = H5Aopen_by_name(file, obj, name, H5P_DEFAULT, H5P_DEFAULT);
  hid_t t = H5Aget_type(a);
  char* p = nullptr;
  H5Aread(a, t, &p);
  std::string s = p ? p : "";
  H5free_memory(p);
  H5Tclose(t);
  H5Aclose(a);
  return s;
}

int64_t read_int_attr(hid_t file, const char* obj, const char* name) {
  hid_t a = H5Aopen_by_name(file, obj, name, H5P_DEFAULT, H5P_DEFAULT);
  int64_t v = -1;
  H5Aread(a, H5T_NATIVE_INT64, &v);
  H5Aclose(a);
  return v;
}

std::vector<std::vector<int32_t>> read_id_arrays(hid_t file, const char* path) {
  hid_t d = H5Dopen2(file, path, H5P_DEFAULT);
  hid_t s = H5Dget_space(d);
  hid_t t = H5Tvlen_create(H5T_NATIVE_INT32);
  std::vector<hvl_t> raw(static_cast<size_t>(H5Sget_simple_extent_npoints(s)));
  if (!raw.empty()) {
    EXPECT_GE(H5Dread(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, raw.data()), 0);
  }
  std::vector<std::vector<int32_t>> out;
  for (const hvl_t& v : raw) {
    const int32_t* p = static_cast<const int32_t*>(v.p);
    out.emplace_back(p, p + v.len);
  }
  if (!raw.empty()) H5Dvlen_reclaim(t, s, H5P_DEFAULT, raw.data());
  H5Tclose(t);
  H5Sclose(s);
  H5Dclose(d);
  return out;
}

RequestRecord row(int64_t index, int64_t line, const std::string& id, std::vector<int32_t> out) {
  RequestRecord r;
  r.row = index;
  r.line = line;
  r.id = id;
  r.prompt_ids = {5, 6, 7};
  r.ok = true;
  r.output_ids = std::move(out);
  r.finish_reason = "length";
  r.rank = 1;
  r.session = 0;
  return r;
}

struct Fixture {
  std::string dir = test::temp_dir();
  OutputPaths paths = output_paths(dir + "/out.h5");
  ResultsLayout layout;
  Fixture() {
    layout.total = 4;
    layout.has_text = true;
    layout.fingerprint = R"({"job":1})";
    layout.trace_path = paths.trace;
  }
  JobMeta meta(bool complete) const {
    JobMeta m;
    m.command_line = "hybridserve run --x";
    m.fingerprint = layout.fingerprint;
    m.sessions = 2;
    m.complete = complete;
    m.requests_total = 4;
    m.requests_done = complete ? 4 : 2;
    return m;
  }
};

void append_trace(const std::string& path, int64_t keep, int rows) {
  TraceLog log(path, keep);
  TraceRow t;
  t.event.kind = TraceKind::ffn;
  t.event.bytes = 123;
  t.rank = 1;
  t.unit = 4;
  log.append(std::vector<TraceRow>(static_cast<size_t>(rows), t));
}

TEST(Hdf5Results, RowsAtTheirPlacesAfterEachCheckpoint) {
  Fixture x;
  test::write_file(x.paths.output, "an older version");
  auto sink = ResultsSink::open(x.paths, x.layout, x.meta(false), /*resume=*/false, nullptr);
  EXPECT_FALSE(std::filesystem::exists(x.paths.tmp));
  append_trace(x.paths.trace, 0, 3);
  RequestRecord last = row(3, 5, "last", {10, 11, 12});
  last.text = "caf\xc3\xa9";
  sink->add(last);
  RequestRecord bad;
  bad.row = 2;
  bad.line = 4;
  bad.error = "line 4: not valid JSON";
  sink->add(bad);
  sink->checkpoint(x.meta(false), 1, 2);  // the third trace row is not journaled yet

  hid_t f = H5Fopen(x.paths.output.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  ASSERT_GE(f, 0);
  // Rows 0 and 1 are not done: status "" and nothing else.
  EXPECT_EQ(read_strings(f, "/requests/id"), (std::vector<std::string>{"", "", "", "last"}));
  EXPECT_EQ(read_strings(f, "/requests/status"), (std::vector<std::string>{"", "", "error", "ok"}));
  EXPECT_EQ(read_strings(f, "/requests/error")[2], "line 4: not valid JSON");
  EXPECT_EQ(read_strings(f, "/requests/text")[3], "caf\xc3\xa9");
  EXPECT_EQ(read_numbers<int64_t>(f, "/requests/line", H5T_NATIVE_INT64),
            (std::vector<int64_t>{0, 0, 4, 5}));
  EXPECT_EQ(read_id_arrays(f, "/requests/output_ids"),
            (std::vector<std::vector<int32_t>>{{}, {}, {}, {10, 11, 12}}));
  EXPECT_EQ(read_numbers<int64_t>(f, "/requests/output_len", H5T_NATIVE_INT64),
            (std::vector<int64_t>{0, 0, 0, 3}));
  EXPECT_EQ(read_int_attr(f, "/requests", "count"), 2);
  EXPECT_EQ(read_int_attr(f, "/requests", "total"), 4);
  EXPECT_EQ(read_int_attr(f, "/requests", "journal_units"), 1);
  EXPECT_EQ(read_int_attr(f, "/trace", "count"), 2);
  EXPECT_EQ(read_numbers<uint8_t>(f, "/trace/kind", H5T_NATIVE_UINT8),
            (std::vector<uint8_t>(2, static_cast<uint8_t>(TraceKind::ffn))));
  EXPECT_EQ(read_strings(f, "/trace/kind_names")[static_cast<int>(TraceKind::ffn)],
            trace_kind_name(TraceKind::ffn));
  EXPECT_EQ(read_string_attr(f, "/meta", "command_line"), "hybridserve run --x");
  EXPECT_EQ(read_int_attr(f, "/meta", "complete"), 0);
  H5Fclose(f);
  const auto size_after_first = std::filesystem::file_size(x.paths.output);

  // The next checkpoint adds its rows and trace rows; the earlier ones stay as they were.
  sink->add(row(0, 1, "first", {8, 2}));
  sink->add(row(1, 2, "second", {9}));
  sink->checkpoint(x.meta(true), 2, 3);
  f = H5Fopen(x.paths.output.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  ASSERT_GE(f, 0);
  EXPECT_EQ(read_strings(f, "/requests/id"),
            (std::vector<std::string>{"first", "second", "", "last"}));
  EXPECT_EQ(read_id_arrays(f, "/requests/output_ids"),
            (std::vector<std::vector<int32_t>>{{8, 2}, {9}, {}, {10, 11, 12}}));
  EXPECT_EQ(read_id_arrays(f, "/requests/prompt_ids")[0], (std::vector<int32_t>{5, 6, 7}));
  EXPECT_EQ(read_int_attr(f, "/requests", "count"), 4);
  EXPECT_EQ(read_int_attr(f, "/trace", "count"), 3);
  EXPECT_EQ(read_numbers<int64_t>(f, "/trace/bytes", H5T_NATIVE_INT64).size(), 3u);
  EXPECT_EQ(read_int_attr(f, "/meta", "complete"), 1);
  H5Fclose(f);
  // Two rows and a trace row cost kilobytes, not a copy of the file.
  EXPECT_LT(std::filesystem::file_size(x.paths.output), size_after_first + 64 * 1024);
}

TEST(Hdf5Results, ResumeContinuesThisJobsFileAndRemakesAnotherOne) {
  Fixture x;
  {
    auto sink = ResultsSink::open(x.paths, x.layout, x.meta(false), false, nullptr);
    sink->add(row(1, 2, "second", {9}));
    sink->checkpoint(x.meta(false), 3, 0);
    sink->add(row(2, 3, "third", {9}));  // added after the last checkpoint: not in the file
  }
  std::string note;
  {
    auto sink = ResultsSink::open(x.paths, x.layout, x.meta(false), /*resume=*/true, &note);
    EXPECT_EQ(note, "");
    EXPECT_EQ(sink->rows_in_file(), 1);
    EXPECT_FALSE(sink->missing(2, 1));  // journaled before the checkpoint and there
    EXPECT_TRUE(sink->missing(2, 2));   // not there
    EXPECT_TRUE(sink->missing(3, 1));   // journaled after the checkpoint: written again
  }
  ResultsLayout other = x.layout;
  other.fingerprint = R"({"job":2})";
  auto sink = ResultsSink::open(x.paths, other, x.meta(false), true, &note);
  EXPECT_NE(note.find("belongs to another job"), std::string::npos) << note;
  EXPECT_EQ(sink->rows_in_file(), 0);
  EXPECT_TRUE(sink->missing(0, 1));
  test::write_file(x.paths.output, "not HDF5");
  sink = ResultsSink::open(x.paths, x.layout, x.meta(false), true, &note);
  EXPECT_NE(note.find("cannot be opened as HDF5"), std::string::npos) << note;
}

// A kill -9 inside a checkpoint's write left a file whose status column read but whose id
// column held a string pointing to a heap block that never reached the disk (found by
// tools/kill_soak.sh; HDF5: "bad global heap collection signature"): every resume then failed
// writing the id column. Such a file is made again from the journal. The torn block is made
// here by pointing row 1's id at the id column itself: an id is stored as its length, the address
// of its heap collection and its index there (16 bytes), in a contiguous dataset.
TEST(Hdf5Results, ResumeRemakesAFileWithAColumnThatDoesNotReadWhole) {
  Fixture x;
  {
    auto sink = ResultsSink::open(x.paths, x.layout, x.meta(false), false, nullptr);
    sink->add(row(1, 2, "second", {9}));
    sink->checkpoint(x.meta(false), 3, 0);
  }
  haddr_t ids_at = HADDR_UNDEF;
  {
    const hid_t f = H5Fopen(x.paths.output.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
    const hid_t d = H5Dopen2(f, "/requests/id", H5P_DEFAULT);
    ids_at = H5Dget_offset(d);
    H5Dclose(d);
    H5Fclose(f);
  }
  ASSERT_NE(ids_at, HADDR_UNDEF);
  std::string bytes = test::read_file(x.paths.output);
  const size_t collection_at = ids_at + 16 * 1 + 4;
  ASSERT_LE(collection_at + 8, bytes.size());
  const uint64_t not_a_collection = ids_at;  // the id column's own bytes
  std::memcpy(&bytes[collection_at], &not_a_collection, 8);
  test::write_file(x.paths.output, bytes);
  std::string note;
  auto sink = ResultsSink::open(x.paths, x.layout, x.meta(false), /*resume=*/true, &note);
  EXPECT_NE(note.find("has an unreadable column /requests/id"), std::string::npos) << note;
  EXPECT_NE(note.find("made again from the journal"), std::string::npos) << note;
  EXPECT_EQ(sink->rows_in_file(), 0);
  EXPECT_TRUE(sink->missing(0, 1));
  sink->add(row(1, 2, "second", {9}));  // the writes that failed on the torn file work
  sink->checkpoint(x.meta(true), 3, 0);
  EXPECT_EQ(sink->rows_in_file(), 1);
}

TEST(JsonlResults, AppendsRowsInInputOrderAndDropsATornLine) {
  const std::string dir = test::temp_dir();
  const OutputPaths paths = output_paths(dir + "/out.jsonl");
  ResultsLayout layout;
  layout.total = 3;
  {
    auto sink = ResultsSink::open(paths, layout, {}, false, nullptr);
    sink->add(row(1, 2, "b", {2}));
    sink->checkpoint({}, 1, 0);
    EXPECT_EQ(test::read_file(paths.output), "");  // row 0 is not there yet
    sink->add(row(0, 1, "a", {1}));
    sink->checkpoint({}, 2, 0);
    EXPECT_EQ(sink->rows_in_file(), 2);
  }
  const std::string two = test::read_file(paths.output);
  EXPECT_EQ(two.find("\"id\":\"a\""), two.find("\"id\""));       // a before b
  test::write_file(paths.output, two + "{\"id\": \"c\", \"li");  // a crash inside a line
  std::string note;
  auto sink = ResultsSink::open(paths, layout, {}, true, &note);
  EXPECT_NE(note.find("cut short"), std::string::npos) << note;
  EXPECT_EQ(sink->rows_in_file(), 2);
  EXPECT_FALSE(sink->missing(0, 1));
  EXPECT_TRUE(sink->missing(0, 2));
  sink->add(row(2, 3, "c", {3}));
  sink->checkpoint({}, 3, 0);
  EXPECT_EQ(test::read_file(paths.output).rfind(two, 0), 0u);
  sink->rewrite_from(1);  // --retry-failed from row 1: rows 1.. are dropped to be written again
  EXPECT_EQ(sink->rows_in_file(), 1);
}

TEST(OutputFile, FormatFromTheName) {
  EXPECT_EQ(output_paths("a.jsonl").format, OutputFormat::jsonl);
  EXPECT_EQ(output_paths("a.h5").format, OutputFormat::hdf5);
  EXPECT_EQ(output_paths("a.hdf5").journal, "a.hdf5.journal");
  EXPECT_THROW(output_paths("a.json"), Error);
}

}  // namespace
}  // namespace hs

// The HDF5 results file read back with the HDF5 library itself (the layout docs/OUTPUT.md
// documents): finished rows only, in input order, ragged ids with offsets, UTF-8 strings, the
// trace copied from its sidecar with the kind enum, /meta attributes; and the atomic replace.
#include <gtest/gtest.h>

#include <hdf5.h>

#include <filesystem>
#include <string>
#include <vector>

#include "runner/output_file.h"
#include "runner/trace_log.h"
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
  std::vector<std::string> out(raw.begin(), raw.end());
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

JobResults sample(const std::string& dir) {
  JobResults r;
  r.rows.resize(4);
  r.rows[0] = {};
  r.rows[0].line = 1;
  r.rows[0].id = "first";
  r.rows[0].prompt_ids = {5, 6, 7};
  r.rows[0].done = r.rows[0].ok = true;
  r.rows[0].output_ids = {8, 2};
  r.rows[0].finish_reason = "eos";
  r.rows[0].text = "caf\xc3\xa9";
  r.rows[0].rank = 1;
  r.rows[1].line = 2;  // not finished yet: left out
  r.rows[1].id = "pending";
  r.rows[1].prompt_ids = {1};
  r.rows[2].line = 4;
  r.rows[2].done = true;
  r.rows[2].error = "line 4: not valid JSON";
  r.rows[3].line = 5;
  r.rows[3].id = "last";
  r.rows[3].prompt_ids = {9};
  r.rows[3].done = r.rows[3].ok = true;
  r.rows[3].output_ids = {10, 11, 12};
  r.rows[3].finish_reason = "length";
  r.has_text = true;
  r.meta.command_line = "hybridserve run --x";
  r.meta.hardware = R"([{"rank":0}])";
  r.meta.sessions = 2;
  r.meta.complete = false;
  r.trace_path = dir + "/out.h5.trace";
  TraceLog log(r.trace_path, 0);
  TraceRow t;
  t.event.kind = TraceKind::ffn;
  t.event.bytes = 123;
  t.rank = 1;
  t.unit = 4;
  TraceRow w = t;
  w.event.kind = TraceKind::write_back;
  log.append({t, w, t});
  r.trace_rows = 2;  // the third row is not journaled: it must not appear
  return r;
}

TEST(Hdf5Writer, SchemaReadBack) {
  const std::string dir = test::temp_dir();
  const JobResults res = sample(dir);
  const OutputPaths paths = output_paths(dir + "/out.h5");
  test::write_file(paths.output, "an older version");
  write_results_file(paths, res);
  EXPECT_FALSE(std::filesystem::exists(paths.tmp));

  hid_t f = H5Fopen(paths.output.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  ASSERT_GE(f, 0);
  EXPECT_EQ(read_strings(f, "/requests/id"), (std::vector<std::string>{"first", "", "last"}));
  EXPECT_EQ(read_strings(f, "/requests/status"), (std::vector<std::string>{"ok", "error", "ok"}));
  EXPECT_EQ(read_strings(f, "/requests/error")[1], "line 4: not valid JSON");
  EXPECT_EQ(read_strings(f, "/requests/text")[0], "caf\xc3\xa9");
  EXPECT_EQ(read_numbers<int64_t>(f, "/requests/line", H5T_NATIVE_INT64),
            (std::vector<int64_t>{1, 4, 5}));
  EXPECT_EQ(read_numbers<int64_t>(f, "/requests/output_offsets", H5T_NATIVE_INT64),
            (std::vector<int64_t>{0, 2, 2, 5}));
  EXPECT_EQ(read_numbers<int32_t>(f, "/requests/output_ids", H5T_NATIVE_INT32),
            (std::vector<int32_t>{8, 2, 10, 11, 12}));
  EXPECT_EQ(read_numbers<int64_t>(f, "/requests/prompt_offsets", H5T_NATIVE_INT64),
            (std::vector<int64_t>{0, 3, 3, 4}));
  EXPECT_EQ(read_numbers<int32_t>(f, "/requests/rank", H5T_NATIVE_INT32),
            (std::vector<int32_t>{1, -1, -1}));
  EXPECT_EQ(read_int_attr(f, "/requests", "count"), 3);
  EXPECT_EQ(read_int_attr(f, "/requests", "total"), 4);

  EXPECT_EQ(read_int_attr(f, "/trace", "count"), 2);
  EXPECT_EQ(read_numbers<uint8_t>(f, "/trace/kind", H5T_NATIVE_UINT8),
            (std::vector<uint8_t>{static_cast<uint8_t>(TraceKind::ffn),
                                  static_cast<uint8_t>(TraceKind::write_back)}));
  EXPECT_EQ(read_numbers<int64_t>(f, "/trace/bytes", H5T_NATIVE_INT64),
            (std::vector<int64_t>{123, 123}));
  EXPECT_EQ(read_strings(f, "/trace/kind_names")[static_cast<int>(TraceKind::ffn)],
            trace_kind_name(TraceKind::ffn));
  EXPECT_EQ(read_string_attr(f, "/meta", "command_line"), "hybridserve run --x");
  EXPECT_EQ(read_int_attr(f, "/meta", "sessions"), 2);
  EXPECT_EQ(read_int_attr(f, "/meta", "complete"), 0);
  EXPECT_EQ(read_int_attr(f, "/meta", "requests_done"), 3);
  H5Fclose(f);
}

TEST(Hdf5Writer, CheckpointLeavesTheTraceOut) {
  const std::string dir = test::temp_dir();
  JobResults res = sample(dir);
  res.write_trace = false;
  const OutputPaths paths = output_paths(dir + "/out.h5");
  write_results_file(paths, res);
  hid_t f = H5Fopen(paths.output.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  ASSERT_GE(f, 0);
  EXPECT_EQ(read_int_attr(f, "/trace", "count"), 0);
  EXPECT_EQ(read_int_attr(f, "/trace", "omitted"), 2);
  EXPECT_TRUE(read_numbers<int64_t>(f, "/trace/step", H5T_NATIVE_INT64).empty());
  H5Fclose(f);
}

TEST(OutputFile, FormatFromTheName) {
  EXPECT_EQ(output_paths("a.jsonl").format, OutputFormat::jsonl);
  EXPECT_EQ(output_paths("a.h5").format, OutputFormat::hdf5);
  EXPECT_EQ(output_paths("a.hdf5").journal, "a.hdf5.journal");
  EXPECT_THROW(output_paths("a.json"), Error);
}

}  // namespace
}  // namespace hs

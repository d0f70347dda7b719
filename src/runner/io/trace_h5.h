// The /trace group of an HDF5 file (docs/OUTPUT.md): one 1-D column per field of a trace row,
// growing by appends, with kind (an enum) and stream names as tables. A job's results file and
// `bench --trace-out x.h5` write it alike, and `report` reads it back in chunks (hyperslabs), so
// a trace of any length is read in bounded memory.
#pragma once

#include <hdf5.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "runner/io/hdf5_handles.h"
#include "runner/io/trace_log.h"

namespace hs {

// Makes an empty /trace in `file`: its columns, kind_names, stream_names and count = 0.
void create_trace_group(hid_t file);
// Writes `rows` as /trace rows [first, first + rows.size()), growing the columns to hold them.
// The count attribute is the caller's to set once the rows are there (set_trace_count).
void append_trace_rows(hid_t file, int64_t first, const std::vector<TraceRow>& rows);
void set_trace_count(hid_t file, int64_t rows);

// A trace file of its own (`bench --trace-out x.h5`): /trace holding `rows` and /meta with the
// given string attributes (docs/OUTPUT.md). Written aside and renamed over `path`.
void write_trace_file(const std::string& path, const std::vector<TraceRow>& rows,
                      const std::vector<std::pair<std::string, std::string>>& meta);

// Reads an open file's /trace. Kinds and streams are mapped by their names in the file, so a
// file whose enum lists them in another order reads right; an unknown name is an error.
class TraceH5Reader {
 public:
  // `path` names the file in errors. Throws hs::Error when /trace or one of its columns is
  // missing or of the wrong shape.
  TraceH5Reader(hid_t file, const std::string& path);

  // Rows the file holds: /trace's count attribute (rows of the last checkpoint; a column may be
  // longer while a checkpoint is being written), bounded by the columns' length.
  int64_t rows() const { return rows_; }
  // Reads rows [first, first + count) into `out` (replacing its contents).
  void read(int64_t first, int64_t count, std::vector<TraceRow>& out) const;

 private:
  void read_column(size_t column, hid_t mem_type, int64_t first, int64_t count, void* out) const;

  std::string path_;
  H5Id group_;
  std::vector<H5Id> columns_;         // in the order of kColumns (trace_h5.cpp)
  H5Id kind_type_;                    // the file's kind enum, read as stored (one byte a value)
  std::vector<int> kind_of_value_;    // enum value -> TraceKind, -1 unknown
  std::vector<int> stream_of_index_;  // the file's stream index -> hs::Stream
  int64_t rows_ = 0;
};

}  // namespace hs

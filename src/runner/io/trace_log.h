// The job's trace sidecar (OUT.trace): the engine's trace events of every journaled work unit,
// from every rank, as fixed-size binary rows appended by the coordinator. Trace volume can reach
// millions of rows per unit on a large model, so it stays out of the journal and out of memory;
// the HDF5 writer copies it into /trace in chunks.
//
// Consistency with the journal: a unit's rows are appended BEFORE its journal record, and the
// record stores the row count after them (trace_rows_end). On resume the file is cut back to
// the last journaled unit's count, so rows of a unit that is recomputed are not duplicated.
// The file is not fsync'd per unit: after a power loss it may hold fewer rows than the journal
// says, which loses trace rows (diagnostics) but never a result.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "engine/trace.h"
#include "runner/io/posix_file.h"

namespace hs {

struct TraceRow {
  TraceEvent event;
  int32_t rank = 0;
  int32_t session = 0;
  int64_t unit = 0;
};

class TraceLog {
 public:
  static constexpr size_t kRowBytes = 64;

  // Opens (creating if needed) and keeps only the first `keep_rows` rows; rows beyond the file's
  // end are simply not there (see above).
  TraceLog(const std::string& path, int64_t keep_rows);

  void append(const std::vector<TraceRow>& rows);
  int64_t rows() const { return rows_; }
  const std::string& path() const { return file_.path(); }

  // Calls fn with consecutive chunks of at most chunk_rows rows, [first, rows) in order.
  static void read(const std::string& path, int64_t first, int64_t rows, int64_t chunk_rows,
                   const std::function<void(const std::vector<TraceRow>&)>& fn);

 private:
  PosixFile file_;
  int64_t rows_ = 0;
};

}  // namespace hs

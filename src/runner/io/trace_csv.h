// The trace as CSV, as `bench --trace-out F.csv` writes it: a header line, then one line per
// event, `step,layer,mini_batch,kind,bytes,start_ms,end_ms,stream` (kind by name, stream by
// index, times in ms to the microsecond). The reader also takes the optional columns rank,
// session and unit (0 when absent), columns in any order, kinds and streams by name or number.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "engine/trace.h"
#include "runner/io/trace_log.h"

namespace hs {

void write_trace_csv(const std::string& path, const std::vector<TraceEvent>& events);

// Calls fn with consecutive chunks of at most chunk_rows rows, in file order (blank lines are
// skipped, so row i is the i-th event line). Throws hs::Error naming the file and line of a
// malformed line, or the file when it cannot be read or has no header.
void read_trace_csv(const std::string& path, int64_t chunk_rows,
                    const std::function<void(const std::vector<TraceRow>&)>& fn);

// Whether `first_line` is the header of a trace CSV (it names the required columns).
bool is_trace_csv_header(const std::string& first_line);

}  // namespace hs

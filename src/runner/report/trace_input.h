// A trace to report on, whichever file holds it: a job's results file (.h5 with /trace, /meta
// and /requests), a bench trace (`bench --trace-out x.h5`: /trace and /meta with the plan and
// bench's measurements) or a bench CSV (`bench --trace-out x.csv`: events only). The trace is
// read in chunks of rows, so memory does not grow with its length.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "runner/io/trace_log.h"

namespace hs {

// What the file says about the run beside its trace. JSON fields are null where it says nothing.
struct RunInfo {
  std::string path;
  std::string format;           // "results" (a job's .h5), "bench-h5", "bench-csv"
  int64_t trace_rows = -1;      // -1: not known before reading (CSV)
  nlohmann::json plan;          // /meta plan (plan/plan_json.h)
  nlohmann::json model_config;  // /meta model_config (config.json)
  nlohmann::json hardware;      // /meta hardware: a list, one entry per rank
  nlohmann::json bench;         // /meta bench: what `bench --json` prints
  std::string model_shape;      // /meta model_shape (bench)
  std::string command_line, version, start_time, end_time;
  int64_t sessions = 0;
};

// Per rank, from /requests.
struct RankRequests {
  int64_t requests = 0, ok = 0, output_tokens = 0, units = 0;
  double compute_ms = 0;  // the rank's time generating its units
};

// /requests of a results file, summed.
struct RequestSummary {
  int64_t total = 0, ok = 0, errors = 0, pending = 0;
  int64_t prompt_tokens = 0, output_tokens = 0;  // of the ok rows
  // Per session, from the first unit handed out to the last result back (rank 0's clock),
  // summed over sessions: the job's time, time between sessions left out.
  double wall_ms = 0;
  std::map<int32_t, RankRequests> ranks;
};

class TraceInput {
 public:
  // Opens `path` and reads what it says about the run. Throws hs::Error naming the file when it
  // is missing, unreadable, neither HDF5 nor a trace CSV, or an HDF5 file without /trace.
  explicit TraceInput(const std::string& path);
  ~TraceInput();
  TraceInput(const TraceInput&) = delete;
  TraceInput& operator=(const TraceInput&) = delete;

  const RunInfo& info() const { return info_; }
  // A results file's /requests, read in chunks; nullopt for a bench trace.
  std::optional<RequestSummary> requests() const;
  // Calls fn(first_row, rows) for consecutive chunks of at most chunk_rows rows, in file order;
  // rows[i] is trace row first_row + i.
  void read(int64_t chunk_rows,
            const std::function<void(int64_t, const std::vector<TraceRow>&)>& fn) const;

 private:
  struct Hdf5;
  RunInfo info_;
  std::unique_ptr<Hdf5> h5_;  // null for a CSV
};

}  // namespace hs

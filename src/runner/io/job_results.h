// A row of a job's results (one dataset line and its result) and the run's metadata: what the
// coordinator hands to the results file (runner/io/results_sink.h).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "runner/job/work_unit.h"

namespace hs {

// One finished request: its dataset line and its result (ok, or an error).
struct RequestRecord {
  int64_t row = 0;                         // 0-based among the dataset's non-blank lines
  int64_t line = 0;                        // 1-based line in the input file
  std::string id;                          // "" when the line had no usable id
  std::vector<int32_t> prompt_ids;         // empty for lines that failed to parse
  std::optional<std::string> prompt_text;  // when the line gave a text prompt
  bool chat = false;                       // a chat row: an OpenAI line gets a chat completion
  bool ok = false;
  std::string error;  // when not ok: "line N: ..." or the generation error
  std::vector<int32_t> output_ids;
  std::string finish_reason;        // "eos", "length", "stop" (ok results)
  std::optional<std::string> text;  // decoded output, when the model has a tokenizer
  // Milliseconds since the Unix epoch on the coordinator's clock: when the request's work unit
  // was handed to a rank, and when its results came back (0 for lines that failed to parse).
  double start_ms = 0, end_ms = 0;
  double compute_ms = 0;  // the rank's time generating the whole work unit
  int32_t rank = -1;      // which rank generated it (-1: never ran)
  int64_t unit = -1;      // work unit index within its session
  int32_t session = -1;   // 0 for the first run of the job, +1 per --resume
};

// Run metadata, written to /meta of an HDF5 file. Strings hold JSON where they say so.
struct JobMeta {
  std::string command_line;
  std::string job_config;    // the effective options, TOML (what --config accepts)
  std::string model_config;  // config.json text
  std::string plan;          // the engine's plan, JSON (empty if the engine has none)
  std::string hardware;      // JSON array, per rank: rank, host, cpu, device
  std::string fingerprint;   // JSON (runner/job/fingerprint.h)
  std::string version;
  std::string start_time, end_time;  // ISO 8601 UTC, of this session
  std::string first_start_time;      // of the job's first session
  int32_t sessions = 1;
  bool complete = false;  // every request has a result
  int64_t requests_total = 0, requests_done = 0;
};

// The row of a journaled result (its input from the journal record, runner/job/work_unit.h).
RequestRecord record_of(const UnitResult& u, const RequestResult& q);

}  // namespace hs

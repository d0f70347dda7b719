// What a job has produced so far, in input order: one record per dataset line (finished or not),
// the run metadata, and where the trace rows are. The coordinator fills it; the JSONL and HDF5
// writers turn it into a results file.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "runner/work_unit.h"

namespace hs {

// One request: its dataset line, and its result once it has one (done).
struct RequestRecord {
  int64_t line = 0;                        // 1-based line in the input file
  std::string id;                          // "" when the line had no usable id
  std::vector<int32_t> prompt_ids;         // empty for lines that failed to parse
  std::optional<std::string> prompt_text;  // when the line gave a text prompt
  int64_t max_new_tokens = 0;
  RequestOptions options;  // what its line set over the job's options
  bool openai = false;     // an OpenAI batch line: its result is a batch output line

  bool done = false;  // has a result (ok or error)
  bool ok = false;
  std::string error;  // when done and not ok: "line N: ..." or the generation error
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
  std::string fingerprint;   // JSON (runner/fingerprint.h)
  std::string version;
  std::string start_time, end_time;  // ISO 8601 UTC, of this session
  std::string first_start_time;      // of the job's first session
  int32_t sessions = 1;
  bool complete = false;  // every request has a result
};

struct JobResults {
  std::vector<RequestRecord> rows;
  JobMeta meta;
  bool has_text = false;   // a tokenizer decoded the outputs
  std::string model_name;  // the model as OpenAI batch output lines name it (its folder's name)
  std::string trace_path;  // the trace sidecar (runner/trace_log.h); "" when none
  int64_t trace_rows = 0;  // rows of it that belong to journaled units
  // Copy the trace into the results file. Off for periodic checkpoints: a large model's trace
  // reaches GBs, too much to rewrite every few minutes; the final file always has it.
  bool write_trace = true;

  int64_t done_count() const;

  // Counts of what apply() recorded.
  struct Applied {
    int64_t requests = 0, failed = 0, generated_tokens = 0;
    int64_t already_done = 0;  // results for rows that had one (ignored: first one wins)
  };
  // Records a unit's results in their rows (from a rank, or replayed from the journal).
  // Throws hs::Error if a result's row does not hold its id (a journal of another input).
  Applied apply(const UnitResult& r);
};

}  // namespace hs

// Opening a job's output side before any work: the output path's format and directory, the
// rules for existing files, and the journal, created fresh or, with --resume, checked against
// this job's fingerprint and replayed.
//
// Existing files are never lost: without --resume or --overwrite an existing output or journal
// is refused; --resume refuses a journal of another job (naming what differs) and an output
// without its journal; --overwrite discards the old journal, while the old output stays until
// the first checkpoint replaces it.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "runner/io/journal.h"
#include "runner/io/output_file.h"
#include "runner/io/trace_log.h"
#include "runner/job/work_unit.h"

namespace hs {

struct JobOutput {
  OutputPaths paths;
  std::unique_ptr<Journal> journal;  // open for appending, this session's record on disk
  std::unique_ptr<TraceLog> trace;
  int32_t session = 0;           // 0: a fresh job
  int64_t replayed_units = 0;    // unit records of earlier sessions (replay_units() reads them)
  std::string first_start_time;  // of session 0
  std::string journal_note;      // e.g. a dropped torn record, for the log ("" if none)
  // Units the last session handed out and never got results for (a rank or the job died with
  // them), as log lines naming the session, unit, rank, host and lines.
  std::vector<std::string> lost_units;
};

struct JobOutputRequest {
  std::string output;
  bool resume = false, overwrite = false;
  nlohmann::json fingerprint;  // this run's (runner/job/fingerprint.h)
  std::string command_line;    // recorded in the session record
  std::string start_time;      // ISO 8601
  int ranks = 1;
};

// Throws hs::Error with the reason (and what to do) when the output cannot be used.
JobOutput open_job_output(const JobOutputRequest& req);

// Calls fn with each unit record of the journal at `path`, in order, one at a time (a job's
// journal holds every result: it is never read into memory whole).
void replay_units(const std::string& path, const std::function<void(UnitResult&&)>& fn);

// What the unit records of a journal say is done: the first result of a row wins; with
// retry_failed, failed results do not count and the smallest of their rows is kept (the results
// file is rewritten from there). A result's row must be below max_rows (an upper bound of the
// input's rows, known before the input is read): a journal claiming a row past it is refused
// with an hs::Error naming the journal, not followed by a bit vector of that size.
struct DoneRows {
  std::vector<bool> done;      // done[row]: the row has a result; sized to the largest such row + 1
  int64_t results = 0;         // rows with a result (the requests a resumed run skips)
  int64_t ok = 0, failed = 0;  // of them
  int64_t first_retried = -1;  // the smallest row of a dropped failed result (-1: none)
};
DoneRows replay_done_rows(const std::string& journal, bool retry_failed, int64_t max_rows);

// Checks that the output's directory exists and is writable, before anything else.
void check_output_location(const std::string& output);

// The checks of open_job_output() that need no journal replay and change nothing: the name,
// the directory, and the rules for existing files. For failing fast, before the dataset is read.
void check_output_rules(const std::string& output, bool resume, bool overwrite);

}  // namespace hs

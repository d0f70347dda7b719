// The results file of a job, written as rows finish: one row per dataset line, in input order,
// each written once at its place (HDF5) or appended once the rows before it are there (JSONL).
// A checkpoint costs the rows finished since the last one, never a rewrite of earlier rows, and
// leaves a complete, readable file; between checkpoints the file is closed.
//
// The journal (runner/io/journal.h) stays the truth: a unit's rows reach the file only after its
// journal record, and a resumed job restores into the file whatever the journal holds and the
// file does not (missing()). A file that cannot be continued (lost, another job's, a layout of an
// older version, unreadable after a crash inside a checkpoint's write) is made again from the
// journal, once.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "runner/io/job_results.h"
#include "runner/io/output_file.h"

namespace hs {

struct ResultsLayout {
  int64_t total = 0;       // rows: the dataset's non-blank lines
  bool has_text = false;   // text and prompt_text columns (the model has a tokenizer)
  bool openai = false;     // an OpenAI batch file: JSONL rows in the batch output format
  std::string model_name;  // as OpenAI batch output lines name it
  std::string
      fingerprint;  // the job's (runner/job/fingerprint.h): a file of another job is not kept
  std::string trace_path;  // the trace sidecar (runner/io/trace_log.h); "" keeps no trace
};

class ResultsSink {
 public:
  // Opens the results file of OUT: with `resume`, the file an earlier session wrote when it
  // can be continued (`note` then says so, or why it is made again); otherwise a new, empty file
  // (written aside and renamed over OUT, so a start never leaves a broken one).
  // `meta` is what a new file's /meta says until the first checkpoint.
  static std::unique_ptr<ResultsSink> open(const OutputPaths& paths, const ResultsLayout& layout,
                                           const JobMeta& meta, bool resume, std::string* note);
  virtual ~ResultsSink() = default;

  // Whether the result of `row`, from the journal's unit record number `journal_unit` (0-based
  // over the whole journal), is missing from the file, so a resume must add() it again.
  virtual bool missing(int64_t journal_unit, int64_t row) const = 0;
  // Rows from `row` on will be added again (--retry-failed): a file that cannot overwrite rows
  // in place (JSONL) drops them now.
  virtual void rewrite_from(int64_t row) = 0;
  // A finished row. It reaches the file at the next checkpoint, or earlier when the rows
  // waiting would pass the write buffer's bound (a partial write the next checkpoint completes).
  virtual void add(RequestRecord r) = 0;
  // Writes what was added, the trace sidecar's rows up to `trace_rows` and the metadata.
  // journal_units: unit records in the journal, every one of whose rows was added.
  virtual void checkpoint(const JobMeta& meta, int64_t journal_units, int64_t trace_rows) = 0;

  virtual int64_t rows_in_file() const = 0;  // rows with a result in the file
};

}  // namespace hs

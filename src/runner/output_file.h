// The results file of a job and the files beside it:
//   OUT          the results (.jsonl or .h5 / .hdf5), rewritten whole at each checkpoint
//   OUT.journal  the durable record of finished requests (runner/journal.h)
//   OUT.trace    the trace sidecar (runner/trace_log.h)
//   OUT.tmp      the next version of OUT while it is being written
// OUT only ever changes by rename of a complete, fsync'd OUT.tmp, so a crash at any point
// leaves the previous version (or none), never a half-written file.
#pragma once

#include <string>

#include "runner/job_results.h"

namespace hs {

enum class OutputFormat { jsonl, hdf5 };

struct OutputPaths {
  std::string output, journal, trace, tmp;
  OutputFormat format = OutputFormat::jsonl;
};

// From the output path's extension; throws hs::Error naming the accepted ones.
OutputPaths output_paths(const std::string& output);

// Writes OUT.tmp in the format and renames it over OUT (runner/posix_file.h replace_file).
void write_results_file(const OutputPaths& paths, const JobResults& results);

}  // namespace hs

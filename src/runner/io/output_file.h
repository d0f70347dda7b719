// The results file of a job and the files beside it:
//   OUT          the results (.jsonl or .h5 / .hdf5), rows added at each checkpoint
//                (runner/io/results_sink.h)
//   OUT.journal  the durable record of finished requests (runner/io/journal.h)
//   OUT.trace    the trace sidecar (runner/io/trace_log.h)
//   OUT.tmp      a new OUT while it is being made (renamed over OUT once complete)
#pragma once

#include <string>

namespace hs {

enum class OutputFormat { jsonl, hdf5 };

struct OutputPaths {
  std::string output, journal, trace, tmp;
  OutputFormat format = OutputFormat::jsonl;
};

// From the output path's extension; throws hs::Error naming the accepted ones.
OutputPaths output_paths(const std::string& output);

}  // namespace hs

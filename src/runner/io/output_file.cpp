#include "runner/io/output_file.h"

#include "runner/io/hdf5_writer.h"
#include "runner/io/jsonl_writer.h"
#include "runner/io/results_sink.h"
#include "util/error.h"

namespace hs {
namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

OutputPaths output_paths(const std::string& output) {
  OutputPaths p;
  p.output = output;
  p.journal = output + ".journal";
  p.trace = output + ".trace";
  p.tmp = output + ".tmp";
  if (ends_with(output, ".jsonl"))
    p.format = OutputFormat::jsonl;
  else if (ends_with(output, ".h5") || ends_with(output, ".hdf5"))
    p.format = OutputFormat::hdf5;
  else
    fail("--output '", output, "': the name must end in .jsonl (JSON lines) or .h5 / .hdf5 (HDF5)");
  return p;
}

std::unique_ptr<ResultsSink> ResultsSink::open(const OutputPaths& paths,
                                               const ResultsLayout& layout, const JobMeta& meta,
                                               bool resume, std::string* note) {
  if (paths.format == OutputFormat::hdf5)
    return open_hdf5_results(paths, layout, meta, resume, note);
  return open_jsonl_results(paths, layout, resume, note);
}

}  // namespace hs

// The HDF5 results file: /requests (one row per input line, in input order, columns as 1-D
// datasets of the input's row count, token ids as variable-length arrays), /trace (the engine's
// events from every rank, appended) and /meta (run metadata as attributes). The schema is
// documented in docs/OUTPUT.md. Written by rank 0 alone with the default (serial) driver.
//
// /requests is made whole when the job starts (contiguous storage, allocated then), so a
// checkpoint writes the new rows' bytes in place and changes no dataset's structure; /trace
// grows (chunked, extendible). The file is closed between checkpoints, so readers can open it.
#pragma once

#include <memory>
#include <string>

#include "runner/io/results_sink.h"

namespace hs {

std::unique_ptr<ResultsSink> open_hdf5_results(const OutputPaths& paths, const ResultsLayout& l,
                                               const JobMeta& meta, bool resume, std::string* note);

}  // namespace hs

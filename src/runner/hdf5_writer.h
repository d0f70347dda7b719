// The HDF5 results file: /requests (one row per finished request, input order, columns as 1-D
// datasets; token ids ragged as flat arrays + offsets), /trace (the engine's events from every
// rank) and /meta (run metadata as attributes). The schema is documented in docs/OUTPUT.md.
// Written by rank 0 alone with the default (serial) driver: the results are gathered there.
#pragma once

#include <string>

#include "runner/job_results.h"

namespace hs {

// Writes `results` to `path` (created or truncated). Not atomic by itself: see
// write_results_file() in runner/output_file.h.
void write_results_hdf5(const std::string& path, const JobResults& results);

}  // namespace hs

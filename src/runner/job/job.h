// A batch job, start to end: `hybridserve run` builds the options and the engine factory, this
// runs them on every rank. Rank 0 checks the output, journal and resume state before any work,
// reads the dataset, then coordinates (main thread) and computes (a worker thread); the other
// ranks compute. One process without an MPI launcher is a job of one rank, same code path.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "engine/sampler.h"
#include "runner/job/worker.h"

namespace hs {

struct JobOptions {
  std::string model_dir, input, output;
  int64_t max_new_tokens = 32;
  // Requests per work unit (what a rank's engine runs at once); 0: auto, each rank's engine
  // batch as its planner chose it (plan/batch_choice.h).
  int64_t batch_size = 0;
  SamplingParams sampling;
  std::vector<std::string> stop;
  // The system message of "messages" rows that have none ("" : the chat template's default).
  std::string system;
  // --weight-format and --weight-group: a lossy format changes the tokens, so it is part of
  // the job (its fingerprint) unless native.
  std::string weight_format = "native";
  int64_t weight_group = 64;
  std::string cache_format = "native";  // --cache-format and --cache-group, likewise
  int64_t cache_group = 64;
  bool resume = false;        // continue the job whose journal is beside the output
  bool overwrite = false;     // discard an existing output and journal
  bool retry_failed = false;  // with resume: recompute requests whose generation failed
  double checkpoint_s = 600;  // add finished rows to the results file at most this often
  // A shell command run after each checkpoint, the results file complete (e.g. to copy it
  // off the node); "" none. Its failure is logged, not fatal.
  std::string on_checkpoint;
  double progress_s = 30;   // progress line interval when stderr is not a terminal
  bool trace = true;        // keep the engine's trace (OUT.trace, /trace)
  std::string config_toml;  // the effective options (for /meta job_config)
  // Checks what the job asks of a rank's place (its node's ranks) on every rank, once MPI has
  // started and before any file is opened; throws hs::Error saying what to change. Optional.
  std::function<void(const RankPlace&)> check_place;
};

// Throws hs::Error for anything the user can fix (options, files, a foreign journal, no rank
// left, an interrupt); finished results are in the journal and the results file by then.
void run_job(const JobOptions& o, const EngineFactory& make_engine);

// This process's command line as a shell would show it (arguments with spaces quoted), as /meta
// command_line records it.
std::string process_command_line();

}  // namespace hs

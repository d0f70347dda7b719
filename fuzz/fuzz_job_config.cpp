// Job config files (runner/cli/job_config.h): TOML read by `hybridserve run --config FILE` into
// the real `run` command's options (every option, its type and its checks), then written back
// as TOML the way a job records its config in /meta. Bad input must end in CLI11's ParseError
// (main() prints it with the option's name) or hs::Error; anything else is a finding. The job
// itself is not run: the command is given a function to call instead. Seeds: jobs/*.toml.
#include <unistd.h>

#include <memory>

#include "fuzz_util.h"
#include "runner/cli/commands.h"

// Relative paths in the seeds (model = "tests/models/opt-tiny") are the repository's, so that the
// options' checks (an existing model directory, ...) pass and mutations get past them.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (::chdir(HS_FUZZ_SOURCE_DIR) != 0) hs::fuzz::finding("cannot enter " HS_FUZZ_SOURCE_DIR);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = hs::fuzz::write_file("job.toml", data, size);
  CLI::App app{"fuzz", "hybridserve"};
  app.require_subcommand(1);
  std::string recorded;
  hs::add_run_command(app, [&](const std::string& config) { recorded = config; });
  const char* argv[] = {"hybridserve", "run", "--config", path.c_str()};
  try {
    hs::fuzz::expect_clean_error([&] { app.parse(4, argv); });
  } catch (const CLI::ParseError&) {
    return 0;  // what main() reports: the option and why
  }
  return 0;
}

// The job config file (jobs/*.toml, `hybridserve run --config FILE`): TOML whose keys are the
// long names of `run` options without their dashes (max-new-tokens = 64, stop = ["\n\n"]); the
// command line overrides it. A `[run]` section header is allowed but not needed.
//
// CLI11 2.1 reads config files on the main app only (App::_process_config_file), so --config is
// the main app's option, `run` falls through to it, and this format files bare keys under the
// run subcommand. Unknown keys are errors (a typo must not silently change a job).
#pragma once

#include <CLI/CLI.hpp>

namespace hs {

class JobConfigFormat : public CLI::ConfigTOML {
 public:
  std::vector<CLI::ConfigItem> from_config(std::istream& input) const override;
};

// Installs the format and --config on the main app; `run` is the run subcommand.
void add_job_config_option(CLI::App& app, CLI::App& run);

}  // namespace hs

#include "runner/cli/job_config.h"

#include <memory>

namespace hs {

std::vector<CLI::ConfigItem> JobConfigFormat::from_config(std::istream& input) const {
  std::vector<CLI::ConfigItem> items = CLI::ConfigTOML::from_config(input);
  for (CLI::ConfigItem& item : items)
    if (item.parents.empty()) item.parents = {"run"};
  return items;
}

void add_job_config_option(CLI::App& app, CLI::App& run) {
  app.config_formatter(std::make_shared<JobConfigFormat>());
  app.set_config("--config", "",
                 "Job config file (TOML; keys are `run` options without dashes, e.g. "
                 "max-new-tokens = 64); the command line overrides it");
  app.allow_config_extras(CLI::config_extras_mode::error);
  run.fallthrough();  // `hybridserve run --config FILE` reaches the main app's option
}

}  // namespace hs

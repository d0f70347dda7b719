// The subcommands of the hybridserve executable. Each lives in its own cmd_<name>.cpp, adds its
// options to the app and sets a callback that runs it; errors travel up as hs::Error to main().
#pragma once

#include <functional>
#include <string>

#include <CLI/CLI.hpp>

namespace hs {

// `run`; `instead`, when given, is called with the job's config (as TOML) in place of running
// the job, for checking options and config files without a model (fuzz/fuzz_job_config.cpp).
void add_run_command(CLI::App& app,
                     std::function<void(const std::string& config_toml)> instead = nullptr);
void add_tokenize_command(CLI::App& app);
void add_plan_command(CLI::App& app);
void add_bench_command(CLI::App& app);
void add_perplexity_command(CLI::App& app);
void add_report_command(CLI::App& app);

}  // namespace hs

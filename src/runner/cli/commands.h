// The subcommands of the hybridserve executable. Each lives in its own cmd_<name>.cpp, adds its
// options to the app and sets a callback that runs it; errors travel up as hs::Error to main().
#pragma once

#include <CLI/CLI.hpp>

namespace hs {

void add_run_command(CLI::App& app);
void add_tokenize_command(CLI::App& app);
void add_plan_command(CLI::App& app);
void add_bench_command(CLI::App& app);
void add_perplexity_command(CLI::App& app);
void add_report_command(CLI::App& app);

}  // namespace hs

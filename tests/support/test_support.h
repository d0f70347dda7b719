// Helpers shared by the unit tests: where the test data is, and running the hybridserve binary.
#pragma once

#include <string>
#include <vector>

namespace hs::test {

// Absolute path of a file under tests/ (e.g. data_path("models/opt-tiny")).
std::string data_path(const std::string& relative);

// A fresh empty directory under the system temp folder, removed at process exit.
std::string temp_dir();

// Writes text to a file (creating parent folders).
void write_file(const std::string& path, const std::string& text);
std::string read_file(const std::string& path);

struct CliResult {
  int exit_code;
  std::string out;  // stdout
  std::string err;  // stderr
};

// Runs the built hybridserve binary with the given arguments (no shell quoting needed).
CliResult run_cli(const std::vector<std::string>& args, const std::string& stdin_text = "");

}  // namespace hs::test

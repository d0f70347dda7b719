// `hybridserve run --policy X` end to end, for every policy: the tokens in the output file are
// Hugging Face's (tests/goldens), and the run prints its time by phase.
#include <gtest/gtest.h>

#include <map>
#include <sstream>

#include <nlohmann/json.hpp>

#include "goldens.h"
#include "test_support.h"

namespace hs {
namespace {

struct Dataset {
  test::Golden golden;
  std::string input;
};

Dataset write_dataset(const std::string& model) {
  Dataset d{test::load_golden(model), test::temp_dir() + "/in.jsonl"};
  std::string text;
  for (size_t i = 0; i < d.golden.cases.size(); ++i)
    text += nlohmann::json{{"id", "c" + std::to_string(i)}, {"input_ids", d.golden.cases[i].prompt}}
                .dump() +
            "\n";
  test::write_file(d.input, text);
  return d;
}

// Output ids by request id, from a .jsonl results file.
std::map<std::string, std::vector<int32_t>> read_outputs(const std::string& path) {
  std::map<std::string, std::vector<int32_t>> out;
  std::istringstream lines(test::read_file(path));
  for (std::string line; std::getline(lines, line);) {
    if (line.empty()) continue;
    const auto j = nlohmann::json::parse(line);
    EXPECT_EQ(j.at("status"), "ok") << line;
    out[j.at("id").get<std::string>()] = j.at("output_ids").get<std::vector<int32_t>>();
  }
  return out;
}

class RunPolicy : public ::testing::TestWithParam<std::vector<std::string>> {};

TEST_P(RunPolicy, OutputsEqualTheGoldens) {
  for (const std::string model : {"opt-postln-proj", "llama-gqa"}) {
    const Dataset d = write_dataset(model);
    const std::string out = test::temp_dir() + "/out.jsonl";
    std::vector<std::string> args = {"run",
                                     "--model",
                                     test::data_path("models/" + model),
                                     "--input",
                                     d.input,
                                     "--output",
                                     out,
                                     "--max-new-tokens",
                                     std::to_string(d.golden.max_new_tokens),
                                     "--batch-size",
                                     "8",
                                     "--block-tokens",
                                     "4"};
    args.insert(args.end(), GetParam().begin(), GetParam().end());
    const test::CliResult r = test::run_cli(args);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto outputs = read_outputs(out);
    ASSERT_EQ(outputs.size(), d.golden.cases.size());
    for (size_t i = 0; i < d.golden.cases.size(); ++i)
      EXPECT_EQ(outputs.at("c" + std::to_string(i)), d.golden.cases[i].greedy)
          << model << " case " << i;
    if (GetParam().empty() || GetParam().back() != "reference") {
      EXPECT_NE(r.err.find("time by phase"), std::string::npos) << r.err;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Policies, RunPolicy,
    ::testing::Values(std::vector<std::string>{"--policy", "kv"},
                      std::vector<std::string>{"--policy", "act"},
                      std::vector<std::string>{"--policy", "hybrid"},
                      std::vector<std::string>{"--policy", "hybrid", "--act-fraction", "0.5"},
                      std::vector<std::string>{"--policy", "recompute-tokens"},
                      std::vector<std::string>{"--policy", "auto"},
                      std::vector<std::string>{},  // auto by default
                      std::vector<std::string>{"--gpu-mem-gib", "2", "--host-mem-gib", "1"},
                      std::vector<std::string>{"--engine", "reference"}),
    [](const auto& info) { return "args" + std::to_string(info.index); });

TEST(Run, RefusesAHostBudgetTooSmallWithTheNeededSize) {
  const Dataset d = write_dataset("opt-tiny");
  const test::CliResult r = test::run_cli(
      {"run", "--model", test::data_path("models/opt-tiny"), "--input", d.input, "--output",
       test::temp_dir() + "/out.jsonl", "--policy", "kv", "--host-mem-gib", "0.000001"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("GiB of host memory"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace hs

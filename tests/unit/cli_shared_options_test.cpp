// The options several subcommands take mean the same in each: every command that takes one
// describes it in the same words (runner/cli/shared_options.h), and each command still takes
// the ones it always took.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "runner/cli/commands.h"

namespace hs {
namespace {

TEST(CliSharedOptions, EveryCommandDescribesASharedOptionInTheSameWords) {
  CLI::App app;
  add_run_command(app);
  add_plan_command(app);
  add_bench_command(app);
  const std::map<std::string, std::vector<std::string>> takes = {
      {"--policy", {"run", "plan", "bench"}},
      {"--act-fraction", {"run", "plan", "bench"}},
      {"--gpu-mem-gib", {"run", "plan", "bench"}},
      {"--host-mem-gib", {"run", "plan", "bench"}},
      {"--block-tokens", {"run", "plan", "bench"}},
      {"--device", {"run", "plan", "bench"}},
      {"--mini-batch-size", {"plan", "bench"}},
      {"--host-sets", {"plan", "bench"}},
      {"--dtype", {"plan", "bench"}},
      {"--model-shape", {"plan", "bench"}},
      {"--prompt-len", {"plan", "bench"}},
      {"--gen-len", {"plan", "bench"}},
      {"--json", {"plan", "bench"}},
      {"--model", {"run", "plan"}},
      {"--share-weights", {"run", "plan"}},
  };
  for (const auto& [option, commands] : takes) {
    std::string first;
    for (const std::string& cmd : commands) {
      const CLI::Option* o = app.get_subcommand(cmd)->get_option_no_throw(option);
      ASSERT_NE(o, nullptr) << cmd << " lacks " << option;
      if (first.empty()) first = o->get_description();
      EXPECT_EQ(o->get_description(), first) << option << " in " << cmd;
    }
    EXPECT_FALSE(first.empty()) << option;
  }
}

// Defaults are each command's own where they were: run computes on the cpu unless told, plan
// and bench are for a GPU.
TEST(CliSharedOptions, EachCommandKeepsItsDefaultDevice) {
  CLI::App app;
  add_run_command(app);
  add_plan_command(app);
  add_bench_command(app);
  EXPECT_EQ(app.get_subcommand("run")->get_option("--device")->get_default_str(), "cpu");
  EXPECT_EQ(app.get_subcommand("plan")->get_option("--device")->get_default_str(), "cuda");
  EXPECT_EQ(app.get_subcommand("bench")->get_option("--device")->get_default_str(), "cuda");
}

}  // namespace
}  // namespace hs

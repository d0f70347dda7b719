// A prompt with invalid UTF-8 is a per-request error through `hybridserve run`; the other
// requests of the job still complete (issue: untrusted datasets never abort a job).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "test_support.h"

namespace hs {
namespace {

TEST(RunText, InvalidUtf8PromptIsAPerRequestError) {
  const std::string dir = test::temp_dir();
  const std::string in = dir + "/in.jsonl", out = dir + "/out.jsonl";
  test::write_file(in,
                   "{\"id\": \"good\", \"prompt\": \"Hello world\"}\n"
                   "{\"id\": \"bad\", \"prompt\": \"caf\xc3 \xff end\"}\n"
                   "{\"id\": \"good2\", \"prompt\": \"Another prompt\"}\n");
  auto r = test::run_cli({"run", "--model", test::data_path("models/demo-opt"), "--input", in,
                          "--output", out, "--max-new-tokens", "3"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::istringstream lines(test::read_file(out));
  std::string line;
  std::vector<nlohmann::json> rows;
  while (std::getline(lines, line)) rows.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0]["status"], "ok");
  EXPECT_EQ(rows[1]["status"], "error");
  const std::string err = rows[1]["error"].get<std::string>();
  EXPECT_EQ(err.rfind("line 2: ", 0), 0u) << err;
  EXPECT_TRUE(err.find("UTF-8") != std::string::npos) << err;
  EXPECT_EQ(rows[2]["status"], "ok");
  EXPECT_FALSE(rows[2]["text"].get<std::string>().empty());
}

}  // namespace
}  // namespace hs

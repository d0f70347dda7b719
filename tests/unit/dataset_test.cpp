// Reading JSONL datasets: good lines in every accepted form, and each kind of bad line turned
// into a failed entry that names its line, never an exception that would stop the job.
#include <gtest/gtest.h>

#include "model/config.h"
#include "runner/dataset.h"
#include "test_support.h"
#include "util/error.h"

namespace hs {
namespace {

ModelConfig tiny() {
  ModelConfig c;
  c.vocab_size = 100;
  c.max_positions = 8;
  return c;
}

TEST(Dataset, AcceptedForms) {
  const ModelConfig c = tiny();
  DatasetOptions o;
  o.model = &c;
  o.encode = [](const std::string& text) {
    return std::vector<int32_t>(text.size(), 7);  // one token per byte
  };
  DatasetEntry a = parse_dataset_line(R"({"id": "a", "input_ids": [1, 2, 99]})", 3, o);
  EXPECT_TRUE(a.ok()) << a.error;
  EXPECT_EQ(*a.id, "a");
  EXPECT_EQ(a.input_ids, (std::vector<int32_t>{1, 2, 99}));
  EXPECT_EQ(a.line, 3);
  DatasetEntry b = parse_dataset_line(R"({"id": 42, "prompt": "abc", "max_new_tokens": 5})", 4, o);
  EXPECT_TRUE(b.ok()) << b.error;
  EXPECT_EQ(*b.id, "42");
  EXPECT_EQ(*b.prompt, "abc");
  EXPECT_EQ(b.input_ids.size(), 3u);
  EXPECT_EQ(*b.max_new_tokens, 5);
}

TEST(Dataset, BadLinesNameTheirLineAndReason) {
  const ModelConfig c = tiny();
  DatasetOptions o;
  o.model = &c;
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"id": "a", "input_ids": [1,)", "line 9: not valid JSON"},
      {R"([1, 2])", "line 9: expected a JSON object"},
      {R"({"input_ids": [1]})", "line 9: missing 'id'"},
      {R"({"id": "", "input_ids": [1]})", "line 9: 'id' is empty"},
      {R"({"id": 1.5, "input_ids": [1]})", "line 9: 'id' must be a string or an integer"},
      {R"({"id": "a"})", "line 9: give exactly one of 'input_ids' or 'prompt'"},
      {R"({"id": "a", "input_ids": [1], "prompt": "x"})", "line 9: give exactly one of"},
      {R"({"id": "a", "input_ids": []})", "line 9: empty prompt"},
      {R"({"id": "a", "input_ids": [1, "2"]})", "line 9: input_ids[1] is not an integer"},
      {R"({"id": "a", "input_ids": [1, 100]})",
       "line 9: token id 100 at position 1 is outside the vocabulary (0..99)"},
      {R"({"id": "a", "input_ids": [1, 2, 3, 4, 5, 6, 7, 8]})",
       "line 9: prompt of 8 tokens does not fit the model's context of 8 tokens"},
      {R"({"id": "a", "input_ids": [1], "max_new_tokens": -3})",
       "line 9: 'max_new_tokens' must be a non-negative integer"},
      {R"({"id": "a", "prompt": "hi"})", "line 9: 'prompt' needs a tokenizer"},
  };
  for (const auto& [text, want] : cases) {
    DatasetEntry e;
    ASSERT_NO_THROW(e = parse_dataset_line(text, 9, o)) << text;
    EXPECT_FALSE(e.ok()) << text;
    EXPECT_EQ(e.error.rfind(want, 0), 0u) << text << " -> " << e.error;
  }
  o.encode = [](const std::string&) -> std::vector<int32_t> { fail("invalid UTF-8 at byte 2"); };
  EXPECT_EQ(parse_dataset_line(R"({"id": "a", "prompt": "x"})", 2, o).error,
            "line 2: invalid UTF-8 at byte 2");
}

TEST(Dataset, FileBlankLinesCrlfAndDuplicateIds) {
  const std::string path = test::temp_dir() + "/d.jsonl";
  test::write_file(path,
                   "{\"id\": \"a\", \"input_ids\": [1]}\r\n"
                   "\n"
                   "   \n"
                   "{\"id\": \"b\", \"input_ids\": [2]}\n"
                   "{\"id\": \"a\", \"input_ids\": [3]}\n");
  const std::vector<DatasetEntry> e = read_dataset(path, {});
  ASSERT_EQ(e.size(), 3u);
  EXPECT_TRUE(e[0].ok());
  EXPECT_EQ(e[1].line, 4);
  EXPECT_EQ(e[2].error, "line 5: duplicate id 'a' (first on line 1)");
  EXPECT_FALSE(e[2].id.has_value());
  EXPECT_THROW(read_dataset(path + ".missing", {}), Error);
}

}  // namespace
}  // namespace hs

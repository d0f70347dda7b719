// Reading JSONL datasets: good lines in every accepted form, and each kind of bad line turned
// into a failed entry that names its line, never an exception that would stop the job.
#include <gtest/gtest.h>

#include "model/config.h"
#include "runner/io/dataset.h"
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
      {R"({"id": "a"})", "line 9: give exactly one of 'input_ids', 'prompt' or 'messages'"},
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

// OpenAI batch lines (/v1/completions): the custom_id is the id, the body's prompt (text, token
// ids, or a list of one of them), max_tokens, temperature, top_p, seed and stop are the request's.
TEST(Dataset, OpenAiBatchLines) {
  const ModelConfig c = tiny();
  DatasetOptions o;
  o.model = &c;
  o.encode = [](const std::string& text) { return std::vector<int32_t>(text.size(), 7); };
  const std::string head = R"({"custom_id": "r1", "method": "POST", "url": "/v1/completions", )";
  DatasetEntry a = parse_dataset_line(
      head + R"("body": {"model": "m", "prompt": "abc", "max_tokens": 3, "temperature": 0.5,
                "top_p": 0.25, "seed": 9, "stop": "\n", "n": 1, "stream": false,
                "logprobs": null, "frequency_penalty": 0}})",
      5, o);
  ASSERT_TRUE(a.ok()) << a.error;
  EXPECT_TRUE(a.openai);
  EXPECT_EQ(*a.id, "r1");
  EXPECT_EQ(*a.prompt, "abc");
  EXPECT_EQ(a.input_ids.size(), 3u);
  EXPECT_EQ(*a.max_new_tokens, 3);
  EXPECT_EQ(*a.options.temperature, 0.5f);
  EXPECT_EQ(*a.options.top_p, 0.25f);
  EXPECT_EQ(*a.options.seed, 9u);
  EXPECT_EQ(a.options.stop, std::vector<std::string>{"\n"});
  const SamplingParams job{0.f, 40, 1.f, 1};
  const SamplingParams p = a.options.over(job);
  EXPECT_EQ(p.temperature, 0.5f);
  EXPECT_EQ(p.top_k, 40);  // the job's, which the line does not set
  EXPECT_EQ(p.top_p, 0.25f);
  EXPECT_EQ(p.seed, 9u);

  DatasetEntry b = parse_dataset_line(head + R"("body": {"prompt": [4, 5]}})", 6, o);
  ASSERT_TRUE(b.ok()) << b.error;
  EXPECT_EQ(b.input_ids, (std::vector<int32_t>{4, 5}));
  EXPECT_FALSE(b.max_new_tokens);  // the job's --max-new-tokens
  EXPECT_TRUE(b.options.empty());
  DatasetEntry c1 = parse_dataset_line(head + R"("body": {"prompt": [[4, 5, 6]]}})", 7, o);
  EXPECT_EQ(c1.input_ids, (std::vector<int32_t>{4, 5, 6})) << c1.error;
  DatasetEntry c2 = parse_dataset_line(head + R"("body": {"prompt": ["xy"]}})", 7, o);
  EXPECT_EQ(c2.input_ids.size(), 2u) << c2.error;

  const std::vector<std::pair<std::string, std::string>> bad = {
      {R"({"body": {"prompt": "x"}})", "needs a non-empty string 'custom_id'"},
      {R"({"custom_id": 3, "url": "/v1/completions", "body": {"prompt": "x"}})",
       "needs a non-empty string 'custom_id'"},
      {R"({"custom_id": "a", "method": "GET", "url": "/v1/completions", "body": {}})",
       "'method' must be \"POST\""},
      {R"({"custom_id": "a", "url": "/v1/embeddings", "body": {}})",
       "'url' must be \"/v1/completions\" or \"/v1/chat/completions\", not '/v1/embeddings'"},
      {R"({"custom_id": "a", "url": "/v1/chat/completions", "body": {"messages": [{"role":
       "user", "content": "x"}]}})",
       "chat completions (/v1/chat/completions) need the model's chat template"},
      {R"({"custom_id": "a", "url": "/v1/chat/completions", "body": {}})",
       "'body' has no 'messages'"},
      {R"({"custom_id": "a", "url": "/v1/completions"})", "needs a 'body'"},
      {R"({"custom_id": "a", "url": "/v1/completions", "body": {}})", "'body' has no 'prompt'"},
      {R"({"custom_id": "a", "url": "/v1/completions", "body": {"prompt": ["x", "y"]}})",
       "one prompt a line: 'prompt' holds 2"},
      {R"({"custom_id": "a", "url": "/v1/completions", "body": {"prompt": {}}})",
       "'prompt' must be a string, an array of token ids"},
      {R"({"custom_id": "a", "url": "/v1/completions", "body": {"prompt": [1, 200]}})",
       "token id 200 at position 1 is outside the vocabulary"},
      {R"({"custom_id": "a", "url": "/v1/completions", "body": {"prompt": "x", "max_tokens": -1}})",
       "'max_tokens' must be a non-negative integer"},
      {R"({"custom_id": "a", "url": "/v1/completions", "body": {"prompt": "x", "temperature": -1}})",
       "'temperature' must be >= 0"},
      {R"({"custom_id": "a", "url": "/v1/completions", "body": {"prompt": "x", "top_p": 0}})",
       "'top_p' must be in (0, 1]"},
      {R"({"custom_id": "a", "url": "/v1/completions", "body": {"prompt": "x", "seed": "1"}})",
       "'seed' must be a non-negative integer"},
      {R"({"custom_id": "a", "url": "/v1/completions", "body": {"prompt": "x", "stop": ["a", "b", "c", "d", "e"]}})",
       "'stop' must be a string or an array of up to 4 strings"},
      {R"({"custom_id": "a", "url": "/v1/completions", "body": {"prompt": "x", "stop": [""]}})",
       "'stop' strings must be non-empty"},
      {R"({"custom_id": "a", "url": "/v1/completions", "body": {"prompt": "x", "n": 2}})",
       "'n' must be 1"},
      {R"({"custom_id": "a", "url": "/v1/completions", "body": {"prompt": "x", "echo": true}})",
       "'echo' is not supported"},
      {R"({"custom_id": "a", "url": "/v1/completions", "body": {"prompt": "x", "logprobs": 2}})",
       "'logprobs' is not supported"},
      {R"({"custom_id": "a", "url": "/v1/completions", "body": {"prompt": "x", "presence_penalty": 0.5}})",
       "'presence_penalty' is not supported (only 0)"},
  };
  for (const auto& [text, want] : bad) {
    DatasetEntry e;
    ASSERT_NO_THROW(e = parse_dataset_line(text, 9, o)) << text;
    EXPECT_FALSE(e.ok()) << text;
    EXPECT_TRUE(e.openai) << text;
    EXPECT_EQ(e.error.rfind("line 9: ", 0), 0u) << text << " -> " << e.error;
    EXPECT_NE(e.error.find(want), std::string::npos) << text << " -> " << e.error;
  }
  // Stop strings are matched on decoded text: without a tokenizer they cannot be.
  o.encode = nullptr;
  EXPECT_EQ(parse_dataset_line(head + R"("body": {"prompt": [1], "stop": "x"}})", 4, o).error,
            "line 4: 'stop' needs the model's tokenizer (tokenizer.json in the model directory)");
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

TEST(Dataset, SummaryCountsRowsAndLongestPromptAndFindsDuplicatesWithoutKeepingLines) {
  const ModelConfig c = tiny();
  DatasetOptions o;
  o.model = &c;
  o.encode = [](const std::string& text) { return std::vector<int32_t>(text.size(), 7); };
  const std::string path = test::temp_dir() + "/d.jsonl";
  std::string text;
  // 3000 ids (the index grows several times), then one of them again as an integer id, a text
  // prompt, a bad line, and a row that `skip` marks done (its too-long prompt is not checked).
  for (int i = 0; i < 3000; ++i) text += cat("{\"id\": \"", i, "\", \"input_ids\": [1]}\n");
  text += "{\"id\": 17, \"input_ids\": [1, 2]}\n";
  text += "{\"id\": \"t\", \"prompt\": \"hello\", \"max_new_tokens\": 9}\n";
  text += "{\"id\": \"x\", \"input_ids\": [1,\n";
  text += "{\"id\": \"done\", \"input_ids\": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]}\n";
  test::write_file(path, text);
  const DatasetSummary s = summarize_dataset(path, o, [](int64_t row) { return row == 3003; });
  EXPECT_EQ(s.rows, 3004);
  EXPECT_EQ(s.bad_rows, 2);  // the duplicate and the broken line; the done row is not counted
  EXPECT_EQ(s.max_prompt_tokens, 5);  // "hello", one token a byte; the done row is skipped
  EXPECT_EQ(s.max_new_tokens, 9);
  EXPECT_FALSE(s.openai);
  ASSERT_EQ(s.duplicates.size(), 1u);
  EXPECT_EQ(s.duplicates.at(3000), "line 3001: duplicate id '17' (first on line 18)");

  // The reader gives each row in order with the summary's verdicts; a done row is not parsed.
  DatasetReader r(path, o, s);
  DatasetEntry e;
  for (int64_t row = 0; row < 3000; ++row) ASSERT_TRUE(r.next(e, true));
  ASSERT_TRUE(r.next(e, true));
  EXPECT_EQ(e.row, 3000);
  EXPECT_EQ(e.error, "line 3001: duplicate id '17' (first on line 18)");
  ASSERT_TRUE(r.next(e, true));
  EXPECT_EQ(e.input_ids.size(), 5u);
  ASSERT_TRUE(r.next(e, true));
  EXPECT_EQ(e.error, "line 3003: not valid JSON");
  EXPECT_EQ(r.next_row(), 3003);
  ASSERT_TRUE(r.next(e, false));
  EXPECT_EQ(e.line, 3004);
  EXPECT_TRUE(e.input_ids.empty());
  EXPECT_FALSE(r.next(e, true));
}

}  // namespace
}  // namespace hs

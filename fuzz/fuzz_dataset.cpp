// Dataset files (runner/io/dataset.h) read as a job reads them: summarize_dataset() (rows,
// duplicate ids, the longest prompt), then a DatasetReader over the rows. Every line form is
// reachable: "input_ids", "prompt" (tokenized with the LLaMA-3-style test tokenizer), "messages"
// (formatted by a LLaMA-3 chat template) and OpenAI batch lines (/v1/completions and
// /v1/chat/completions bodies). A bad line must become an error row, never an exception.
// Seeds: the lines of datasets/, jobs/data/ and the system tests' OpenAI batch lines.
#include <algorithm>
#include <fstream>
#include <memory>

#include <nlohmann/json.hpp>

#include "fuzz_util.h"
#include "model/chat_template.h"
#include "model/config.h"
#include "model/tokenizer.h"
#include "runner/io/dataset.h"

namespace {

// Meta-Llama-3-8B-Instruct's template (the layout model/chat_template.h reads as LLaMA-3).
const char* kLlama3Template =
    "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = "
    "'<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | "
    "trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}"
    "{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ "
    "'<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}";

// The LLaMA-3-style test tokenizer with the chat template's special tokens it lacks added after
// its vocabulary (the test tokenizer was cut from a larger one without them).
hs::Tokenizer llama3_with_chat_tokens() {
  const std::string dir = HS_FUZZ_DATA_DIR "/tokenizers/llama3-style";
  nlohmann::json doc = nlohmann::json::parse(std::ifstream(dir + "/tokenizer.json"));
  int64_t next = 0;
  for (const auto& [token, id] : doc["model"]["vocab"].items())
    next = std::max<int64_t>(next, id.get<int64_t>() + 1);
  for (const auto& added : doc["added_tokens"])
    next = std::max<int64_t>(next, added["id"].get<int64_t>() + 1);
  for (const std::string special :
       {"<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"}) {
    bool have = false;
    for (const auto& added : doc["added_tokens"]) have = have || added["content"] == special;
    if (!have)
      doc["added_tokens"].push_back({{"id", next++}, {"content", special}, {"special", true}});
  }
  return hs::Tokenizer::from_json(doc, dir);
}

struct Setup {
  hs::Tokenizer tok = llama3_with_chat_tokens();
  hs::ModelConfig model;
  std::unique_ptr<hs::ChatFormat> chat;
  hs::DatasetOptions opt;
  Setup() {
    model.vocab_size = tok.vocab_size();
    model.max_positions = 96;
    chat = std::make_unique<hs::ChatFormat>(
        hs::ChatFormat::from_template(kLlama3Template, tok, "llama3 template"));
    opt.model = &model;
    opt.encode = [this](const std::string& text) { return tok.encode(text, true); };
    opt.chat = [this](const std::vector<hs::ChatMessage>& m, std::string& text) {
      text = chat->format(m, std::nullopt);
      return tok.encode(text, false);
    };
    opt.chat_stop_ids = {chat->end_of_turn_id()};
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Setup setup;
  const std::string path = hs::fuzz::write_file("data.jsonl", data, size);
  hs::fuzz::expect_clean_error(
      [&] {
        const hs::DatasetSummary s =
            hs::summarize_dataset(path, setup.opt, [](int64_t row) { return row % 5 == 4; });
        hs::DatasetReader reader(path, setup.opt, s);
        hs::DatasetEntry e;
        int64_t rows = 0, bad = 0;
        while (reader.next(e, rows % 5 != 4)) {
          if (rows % 5 != 4 && !e.ok()) {
            ++bad;
            if (e.error.rfind("line ", 0) != 0)
              hs::fuzz::finding("an error row does not start with its line: " + e.error);
          }
          ++rows;
        }
        if (rows != s.rows) hs::fuzz::finding("the reader and the summary count other rows");
      },
      "");
  return 0;
}

// Reading a JSONL dataset of requests. Each line is {"id": ..., "input_ids": [..]} or
// {"id": ..., "prompt": "text"}, with an optional "max_new_tokens", or a line of an OpenAI batch
// file: {"custom_id": ..., "method": "POST", "url": "/v1/completions", "body": {"prompt": ...,
// "max_tokens": ..., "temperature": ..., "top_p": ..., "seed": ..., "stop": ...}} (the format
// of the Batch API and `vllm run-batch`). A bad line becomes a failed request carrying "line N:
// reason"; it never stops the job or loses the other lines.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "runner/work_unit.h"

namespace hs {

struct ModelConfig;

struct DatasetEntry {
  int64_t line = 0;                   // 1-based line number in the input file
  std::optional<std::string> id;      // absent only when the line could not be parsed
  std::vector<int32_t> input_ids;     // the prompt, tokenized
  std::optional<std::string> prompt;  // the text, when the line gave one
  std::optional<int64_t> max_new_tokens;
  RequestOptions options;  // what the line sets over the job's options (OpenAI batch lines)
  bool openai = false;     // an OpenAI batch line: its id is the custom_id, its result a
                           // batch output line (runner/jsonl_writer.h)
  std::string error;       // non-empty: this entry failed ("line N: ...")

  bool ok() const { return error.empty(); }
};

struct DatasetOptions {
  const ModelConfig* model = nullptr;  // checks vocabulary and context when given
  // Turns a "prompt" text into ids (throws hs::Error for bad text); empty: prompts are refused.
  std::function<std::vector<int32_t>(const std::string&)> encode;
};

// Parses one line (already without its newline). Never throws for bad content.
DatasetEntry parse_dataset_line(const std::string& text, int64_t line, const DatasetOptions& opt);

// Reads a whole file: one entry per non-blank line, in order; duplicate ids become errors.
// Throws hs::Error only when the file cannot be read at all.
std::vector<DatasetEntry> read_dataset(const std::string& path, const DatasetOptions& opt);

}  // namespace hs

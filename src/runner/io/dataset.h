// Reading a JSONL dataset of requests. Each line is {"id": ..., "input_ids": [..]},
// {"id": ..., "prompt": "text"} or {"id": ..., "messages": [{"role", "content"}, ...]} (formatted
// by the model's chat template), with an optional "max_new_tokens", or a line of an OpenAI batch
// file: {"custom_id": ..., "method": "POST", "url": "/v1/completions", "body": {"prompt": ...,
// "max_tokens": ..., "temperature": ..., "top_p": ..., "seed": ..., "stop": ...}} (the format
// of the Batch API and `vllm run-batch`). A bad line becomes a failed request carrying "line N:
// reason"; it never stops the job or loses the other lines.
//
// A job never holds its dataset: summarize_dataset() reads it once for what the job must know
// up front (rows, the longest prompt, duplicate ids), and a DatasetReader reads it again, line
// by line, as the coordinator forms work units.
#pragma once

#include <cstdint>
#include <fstream>
#include <functional>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "model/chat_template.h"
#include "runner/job/work_unit.h"

namespace hs {

struct ModelConfig;

struct DatasetEntry {
  int64_t row = 0;                    // 0-based among the file's non-blank lines
  int64_t line = 0;                   // 1-based line number in the input file
  std::optional<std::string> id;      // absent only when the line could not be parsed
  std::vector<int32_t> input_ids;     // the prompt, tokenized
  std::optional<std::string> prompt;  // the text, when the line gave one
  std::optional<int64_t> max_new_tokens;
  RequestOptions options;  // what the line sets over the job's options (OpenAI batch lines)
  bool openai = false;     // an OpenAI batch line: its id is the custom_id, its result a
                           // batch output line (runner/io/jsonl_writer.h)
  bool chat = false;       // a chat row ("messages"; an OpenAI line for /v1/chat/completions)
  std::string error;       // non-empty: this entry failed ("line N: ...")

  bool ok() const { return error.empty(); }
};

struct DatasetOptions {
  const ModelConfig* model = nullptr;  // checks vocabulary and context when given
  // Turns a "prompt" text into ids (throws hs::Error for bad text); empty: prompts are refused.
  std::function<std::vector<int32_t>(const std::string&)> encode;
  // Turns chat messages into the prompt's ids and text (the model's chat template; throws
  // hs::Error when it cannot); empty: "messages" rows are refused.
  std::function<std::vector<int32_t>(const std::vector<ChatMessage>&, std::string& text)> chat;
  std::vector<int32_t> chat_stop_ids;  // end a chat row's generation (its end-of-turn token)
  // false: read the line's fields but leave text prompts untokenized and the prompt unchecked
  // (for lines whose results exist already: only their ids matter).
  bool tokenize = true;
};

// Parses one line (already without its newline). Never throws for bad content.
DatasetEntry parse_dataset_line(const std::string& text, int64_t line, const DatasetOptions& opt);

// The non-blank lines of a file, in order, with their line numbers and byte offsets.
// Throws hs::Error when the file cannot be read.
class LineReader {
 public:
  explicit LineReader(const std::string& path);
  // The next non-blank line (without its newline or a trailing CR); false at the end.
  bool next(std::string& text);
  int64_t line() const { return line_; }       // of the line last returned (1-based)
  uint64_t offset() const { return offset_; }  // its first byte
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::ifstream f_;
  int64_t line_ = 0;
  uint64_t offset_ = 0, next_offset_ = 0;
};

// What one pass over a dataset tells the job before any work.
struct DatasetSummary {
  int64_t rows = 0;               // non-blank lines
  int64_t bad_rows = 0;           // rows that fail as input, among those not skipped
  bool openai = false;            // some line is an OpenAI batch line: the output uses its format
  int64_t max_prompt_tokens = 0;  // over the rows not skipped that can run
  int64_t max_new_tokens = 0;     // their largest own max_new_tokens (0 if none sets one)
  // Rows whose id an earlier row has, with their error ("line N: duplicate id ..."). The first
  // row keeps the id: results stay one per id.
  std::unordered_map<int64_t, std::string> duplicates;
};

// Reads the file once (and the lines of duplicate ids again). skip(row): the row has a result
// already; its id still counts for duplicates, but it is not tokenized or checked. Memory: 16
// bytes a line (the ids' hashes and offsets, for duplicates), freed on return; lines are not
// kept.
DatasetSummary summarize_dataset(const std::string& path, const DatasetOptions& opt,
                                 const std::function<bool(int64_t row)>& skip);

// Reads the rows of a summarized file in order, one at a time.
class DatasetReader {
 public:
  DatasetReader(const std::string& path, const DatasetOptions& opt, const DatasetSummary& s);
  // The next row. parse=false returns only its row and line (a row with a result already).
  // False at the end of the file.
  bool next(DatasetEntry& e, bool parse);
  int64_t next_row() const { return row_; }  // the row next() reads

 private:
  LineReader lines_;
  DatasetOptions opt_;
  const DatasetSummary& summary_;
  int64_t row_ = 0;
  std::string text_;
};

// Reads a whole file into memory: one entry per non-blank line, in order; duplicate ids become
// errors. For tests and small files; jobs read with DatasetReader.
std::vector<DatasetEntry> read_dataset(const std::string& path, const DatasetOptions& opt);

}  // namespace hs

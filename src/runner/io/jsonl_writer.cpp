#include "runner/io/jsonl_writer.h"

#include <filesystem>
#include <map>
#include <memory>

#include <nlohmann/json.hpp>

#include "runner/io/posix_file.h"
#include "runner/io/results_sink.h"
#include "util/error.h"

namespace hs {

namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

// A result in the OpenAI batch output format: a completion (status 200) or an error object.
json openai_line(const RequestRecord& r, const std::string& model) {
  const std::string n = std::to_string(r.line);
  json o = {{"id", "batch_req_" + n}, {"custom_id", r.id.empty() ? json(nullptr) : json(r.id)}};
  if (!r.ok) {
    o["response"] = nullptr;
    // A line that never ran was refused as input; one that ran failed in generation.
    o["error"] = {{"code", r.rank >= 0 ? "generation_failed" : "invalid_request"},
                  {"message", r.error}};
    return o;
  }
  const int64_t prompt = static_cast<int64_t>(r.prompt_ids.size()),
                completion = static_cast<int64_t>(r.output_ids.size());
  // A chat completion's answer is a message; a completion's is text.
  json choice = {{"index", 0}};
  if (r.chat)
    choice["message"] = {{"role", "assistant"}, {"content", r.text.value_or("")}};
  else
    choice["text"] = r.text.value_or("");
  choice["token_ids"] = r.output_ids;
  choice["logprobs"] = nullptr;
  choice["finish_reason"] = r.finish_reason == "length" ? "length" : "stop";
  const json body = {{"id", (r.chat ? "chatcmpl-" : "cmpl-") + n},
                     {"object", r.chat ? "chat.completion" : "text_completion"},
                     {"created", static_cast<int64_t>(r.end_ms / 1000)},
                     {"model", model},
                     {"choices", json::array({choice})},
                     {"usage",
                      {{"prompt_tokens", prompt},
                       {"completion_tokens", completion},
                       {"total_tokens", prompt + completion}}}};
  o["response"] = {{"status_code", 200}, {"request_id", "req_" + n}, {"body", body}};
  o["error"] = nullptr;
  return o;
}

// One result line (with its newline) in the file's format.
std::string jsonl_row(const RequestRecord& r, const ResultsLayout& layout) {
  // Decoded text is valid UTF-8 (the tokenizer replaces broken bytes), ids can come from
  // anywhere: never let one odd id abort the file.
  auto text = [](const json& o) {
    return o.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
  };
  if (layout.openai) return text(openai_line(r, layout.model_name));
  json o;
  o["id"] = r.id.empty() ? json(nullptr) : json(r.id);
  o["line"] = r.line;
  o["status"] = r.ok ? "ok" : "error";
  if (r.ok) {
    o["output_ids"] = r.output_ids;
    if (r.text) o["text"] = *r.text;
    o["finish_reason"] = r.finish_reason;
  } else {
    o["error"] = r.error;
  }
  o["prompt_len"] = r.prompt_ids.size();
  o["output_len"] = r.output_ids.size();
  if (r.rank >= 0) {
    o["rank"] = r.rank;
    o["unit"] = r.unit;
    o["session"] = r.session;
    o["start_ms"] = r.start_ms;
    o["end_ms"] = r.end_ms;
    o["compute_ms"] = r.compute_ms;
  }
  return text(o);
}

// The JSONL results: rows are appended in input order, a finished row waiting in memory until
// every row before it is in the file (units are handed out in input order, so what waits is
// about the units in flight).
class JsonlResults : public ResultsSink {
 public:
  JsonlResults(const OutputPaths& paths, const ResultsLayout& layout, bool resume,
               std::string* note)
      : paths_(paths), layout_(layout) {
    std::error_code ec;
    if (resume && fs::exists(paths.output, ec)) {
      if (continue_file(note)) return;
    }
    { PosixFile(paths.tmp, PosixFile::Mode::create).close(); }
    replace_file(paths.tmp, paths.output);
    file_ = PosixFile(paths.output, PosixFile::Mode::append);
  }

  bool missing(int64_t, int64_t row) const override { return row >= prefix_; }

  void rewrite_from(int64_t row) override {
    if (row >= prefix_) return;
    file_.truncate(offset_of(row));
    prefix_ = row;
  }

  void add(RequestRecord r) override {
    if (r.row < prefix_) return;  // in the file already (a line decided by the input alone)
    waiting_[r.row] = std::move(r);
    if (waiting_.size() >= kWriteEvery) write_ready();
  }

  void checkpoint(const JobMeta&, int64_t, int64_t) override {
    write_ready();
    file_.sync();
  }

  int64_t rows_in_file() const override { return prefix_; }

 private:
  // Rows waiting beyond this are appended at once if they can be (the rest wait for a row
  // before them).
  static constexpr size_t kWriteEvery = 4096;

  // An earlier session's file: its whole lines stay (a line cut short by a crash is dropped).
  bool continue_file(std::string* note) {
    PosixFile in(paths_.output, PosixFile::Mode::read);
    std::vector<char> buf(1 << 20);
    uint64_t pos = 0, whole = 0;
    int64_t lines = 0;
    for (size_t n; (n = in.read_some(buf.data(), buf.size())) > 0; pos += n)
      for (size_t i = 0; i < n; ++i)
        if (buf[i] == '\n') {
          ++lines;
          whole = pos + i + 1;
        }
    if (lines > layout_.total) {
      if (note)
        *note = cat("'", paths_.output, "' holds ", lines, " lines for an input of ", layout_.total,
                    ": made again from the journal");
      return false;
    }
    file_ = PosixFile(paths_.output, PosixFile::Mode::append);
    if (whole < pos) {
      file_.truncate(whole);
      if (note)
        *note = cat("'", paths_.output, "': dropped a last line cut short (", pos - whole,
                    " bytes); it is written again");
    }
    prefix_ = lines;
    return true;
  }

  uint64_t offset_of(int64_t row) {
    PosixFile in(paths_.output, PosixFile::Mode::read);
    std::vector<char> buf(1 << 20);
    uint64_t pos = 0;
    int64_t lines = 0;
    if (row == 0) return 0;
    for (size_t n; (n = in.read_some(buf.data(), buf.size())) > 0; pos += n)
      for (size_t i = 0; i < n; ++i)
        if (buf[i] == '\n' && ++lines == row) return pos + i + 1;
    fail("'", paths_.output, "' has fewer than ", row, " lines");
  }

  void write_ready() {
    std::string out;
    for (auto it = waiting_.begin(); it != waiting_.end() && it->first == prefix_;
         it = waiting_.erase(it), ++prefix_)
      out += jsonl_row(it->second, layout_);
    if (out.empty()) return;
    file_.write_all(out.data(), out.size());
  }

  OutputPaths paths_;
  ResultsLayout layout_;
  PosixFile file_;
  int64_t prefix_ = 0;  // rows [0, prefix_) are in the file
  std::map<int64_t, RequestRecord> waiting_;
};

}  // namespace

std::unique_ptr<ResultsSink> open_jsonl_results(const OutputPaths& paths, const ResultsLayout& l,
                                                bool resume, std::string* note) {
  return std::make_unique<JsonlResults>(paths, l, resume, note);
}

}  // namespace hs

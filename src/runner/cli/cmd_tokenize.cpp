// hybridserve tokenize: text to token ids (or ids to text) through a model's tokenizer, one JSONL
// line at a time, so prompts can be checked against HF before a long job runs.
#include <cstdint>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "model/gguf_model.h"
#include "model/tokenizer.h"
#include "runner/cli/commands.h"
#include "util/error.h"

namespace hs {
namespace {

using json = nlohmann::json;

struct TokenizeOptions {
  std::string tokenizer_path;
  bool decode = false;
  bool no_special = false;
};

Tokenizer load_tokenizer(const std::string& path) {
  namespace fs = std::filesystem;
  // A model directory, or a GGUF file: the tokenizer its metadata describes.
  if (fs::is_directory(path) || is_gguf_path(path)) return Tokenizer::from_model_dir(path);
  // A tokenizer.json beside its tokenizer_config.json is one model directory's tokenizer.
  const fs::path config = fs::path(path).parent_path() / "tokenizer_config.json";
  return Tokenizer::from_file(path, fs::is_regular_file(config) ? config.string() : "");
}

// The output object for one input line; throws hs::Error for a bad line.
json process_line(const Tokenizer& tokenizer, const std::string& line, const TokenizeOptions& o) {
  json in;
  try {
    in = json::parse(line);
  } catch (const json::exception& e) {  // parse_error, or out_of_range for 1e400
    fail("invalid JSON: ", e.what());
  }
  if (!in.is_object()) fail("expected a JSON object");
  json out = json::object();
  if (in.contains("id")) out["id"] = in["id"];
  if (o.decode) {
    const auto ids = in.find("ids");
    if (ids == in.end() || !ids->is_array()) fail("expected \"ids\": [token ids]");
    std::vector<int32_t> values;
    for (size_t i = 0; i < ids->size(); ++i) {
      const json& v = (*ids)[i];
      if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() > INT32_MAX)
        fail("ids[", i, "] is not a token id: ", v.dump());
      values.push_back(static_cast<int32_t>(v.get<int64_t>()));
    }
    out["text"] = tokenizer.decode(values, /*skip_special_tokens=*/o.no_special);
  } else {
    auto text = in.find("text");
    if (text == in.end()) text = in.find("prompt");
    if (text == in.end() || !text->is_string()) fail("expected \"text\": \"...\"");
    out["ids"] = tokenizer.encode(text->get<std::string>(), /*add_special_tokens=*/!o.no_special);
  }
  return out;
}

void run_tokenize(const TokenizeOptions& o) {
  const Tokenizer tokenizer = load_tokenizer(o.tokenizer_path);
  std::ios::sync_with_stdio(false);
  std::string line;
  int64_t line_number = 0, failed = 0;
  while (std::getline(std::cin, line)) {
    ++line_number;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    json out;
    try {
      out = process_line(tokenizer, line, o);
    } catch (const Error& e) {
      out = json{{"error", cat("line ", line_number, ": ", e.what())}};
      ++failed;
    }
    // Decoded text is valid UTF-8 (the tokenizer repairs it); the handler only guards the echo
    // of an "id" field that the parser accepted.
    std::cout << out.dump(-1, ' ', false, json::error_handler_t::replace) << '\n';
  }
  std::cout.flush();
  if (failed > 0) fail(failed, " of ", line_number, " input lines failed (see the error lines)");
}

}  // namespace

void add_tokenize_command(CLI::App& app) {
  auto opts = std::make_shared<TokenizeOptions>();
  auto* cmd = app.add_subcommand(
      "tokenize",
      "Turn text into token ids (or ids into text) with a model's tokenizer.json.\n"
      "Reads JSONL on stdin and writes one JSONL line per non-blank input line to stdout:\n"
      "  {\"text\": \"Hello\"}  ->  {\"ids\": [2, 31414]}        (\"prompt\" is read like "
      "\"text\")\n"
      "  with --decode: {\"ids\": [2, 31414]}  ->  {\"text\": \"</s>Hello\"}\n"
      "An \"id\" field is copied to the output. A bad line gives {\"error\": \"line N: ...\"} and\n"
      "the other lines go on; the exit code is 1 if any line failed.");
  cmd->add_option("--tokenizer", opts->tokenizer_path,
                  "A model directory (tokenizer.json and, if present, tokenizer_config.json), "
                  "a tokenizer.json file (a tokenizer_config.json beside it is read too), or a "
                  "GGUF model file (the tokenizer its metadata describes)")
      ->type_name("PATH")
      ->required();
  cmd->add_flag("--decode", opts->decode,
                "Read {\"ids\": [...]} lines and write {\"text\": ...} (special tokens included "
                "unless --no-special)");
  cmd->add_flag("--no-special", opts->no_special,
                "Encoding: do not add the special tokens of the post-processor (e.g. BOS). "
                "Decoding: leave special tokens out of the text");
  cmd->callback([opts] { run_tokenize(*opts); });
}

}  // namespace hs

#include "runner/dataset.h"

#include <fstream>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "model/config.h"
#include "util/error.h"

namespace hs {
namespace {

using json = nlohmann::json;

// Checks a tokenized prompt against the model: non-empty, in the vocabulary, leaves room to
// generate within the context. Returns the reason it cannot run, or "".
std::string check_prompt(const std::vector<int32_t>& ids, const ModelConfig* m) {
  if (ids.empty()) return "empty prompt";
  if (!m) return "";
  for (size_t i = 0; i < ids.size(); ++i)
    if (ids[i] < 0 || ids[i] >= m->vocab_size)
      return cat("token id ", ids[i], " at position ", i, " is outside the vocabulary (0..",
                 m->vocab_size - 1, ")");
  if (static_cast<int64_t>(ids.size()) >= m->max_positions)
    return cat("prompt of ", ids.size(), " tokens does not fit the model's context of ",
               m->max_positions, " tokens (at least one token must be generated)");
  return "";
}

}  // namespace

DatasetEntry parse_dataset_line(const std::string& text, int64_t line, const DatasetOptions& opt) {
  DatasetEntry e;
  e.line = line;
  auto bad = [&](const std::string& why) {
    e.error = cat("line ", line, ": ", why);
    return e;
  };
  json j;
  try {
    j = json::parse(text);
  } catch (const json::parse_error& err) {
    // Invalid UTF-8 is named as such (with its byte), since the line may look fine in an editor.
    const std::string what = err.what();
    if (what.find("UTF-8") != std::string::npos)
      return bad(cat("not valid UTF-8 (byte ", err.byte, " of the line)"));
    return bad("not valid JSON");
  }
  if (!j.is_object()) return bad("expected a JSON object");
  if (j.contains("id")) {
    const json& id = j["id"];
    if (id.is_string())
      e.id = id.get<std::string>();
    else if (id.is_number_integer())
      e.id = std::to_string(id.get<int64_t>());
    else
      return bad("'id' must be a string or an integer");
    if (e.id->empty()) return bad("'id' is empty");
  } else {
    return bad("missing 'id'");
  }
  if (j.contains("max_new_tokens")) {
    const json& m = j["max_new_tokens"];
    if (!m.is_number_integer() || m.get<int64_t>() < 0)
      return bad("'max_new_tokens' must be a non-negative integer");
    e.max_new_tokens = m.get<int64_t>();
  }
  const bool has_ids = j.contains("input_ids"), has_prompt = j.contains("prompt");
  if (has_ids == has_prompt) return bad("give exactly one of 'input_ids' or 'prompt'");
  if (has_ids) {
    const json& ids = j["input_ids"];
    if (!ids.is_array()) return bad("'input_ids' must be an array of token ids");
    e.input_ids.reserve(ids.size());
    for (size_t i = 0; i < ids.size(); ++i) {
      const json& t = ids[i];
      if (!t.is_number_integer())
        return bad(cat("input_ids[", i, "] is not an integer: ", t.dump()));
      const int64_t v = t.get<int64_t>();
      if (v < 0 || v > INT32_MAX)
        return bad(cat("token id ", v, " at position ", i, " is outside the vocabulary"));
      e.input_ids.push_back(static_cast<int32_t>(v));
    }
  } else {
    if (!j["prompt"].is_string()) return bad("'prompt' must be a string");
    e.prompt = j["prompt"].get<std::string>();
    if (!opt.encode)
      return bad("'prompt' needs a tokenizer (tokenizer.json in the model directory)");
    try {
      e.input_ids = opt.encode(*e.prompt);
    } catch (const Error& err) {
      return bad(err.what());
    }
  }
  const std::string why = check_prompt(e.input_ids, opt.model);
  if (!why.empty()) return bad(why);
  return e;
}

std::vector<DatasetEntry> read_dataset(const std::string& path, const DatasetOptions& opt) {
  std::ifstream f(path, std::ios::binary);
  HS_CHECK(f.good(), "cannot open input file '", path, "'");
  std::vector<DatasetEntry> out;
  std::unordered_map<std::string, int64_t> seen;  // id -> line of first use
  std::string text;
  int64_t line = 0;
  while (std::getline(f, text)) {
    ++line;
    if (!text.empty() && text.back() == '\r') text.pop_back();
    if (text.find_first_not_of(" \t") == std::string::npos) continue;
    DatasetEntry e = parse_dataset_line(text, line, opt);
    if (e.id) {
      auto [it, fresh] = seen.emplace(*e.id, line);
      if (!fresh) {
        // The first line keeps the id: results stay one per id.
        e.error =
            cat("line ", line, ": duplicate id '", *e.id, "' (first on line ", it->second, ")");
        e.id.reset();
      }
    }
    out.push_back(std::move(e));
  }
  HS_CHECK(!f.bad(), "error reading input file '", path, "'");
  return out;
}

}  // namespace hs

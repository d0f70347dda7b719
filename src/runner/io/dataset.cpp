#include "runner/io/dataset.h"

#include <algorithm>
#include <fstream>
#include <map>

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

// Token ids from a JSON array: "" or why they are not ids.
std::string read_ids(const json& ids, const std::string& field, std::vector<int32_t>& out) {
  if (!ids.is_array()) return cat("'", field, "' must be an array of token ids");
  out.reserve(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    const json& t = ids[i];
    if (!t.is_number_integer()) return cat(field, "[", i, "] is not an integer: ", t.dump());
    const int64_t v = t.get<int64_t>();
    if (v < 0 || v > INT32_MAX)
      return cat("token id ", v, " at position ", i, " is outside the vocabulary");
    out.push_back(static_cast<int32_t>(v));
  }
  return "";
}

// Tokenizes a text prompt: "" or why it cannot be.
std::string read_text(const std::string& text, const DatasetOptions& opt, DatasetEntry& e) {
  e.prompt = text;
  if (!opt.tokenize) return "";
  if (!opt.encode) return "'prompt' needs a tokenizer (tokenizer.json in the model directory)";
  try {
    e.input_ids = opt.encode(text);
  } catch (const Error& err) {
    return err.what();
  }
  return "";
}

std::string read_body_options(const json& b, const DatasetOptions& opt, DatasetEntry& e);

// Chat messages as a prompt: the model's chat template formats and tokenizes them (a chat row
// also ends at the template's end of turn). "" or why not.
std::string read_messages(const json& messages, const DatasetOptions& opt, DatasetEntry& e) {
  std::vector<ChatMessage> list;
  const std::string why = read_chat_messages(messages, list);
  if (!why.empty()) return why;
  if (!opt.tokenize) return "";
  if (!opt.chat) return "'messages' needs the model's tokenizer and chat template";
  try {
    std::string text;
    e.input_ids = opt.chat(list, text);
    e.prompt = text;
    e.options.stop_ids = opt.chat_stop_ids;
  } catch (const Error& err) {
    return err.what();
  }
  return "";
}

// The body of an OpenAI batch line for /v1/completions, or for /v1/chat/completions when
// e.chat: "" or why it cannot run as asked.
std::string read_completion_body(const json& b, const DatasetOptions& opt, DatasetEntry& e) {
  if (!b.is_object()) return "'body' must be a JSON object";
  if (e.chat) {
    if (!b.contains("messages")) return "'body' has no 'messages'";
    const std::string why = read_messages(b["messages"], opt, e);
    if (!why.empty())
      return "chat completions (/v1/chat/completions) need the model's chat template: " + why;
    return read_body_options(b, opt, e);
  }
  if (!b.contains("prompt")) return "'body' has no 'prompt'";
  const json& p = b["prompt"];
  std::string why;
  if (p.is_string()) {
    why = read_text(p.get<std::string>(), opt, e);
  } else if (p.is_array() && !p.empty() && p[0].is_number_integer()) {
    why = read_ids(p, "prompt", e.input_ids);
  } else if (p.is_array() && p.size() == 1 && (p[0].is_string() || p[0].is_array())) {
    why = p[0].is_string() ? read_text(p[0].get<std::string>(), opt, e)
                           : read_ids(p[0], "prompt[0]", e.input_ids);
  } else if (p.is_array() && p.size() > 1) {
    return cat("one prompt a line: 'prompt' holds ", p.size());
  } else {
    return "'prompt' must be a string, an array of token ids, or an array of one of these";
  }
  if (!why.empty()) return why;
  return read_body_options(b, opt, e);
}

// The options of a body beside its prompt or messages.
std::string read_body_options(const json& b, const DatasetOptions& opt, DatasetEntry& e) {
  std::string why;
  const char* max_key =
      e.chat && b.contains("max_completion_tokens") ? "max_completion_tokens" : "max_tokens";
  if (b.contains(max_key) && !b[max_key].is_null()) {
    const json& m = b[max_key];
    if (!m.is_number_integer() || m.get<int64_t>() < 0)
      return cat("'", max_key, "' must be a non-negative integer");
    e.max_new_tokens = m.get<int64_t>();
  }
  auto number = [&](const char* k, std::optional<float>& out) -> std::string {
    if (!b.contains(k) || b[k].is_null()) return "";
    if (!b[k].is_number()) return cat("'", k, "' must be a number");
    out = b[k].get<float>();
    return "";
  };
  if (!(why = number("temperature", e.options.temperature)).empty()) return why;
  if (!(why = number("top_p", e.options.top_p)).empty()) return why;
  if (e.options.temperature && *e.options.temperature < 0) return "'temperature' must be >= 0";
  if (e.options.top_p && !(*e.options.top_p > 0 && *e.options.top_p <= 1))
    return "'top_p' must be in (0, 1]";
  if (b.contains("seed") && !b["seed"].is_null()) {
    if (!b["seed"].is_number_integer() || b["seed"].get<int64_t>() < 0)
      return "'seed' must be a non-negative integer";
    e.options.seed = b["seed"].get<uint64_t>();
  }
  if (b.contains("stop") && !b["stop"].is_null()) {
    const json& st = b["stop"];
    const json list = st.is_string() ? json::array({st}) : st;
    if (!list.is_array() || list.size() > 4)
      return "'stop' must be a string or an array of up to 4 strings";
    for (const json& x : list) {
      if (!x.is_string() || x.get<std::string>().empty()) return "'stop' strings must be non-empty";
      e.options.stop.push_back(x.get<std::string>());
    }
    if (!e.options.stop.empty() && !opt.encode)
      return "'stop' needs the model's tokenizer (tokenizer.json in the model directory)";
  }
  // What would change the answer and is not done here is refused, not ignored.
  if (b.contains("n") && !(b["n"].is_number_integer() && b["n"].get<int64_t>() == 1))
    return "'n' must be 1 (one completion a line)";
  if (b.contains("best_of") && !(b["best_of"].is_number_integer() && b["best_of"] == 1))
    return "'best_of' must be 1";
  for (const char* k : {"echo", "stream"})
    if (b.contains(k) && b[k] != false && !b[k].is_null()) return cat("'", k, "' is not supported");
  for (const char* k : {"logprobs", "suffix", "logit_bias"})
    if (b.contains(k) && !b[k].is_null() && !(b[k].is_object() && b[k].empty()))
      return cat("'", k, "' is not supported");
  for (const char* k : {"frequency_penalty", "presence_penalty"})
    if (b.contains(k) && !b[k].is_null() && !(b[k].is_number() && b[k].get<double>() == 0))
      return cat("'", k, "' is not supported (only 0)");
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
  } catch (const json::out_of_range&) {
    // A number beyond a double's range (1e400) is valid JSON text that nlohmann cannot hold.
    return bad("not valid JSON: a number is out of range");
  }
  if (!j.is_object()) return bad("expected a JSON object");
  if (j.contains("custom_id") || j.contains("body")) {  // an OpenAI batch line
    e.openai = true;
    if (!j.contains("custom_id") || !j["custom_id"].is_string() ||
        j["custom_id"].get<std::string>().empty())
      return bad("an OpenAI batch line needs a non-empty string 'custom_id'");
    e.id = j["custom_id"].get<std::string>();
    if (j.contains("method") && j["method"] != "POST") return bad("'method' must be \"POST\"");
    const std::string url =
        j.contains("url") && j["url"].is_string() ? j["url"].get<std::string>() : std::string();
    e.chat = url == "/v1/chat/completions";
    if (url != "/v1/completions" && !e.chat)
      return bad(cat("'url' must be \"/v1/completions\" or \"/v1/chat/completions\"",
                     url.empty() ? "" : ", not '" + url + "'"));
    if (!j.contains("body")) return bad("an OpenAI batch line needs a 'body'");
    const std::string why = read_completion_body(j["body"], opt, e);
    if (!why.empty()) return bad(why);
    const std::string misfit = opt.tokenize ? check_prompt(e.input_ids, opt.model) : "";
    if (!misfit.empty()) return bad(misfit);
    return e;
  }
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
  const bool has_ids = j.contains("input_ids"), has_prompt = j.contains("prompt"),
             has_messages = j.contains("messages");
  if (int(has_ids) + int(has_prompt) + int(has_messages) != 1)
    return bad("give exactly one of 'input_ids', 'prompt' or 'messages'");
  if (has_messages) {
    e.chat = true;
    const std::string why = read_messages(j["messages"], opt, e);
    if (!why.empty()) return bad(why);
  } else if (has_ids) {
    const std::string why = read_ids(j["input_ids"], "input_ids", e.input_ids);
    if (!why.empty()) return bad(why);
  } else {
    if (!j["prompt"].is_string()) return bad("'prompt' must be a string");
    const std::string why = read_text(j["prompt"].get<std::string>(), opt, e);
    if (!why.empty()) return bad(why);
  }
  const std::string why = opt.tokenize ? check_prompt(e.input_ids, opt.model) : "";
  if (!why.empty()) return bad(why);
  return e;
}

LineReader::LineReader(const std::string& path) : path_(path), f_(path, std::ios::binary) {
  HS_CHECK(f_.good(), "cannot open input file '", path, "'");
}

bool LineReader::next(std::string& text) {
  while (std::getline(f_, text)) {
    ++line_;
    offset_ = next_offset_;
    next_offset_ += text.size() + 1;
    if (!text.empty() && text.back() == '\r') text.pop_back();
    if (text.find_first_not_of(" \t") != std::string::npos) return true;
  }
  HS_CHECK(!f_.bad(), "error reading input file '", path_, "'");
  return false;
}

namespace {

// Newlines in the file (the lines of a file that ends in one), read in large blocks.
size_t count_lines(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  HS_CHECK(f.good(), "cannot open input file '", path, "'");
  std::vector<char> buf(1 << 20);
  size_t lines = 0;
  while (f) {
    f.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    lines += static_cast<size_t>(std::count(buf.data(), buf.data() + f.gcount(), '\n'));
  }
  return lines + 1;  // a last line without a newline
}

// The id of the line starting at byte `offset` of `path` (read again: ids are not kept).
std::string id_at(std::ifstream& f, const std::string& path, uint64_t offset) {
  f.clear();
  f.seekg(static_cast<std::streamoff>(offset));
  std::string text;
  HS_CHECK(std::getline(f, text), "error reading input file '", path, "' again at byte ", offset);
  if (!text.empty() && text.back() == '\r') text.pop_back();
  DatasetOptions ids_only;
  ids_only.tokenize = false;
  return parse_dataset_line(text, 0, ids_only).id.value_or("");
}

// The lines whose id an earlier line has, by byte offset, each with the offset of the first
// line of that id. From (hash, offset) pairs of every id, 16 bytes a line: sorted by hash,
// lines of one hash are told apart by reading them again, so a duplicate is never reported by a
// hash collision alone.
std::map<uint64_t, uint64_t> duplicate_offsets(std::vector<std::pair<uint64_t, uint64_t>>& ids,
                                               const std::string& path) {
  std::sort(ids.begin(), ids.end());
  std::map<uint64_t, uint64_t> dups;
  std::ifstream f;
  for (size_t i = 0; i < ids.size();) {
    size_t j = i + 1;
    while (j < ids.size() && ids[j].first == ids[i].first) ++j;
    if (j - i > 1) {
      if (!f.is_open()) f.open(path, std::ios::binary);
      std::map<std::string, uint64_t> first;  // id -> its first line's offset (in offset order)
      for (size_t k = i; k < j; ++k) {
        auto [at, fresh] = first.emplace(id_at(f, path, ids[k].second), ids[k].second);
        if (!fresh) dups[ids[k].second] = at->second;
      }
    }
    i = j;
  }
  return dups;
}

}  // namespace

DatasetSummary summarize_dataset(const std::string& path, const DatasetOptions& opt,
                                 const std::function<bool(int64_t row)>& skip) {
  DatasetSummary s;
  LineReader lines(path);
  // (hash of the id, offset of its line), reserved for every line at once: grown by doubling,
  // the vector would take 1.5x its final size while it moved.
  std::vector<std::pair<uint64_t, uint64_t>> ids;
  ids.reserve(count_lines(path));
  DatasetOptions ids_only = opt;
  ids_only.tokenize = false;
  std::string text;
  for (; lines.next(text); ++s.rows) {
    const bool done = skip && skip(s.rows);
    const DatasetEntry e = parse_dataset_line(text, lines.line(), done ? ids_only : opt);
    s.openai = s.openai || e.openai;
    if (e.id) ids.emplace_back(std::hash<std::string>{}(*e.id), lines.offset());
    if (done) continue;
    if (!e.ok()) {
      ++s.bad_rows;
      continue;
    }
    // A duplicate found below still counts here: the shape stays an upper bound.
    s.max_prompt_tokens = std::max<int64_t>(s.max_prompt_tokens, e.input_ids.size());
    s.max_new_tokens = std::max<int64_t>(s.max_new_tokens, e.max_new_tokens.value_or(0));
  }
  const std::map<uint64_t, uint64_t> dups = duplicate_offsets(ids, path);
  std::vector<std::pair<uint64_t, uint64_t>>().swap(ids);
  if (dups.empty()) return s;
  // Lines and rows of the lines involved, from one more pass that parses only the duplicates.
  std::map<uint64_t, int64_t> line_at;  // offset -> line, for the first lines named
  for (const auto& [dup, first] : dups) line_at[first] = 0;
  LineReader again(path);
  for (int64_t row = 0; again.next(text); ++row) {
    auto f = line_at.find(again.offset());
    if (f != line_at.end()) f->second = again.line();
    auto d = dups.find(again.offset());
    if (d == dups.end()) continue;
    const bool done = skip && skip(row);
    const DatasetEntry e = parse_dataset_line(text, again.line(), done ? ids_only : opt);
    s.duplicates[row] = cat("line ", again.line(), ": duplicate id '", e.id.value_or(""),
                            "' (first on line ", line_at.at(d->second), ")");
    if (!done && e.ok()) ++s.bad_rows;  // bad for this reason alone
  }
  return s;
}

DatasetReader::DatasetReader(const std::string& path, const DatasetOptions& opt,
                             const DatasetSummary& s)
    : lines_(path), opt_(opt), summary_(s) {}

bool DatasetReader::next(DatasetEntry& e, bool parse) {
  if (!lines_.next(text_)) return false;
  const int64_t row = row_++;
  if (!parse) {
    e = DatasetEntry{};
    e.line = lines_.line();
  } else {
    e = parse_dataset_line(text_, lines_.line(), opt_);
    auto dup = summary_.duplicates.find(row);
    if (dup != summary_.duplicates.end()) {
      e.error = dup->second;
      e.id.reset();
    }
  }
  e.row = row;
  return true;
}

std::vector<DatasetEntry> read_dataset(const std::string& path, const DatasetOptions& opt) {
  const DatasetSummary s = summarize_dataset(path, opt, nullptr);
  DatasetReader reader(path, opt, s);
  std::vector<DatasetEntry> out;
  DatasetEntry e;
  while (reader.next(e, true)) out.push_back(std::move(e));
  return out;
}

}  // namespace hs

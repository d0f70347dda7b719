#include "model/chat_template.h"

#include <filesystem>
#include <fstream>

#include "model/gguf.h"
#include "model/gguf_model.h"
#include "util/error.h"

namespace hs {
namespace {

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

// The literal default system message of a ChatML template: the text of a
// "<|im_start|>system\n...<|im_end|>" written out in full (no Jinja expression inside).
std::optional<std::string> literal_system(const std::string& jinja) {
  const std::string open = "<|im_start|>system\n", close = "<|im_end|>";
  for (size_t at = jinja.find(open); at != std::string::npos; at = jinja.find(open, at + 1)) {
    const size_t begin = at + open.size(), end = jinja.find(close, begin);
    if (end == std::string::npos) break;
    const std::string text = jinja.substr(begin, end - begin);
    if (!contains(text, "{{") && !contains(text, "{%") && !contains(text, "'") &&
        !contains(text, "\""))
      return text;
  }
  return std::nullopt;
}

int32_t need_token(const Tokenizer& tok, const std::string& token, const std::string& source,
                   const std::string& layout) {
  const auto id = tok.token_id(token);
  HS_CHECK(id.has_value(), source, ": the chat template is ", layout, " but the tokenizer has no ",
           token, " token");
  return *id;
}

}  // namespace

ChatFormat ChatFormat::from_template(const std::string& jinja, const Tokenizer& tok,
                                     const std::string& source) {
  ChatFormat f;
  if (contains(jinja, "<|im_start|>") && contains(jinja, "<|im_end|>")) {
    f.name_ = "ChatML";
    need_token(tok, "<|im_start|>", source, f.name_);
    f.end_of_turn_id_ = need_token(tok, "<|im_end|>", source, f.name_);
    f.default_system_ = literal_system(jinja);
    return f;
  }
  if (contains(jinja, "<|start_header_id|>") && contains(jinja, "<|eot_id|>")) {
    // LLaMA-3.1 and later templates write a dated system block and tool calls of their own.
    HS_CHECK(!contains(jinja, "Knowledge Date"), source,
             ": a LLaMA-3.1-style chat template (with its dated system block) is not read; "
             "LLaMA-3.0 and ChatML layouts are");
    f.name_ = "LLaMA-3";
    need_token(tok, "<|start_header_id|>", source, f.name_);
    need_token(tok, "<|end_header_id|>", source, f.name_);
    need_token(tok, "<|begin_of_text|>", source, f.name_);
    f.end_of_turn_id_ = need_token(tok, "<|eot_id|>", source, f.name_);
    return f;
  }
  fail(source, ": the chat template is neither ChatML (<|im_start|> ... <|im_end|>) nor LLaMA-3 ",
       "(<|start_header_id|> ... <|eot_id|>), the layouts read; it begins '", jinja.substr(0, 60),
       "'");
}

std::string ChatFormat::format(const std::vector<ChatMessage>& messages,
                               const std::optional<std::string>& system) const {
  const bool has_system = !messages.empty() && messages.front().role == "system";
  std::optional<std::string> first_system;
  if (!has_system) first_system = system ? system : default_system_;
  std::string out;
  if (name_ == "ChatML") {
    auto turn = [&](const std::string& role, const std::string& content) {
      out += "<|im_start|>" + role + "\n" + content + "<|im_end|>\n";
    };
    if (first_system) turn("system", *first_system);
    for (const ChatMessage& m : messages) turn(m.role, m.content);
    return out + "<|im_start|>assistant\n";
  }
  out = "<|begin_of_text|>";
  // The LLaMA-3 template trims each message (Jinja's trim: whitespace at both ends).
  auto trim = [](const std::string& s) {
    const char* ws = " \t\n\r\f\v";
    const size_t b = s.find_first_not_of(ws);
    return b == std::string::npos ? std::string() : s.substr(b, s.find_last_not_of(ws) - b + 1);
  };
  auto turn = [&](const std::string& role, const std::string& content) {
    out += "<|start_header_id|>" + role + "<|end_header_id|>\n\n" + trim(content) + "<|eot_id|>";
  };
  if (first_system) turn("system", *first_system);
  for (const ChatMessage& m : messages) turn(m.role, m.content);
  return out + "<|start_header_id|>assistant<|end_header_id|>\n\n";
}

std::string read_chat_messages(const nlohmann::json& j, std::vector<ChatMessage>& out) {
  if (!j.is_array() || j.empty()) return "'messages' must be a non-empty array";
  for (size_t i = 0; i < j.size(); ++i) {
    const nlohmann::json& m = j[i];
    if (!m.is_object() || !m.contains("role") || !m["role"].is_string() || !m.contains("content") ||
        !m["content"].is_string())
      return cat("messages[", i, "] must be {\"role\": string, \"content\": string}");
    const std::string role = m["role"];
    if (role != "system" && role != "user" && role != "assistant")
      return cat("messages[", i, "]: role '", role, "' is not system, user or assistant");
    if (role == "system" && i != 0) return cat("messages[", i, "]: a system message goes first");
    out.push_back({role, m["content"]});
  }
  if (out.back().role == "assistant")
    return "the last message is the assistant's: nothing is asked of the model";
  return "";
}

std::string model_chat_template(const std::string& model) {
  if (is_gguf_path(model)) {
    const GgufFile f(model);
    return f.has("tokenizer.chat_template") ? f.get_string("tokenizer.chat_template") : "";
  }
  const auto path = std::filesystem::path(model) / "tokenizer_config.json";
  std::ifstream in(path);
  if (!in.good()) return "";
  const nlohmann::json c = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (!c.is_object() || !c.contains("chat_template")) return "";
  const nlohmann::json& t = c["chat_template"];
  if (t.is_string()) return t;
  if (t.is_array())
    for (const nlohmann::json& e : t)
      if (e.is_object() && e.value("name", "") == "default" && e.contains("template") &&
          e["template"].is_string())
        return e["template"];
  return "";
}

}  // namespace hs

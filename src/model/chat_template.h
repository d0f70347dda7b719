// Chat-formatted prompts: a list of messages ({"role", "content"}) turned into the text the
// model was trained on, by the chat template its tokenizer ships. Templates are Jinja programs;
// rather than run Jinja, the two layouts most chat models use are recognised from the template
// and its special tokens, and written out here:
//   ChatML (SmolLM2, Qwen2):  <|im_start|>ROLE\nCONTENT<|im_end|>\n ... <|im_start|>assistant\n
//     with the template's default system message when the messages have none (a literal
//     "<|im_start|>system\n...<|im_end|>" in the template, e.g. SmolLM2's).
//   LLaMA-3:  <|begin_of_text|><|start_header_id|>ROLE<|end_header_id|>\n\nCONTENT<|eot_id|> ...
//     <|start_header_id|>assistant<|end_header_id|>\n\n, each content trimmed (LLaMA-3.0's
//     template; 3.1's, with its dated system block, is refused)
// Any other template is refused when a chat row needs it, naming what was looked for.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/tokenizer.h"

namespace hs {

struct ChatMessage {
  std::string role;  // "system", "user", "assistant"
  std::string content;
};

class ChatFormat {
 public:
  // The layout of `jinja` (a model's chat template); `source` names it in errors. Throws
  // hs::Error when it is neither layout or the tokenizer lacks its special tokens.
  static ChatFormat from_template(const std::string& jinja, const Tokenizer& tok,
                                  const std::string& source);

  // The prompt text for `messages`, ending with the assistant's turn opened. `system` is the
  // system message when the messages have none (before the template's own default).
  std::string format(const std::vector<ChatMessage>& messages,
                     const std::optional<std::string>& system) const;
  const std::string& name() const { return name_; }  // "ChatML" or "LLaMA-3"
  int32_t end_of_turn_id() const { return end_of_turn_id_; }

 private:
  std::string name_;
  std::optional<std::string> default_system_;
  int32_t end_of_turn_id_ = -1;
};

// Messages from a dataset line's "messages" value: "" when they are usable, else why not.
std::string read_chat_messages(const nlohmann::json& j, std::vector<ChatMessage>& out);

// The chat template of a model: tokenizer_config.json's "chat_template" (a string, or the
// entry named "default" of a list), or a GGUF file's tokenizer.chat_template; "" when none.
std::string model_chat_template(const std::string& model);

}  // namespace hs

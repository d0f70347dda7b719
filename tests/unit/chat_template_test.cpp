// Chat rows (model/chat_template.h): the two layouts recognised from a template and its special
// tokens, written out as the templates write them (SmolLM2's ChatML with its default system
// message, a LLaMA-3 conversation), the system message given instead of the default, and what
// is refused: another template, a missing special token, malformed messages.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "model/chat_template.h"
#include "model/tokenizer.h"
#include "util/error.h"

namespace hs {
namespace {

// A byte-level BPE tokenizer whose only entries are these special tokens (enough for the
// template's token checks).
Tokenizer with_specials(const std::vector<std::string>& specials) {
  nlohmann::json vocab = nlohmann::json::object(), added = nlohmann::json::array();
  for (size_t i = 0; i < specials.size(); ++i) {
    vocab[specials[i]] = i;
    added.push_back({{"id", i}, {"content", specials[i]}, {"special", true}});
  }
  vocab["a"] = specials.size();
  const nlohmann::json doc = {
      {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", nlohmann::json::array()}}},
      {"added_tokens", added},
      {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}}},
      {"decoder", {{"type", "ByteLevel"}}}};
  return Tokenizer::from_json(doc, "test tokenizer");
}

// SmolLM2-135M-Instruct's template, as its GGUF carries it.
const char* kSmolLm2 =
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging "
    "Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + "
    "message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|im_start|>assistant\n' }}{% endif %}";

TEST(ChatTemplate, ChatMlWithTheTemplatesDefaultSystemMessage) {
  const Tokenizer tok = with_specials({"<|endoftext|>", "<|im_start|>", "<|im_end|>"});
  const ChatFormat f = ChatFormat::from_template(kSmolLm2, tok, "smollm2");
  EXPECT_EQ(f.name(), "ChatML");
  EXPECT_EQ(f.end_of_turn_id(), 2);
  EXPECT_EQ(f.format({{"user", "Hi"}}, std::nullopt),
            "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging "
            "Face<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
  EXPECT_EQ(
      f.format({{"system", "Be brief."}, {"user", "Hi"}, {"assistant", "Hello"}, {"user", "2+2?"}},
               std::string("ignored: the rows has its own")),
      "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
      "<|im_start|>assistant\nHello<|im_end|>\n<|im_start|>user\n2+2?<|im_end|>\n"
      "<|im_start|>assistant\n");
  EXPECT_EQ(f.format({{"user", "Hi"}}, std::string("French.")),
            "<|im_start|>system\nFrench.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
            "<|im_start|>assistant\n");
}

// Meta-Llama-3-8B-Instruct's template; the expected texts are what jinja2 renders from it
// (add_generation_prompt, bos_token "<|begin_of_text|>").
TEST(ChatTemplate, Llama3LayoutAsJinjaRendersIt) {
  const Tokenizer tok = with_specials(
      {"<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"});
  const std::string jinja =
      "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = "
      "'<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | "
      "trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}"
      "{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ "
      "'<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}";
  const ChatFormat f = ChatFormat::from_template(jinja, tok, "llama3");
  EXPECT_EQ(f.name(), "LLaMA-3");
  EXPECT_EQ(f.end_of_turn_id(), 3);
  EXPECT_EQ(f.format({{"user", " Hi there \n"}}, std::nullopt),
            "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi there<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\n");
  EXPECT_EQ(
      f.format({{"system", "Be brief."}, {"user", "Hi"}, {"assistant", "Hello"}, {"user", "2+2?"}},
               std::nullopt),
      "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
      "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>"
      "assistant<|end_header_id|>\n\nHello<|eot_id|><|start_header_id|>user"
      "<|end_header_id|>\n\n2+2?<|eot_id|><|start_header_id|>assistant<|end_header_id|>"
      "\n\n");
  EXPECT_THROW(
      ChatFormat::from_template(jinja + "Cutting Knowledge Date: December 2023", tok, "llama3.1"),
      Error);
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

TEST(ChatTemplate, RefusesOtherTemplatesAndBadMessages) {
  const Tokenizer tok = with_specials({"<|im_start|>"});
  EXPECT_NE(error_of([&] {
              ChatFormat::from_template("[INST] {{ x }} [/INST]", tok, "m");
            }).find("neither ChatML"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              ChatFormat::from_template(kSmolLm2, tok, "m");
            }).find("the tokenizer has no <|im_end|> token"),
            std::string::npos);
  std::vector<ChatMessage> m;
  EXPECT_EQ(read_chat_messages(nlohmann::json::array(), m), "'messages' must be a non-empty array");
  m.clear();
  EXPECT_EQ(read_chat_messages(nlohmann::json::parse(R"([{"role": "robot", "content": "x"}])"), m),
            "messages[0]: role 'robot' is not system, user or assistant");
  m.clear();
  EXPECT_EQ(read_chat_messages(
                nlohmann::json::parse(R"([{"role": "user", "content": "x"}, {"role": "system",
                "content": "y"}])"),
                m),
            "messages[1]: a system message goes first");
  m.clear();
  EXPECT_EQ(read_chat_messages(nlohmann::json::parse(R"([{"role": "user", "content": 3}])"), m),
            "messages[0] must be {\"role\": string, \"content\": string}");
}

}  // namespace
}  // namespace hs

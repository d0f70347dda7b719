// The tokenizer of a GGUF file against Hugging Face transformers' tokenizer for the same file:
// SmolLM2-135M-Instruct's (tools/fetch_smollm2.sh, which tools/setup.sh runs) on every sample
// line of datasets/ and a list of tricky strings (tests/goldens/smollm2-gguf.json, made by
// tools/make_gguf_goldens.py): the same ids with and without special tokens, the same decoded
// text. And what the reader refuses: another tokenizer model, a pre-tokenizer it does not read.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "model/gguf.h"
#include "model/gguf_tokenizer.h"
#include "model/tokenizer.h"
#include "test_support.h"
#include "util/error.h"

namespace hs {
namespace {

const std::string kModel = std::string(HS_SOURCE_DIR) + "/models/SmolLM2-135M-Instruct.Q4_1.gguf";

TEST(GgufTokenizer, IdsAndTextEqualTransformersForTheSameFile) {
  ASSERT_TRUE(std::filesystem::exists(kModel))
      << kModel << " is missing: bash tools/fetch_smollm2.sh fetches it (tools/setup.sh does)";
  const Tokenizer tok = Tokenizer::from_model_dir(kModel);
  std::ifstream in(test::data_path("goldens/smollm2-gguf.json"));
  const nlohmann::json g = nlohmann::json::parse(in);
  EXPECT_EQ(tok.bos_id(), g["config"]["bos_token_id"].get<int32_t>());
  EXPECT_EQ(tok.eos_id(), g["config"]["eos_token_id"].get<int32_t>());
  int n = 0;
  for (const auto& c : g["tokenizer"]) {
    const std::string text = c["text"];
    const auto ids = c["ids"].get<std::vector<int32_t>>();
    EXPECT_EQ(tok.encode(text, true), ids) << text;
    EXPECT_EQ(tok.encode(text, false), c["ids_no_special"].get<std::vector<int32_t>>()) << text;
    EXPECT_EQ(tok.decode(ids, true), c["decoded"].get<std::string>()) << text;
    ++n;
  }
  EXPECT_GT(n, 100);
  // The goldens' prompts, too (plain and chat-formatted text).
  for (const auto& c : g["cases"])
    EXPECT_EQ(tok.encode(c["text"].get<std::string>(), true),
              c["prompt"].get<std::vector<int32_t>>())
        << c["name"];
}

// A GGUF file of tokenizer metadata only: model, pre, tokens (the last one a control token)
// and merges.
std::string tokenizer_only_gguf(const std::string& model, const std::string& pre,
                                const std::vector<std::string>& tokens = {"a", "b", "ab"},
                                const std::vector<std::string>& merges = {"a b"}) {
  std::string out = "GGUF";
  auto u32 = [&](uint32_t v) { out.append(reinterpret_cast<const char*>(&v), 4); };
  auto u64 = [&](uint64_t v) { out.append(reinterpret_cast<const char*>(&v), 8); };
  auto str = [&](const std::string& v) {
    u64(v.size());
    out += v;
  };
  auto strings = [&](const char* key, const std::vector<std::string>& v) {
    str(key);
    u32(9);  // array
    u32(8);  // of strings
    u64(v.size());
    for (const std::string& t : v) str(t);
  };
  u32(3);
  u64(0);  // tensors
  u64(5);  // metadata
  str("tokenizer.ggml.model");
  u32(8);
  str(model);
  str("tokenizer.ggml.pre");
  u32(8);
  str(pre);
  strings("tokenizer.ggml.tokens", tokens);
  strings("tokenizer.ggml.merges", merges);
  str("tokenizer.ggml.token_type");
  u32(9);
  u32(5);  // of i32
  u64(tokens.size());
  for (size_t i = 0; i < tokens.size(); ++i) u32(i + 1 == tokens.size() ? 3 : 1);
  const std::string path = test::temp_dir() + "/tok.gguf";
  std::ofstream(path, std::ios::binary).write(out.data(), static_cast<std::streamsize>(out.size()));
  return path;
}

// llama-bpe and qwen2 pre-tokenizers on one small vocabulary, against transformers' ids for GGUF
// files made the same way (tools/make_gguf_pretokenizer_goldens.py).
TEST(GgufTokenizer, Llama3AndQwen2PreTokenizersAsTransformersReadsThem) {
  std::ifstream in(test::data_path("goldens/gguf-pretokenizers.json"));
  const nlohmann::json g = nlohmann::json::parse(in);
  const auto tokens = g["tokens"].get<std::vector<std::string>>();
  const auto merges = g["merges"].get<std::vector<std::string>>();
  for (const std::string pre : {"llama-bpe", "qwen2"}) {
    const Tokenizer tok = tokenizer_from_gguf(tokenizer_only_gguf("gpt2", pre, tokens, merges));
    for (const auto& c : g["cases"][pre])
      EXPECT_EQ(tok.encode(c["text"].get<std::string>(), false),
                c["ids"].get<std::vector<int32_t>>())
          << pre << ": " << c["text"];
  }
}

std::string error_of(const std::string& path) {
  try {
    tokenizer_from_gguf(path);
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

TEST(GgufTokenizer, RefusesWhatItDoesNotRead) {
  EXPECT_EQ(tokenizer_from_gguf(tokenizer_only_gguf("gpt2", "smollm", {"a", "b", "ab", "x"}))
                .encode("ab", false),
            (std::vector<int32_t>{2}));
  const std::string llama = error_of(tokenizer_only_gguf("llama", "default"));
  EXPECT_NE(llama.find("tokenizer.ggml.model 'llama' is not supported"), std::string::npos)
      << llama;
  const std::string other = error_of(tokenizer_only_gguf("gpt2", "deepseek-llm"));
  EXPECT_NE(other.find("tokenizer.ggml.pre 'deepseek-llm' is not supported"), std::string::npos)
      << other;
}

}  // namespace
}  // namespace hs

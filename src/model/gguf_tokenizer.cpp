#include "model/gguf_tokenizer.h"

#include "model/gguf.h"
#include "util/error.h"

namespace hs {
namespace {

using json = nlohmann::json;

// tokenizer.ggml.token_type values (llama.cpp's vocabulary types).
constexpr int32_t kControl = 3, kUserDefined = 4;

json pre_tokenizer_of(const GgufFile& f) {
  const std::string pre =
      f.has("tokenizer.ggml.pre") ? f.get_string("tokenizer.ggml.pre") : std::string("gpt2");
  if (pre == "gpt2" || pre == "gpt-2" || pre == "smollm" || pre == "default")
    return {{"type", "ByteLevel"},
            {"add_prefix_space", f.has("tokenizer.ggml.add_space_prefix") &&
                                     f.get_bool("tokenizer.ggml.add_space_prefix")},
            {"trim_offsets", true},
            {"use_regex", true}};
  // LLaMA-3 and Qwen2 split the text by their own patterns first (numbers in runs of up to
  // three digits, or one digit each), then map bytes without the GPT-2 split.
  const char* pattern = nullptr;
  if (pre == "llama-bpe" || pre == "llama3")
    pattern =
        "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
        "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
  else if (pre == "qwen2")
    pattern =
        "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| "
        "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
  if (pattern)
    return {{"type", "Sequence"},
            {"pretokenizers",
             {{{"type", "Split"},
               {"pattern", {{"Regex", pattern}}},
               {"behavior", "Isolated"},
               {"invert", false}},
              {{"type", "ByteLevel"},
               {"add_prefix_space", false},
               {"trim_offsets", true},
               {"use_regex", false}}}}};
  fail(f.path(), ": tokenizer.ggml.pre '", pre,
       "' is not supported (GGUF pre-tokenizers read: gpt2, gpt-2, smollm, default, llama-bpe, "
       "qwen2)");
}

}  // namespace

json gguf_tokenizer_json(const GgufFile& f) {
  const std::string model = f.get_string("tokenizer.ggml.model");
  HS_CHECK(model == "gpt2", f.path(), ": tokenizer.ggml.model '", model,
           "' is not supported (only byte-level BPE, \"gpt2\")");
  const std::vector<std::string>& tokens = f.get_string_array("tokenizer.ggml.tokens");
  const std::vector<std::string>& merges = f.get_string_array("tokenizer.ggml.merges");
  const std::vector<int32_t> types = f.has("tokenizer.ggml.token_type")
                                         ? f.get_i32_array("tokenizer.ggml.token_type")
                                         : std::vector<int32_t>(tokens.size(), 1);
  HS_CHECK(types.size() == tokens.size(), f.path(), ": tokenizer.ggml.token_type has ",
           types.size(), " entries for ", tokens.size(), " tokens");
  json vocab = json::object();
  json added = json::array();
  for (size_t id = 0; id < tokens.size(); ++id) {
    HS_CHECK(vocab.find(tokens[id]) == vocab.end(), f.path(), ": token '", tokens[id],
             "' appears twice in tokenizer.ggml.tokens (ids ", vocab[tokens[id]].get<int64_t>(),
             " and ", id, ")");
    vocab[tokens[id]] = id;
    if (types[id] == kControl || types[id] == kUserDefined)
      added.push_back({{"id", id},
                       {"content", tokens[id]},
                       {"single_word", false},
                       {"lstrip", false},
                       {"rstrip", false},
                       {"normalized", types[id] == kUserDefined},
                       {"special", types[id] == kControl}});
  }
  json bpe = {{"type", "BPE"},        {"vocab", vocab},        {"merges", merges},
              {"dropout", nullptr},   {"fuse_unk", false},     {"byte_fallback", false},
              {"unk_token", nullptr}, {"ignore_merges", false}};
  return {{"model", bpe},
          {"added_tokens", added},
          {"normalizer", nullptr},
          {"pre_tokenizer", pre_tokenizer_of(f)},
          {"post_processor", nullptr},
          {"decoder",
           {{"type", "ByteLevel"},
            {"add_prefix_space", true},
            {"trim_offsets", true},
            {"use_regex", true}}}};
}

json gguf_tokenizer_config_json(const GgufFile& f) {
  const std::vector<std::string>& tokens = f.get_string_array("tokenizer.ggml.tokens");
  auto token = [&](const char* key) -> json {
    if (!f.has(key)) return nullptr;
    const uint32_t id = f.get_u32(key);
    HS_CHECK(id < tokens.size(), f.path(), ": ", key, " ", id, " is outside the vocabulary (",
             tokens.size(), " tokens)");
    return tokens[id];
  };
  json c = {{"bos_token", token("tokenizer.ggml.bos_token_id")},
            {"eos_token", token("tokenizer.ggml.eos_token_id")}};
  if (f.has("tokenizer.ggml.add_bos_token"))
    c["add_bos_token"] = f.get_bool("tokenizer.ggml.add_bos_token");
  if (f.has("tokenizer.ggml.add_eos_token"))
    c["add_eos_token"] = f.get_bool("tokenizer.ggml.add_eos_token");
  return c;
}

Tokenizer tokenizer_from_gguf(const std::string& path) {
  const GgufFile f(path);
  const json config = gguf_tokenizer_config_json(f);
  return Tokenizer::from_json(gguf_tokenizer_json(f), path + " (tokenizer.ggml.*)", &config,
                              path + " (tokenizer.ggml.*)");
}

}  // namespace hs

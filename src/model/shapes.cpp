#include "model/shapes.h"

#include <nlohmann/json.hpp>

#include "util/error.h"

namespace hs {
namespace {

using json = nlohmann::json;

struct NamedShape {
  const char* name;
  json config;  // the fields of the model's Hugging Face config.json that the engine reads
};

// OPT (Zhang et al., 2022, table 1; facebook/opt-* config.json): ffn = 4 * hidden, head_dim 128
// (64 for the two smallest), vocabulary 50272, 2048 learned positions, pre-LayerNorm, biases.
json opt(int64_t hidden, int64_t layers, int64_t heads) {
  return {{"model_type", "opt"},
          {"hidden_size", hidden},
          {"num_hidden_layers", layers},
          {"num_attention_heads", heads},
          {"ffn_dim", 4 * hidden},
          {"vocab_size", 50272},
          {"max_position_embeddings", 2048},
          {"word_embed_proj_dim", hidden},
          {"do_layer_norm_before", true},
          {"enable_bias", true},
          {"activation_function", "relu"},
          {"tie_word_embeddings", true},
          {"bos_token_id", 2},
          {"eos_token_id", 2},
          {"torch_dtype", "float16"}};
}

// Llama 2 (meta-llama/Llama-2-*-hf config.json): vocabulary 32000, 4096 positions, RoPE theta
// 10000, untied head; the 70B model uses grouped-query attention with 8 K/V heads.
json llama2(int64_t hidden, int64_t layers, int64_t heads, int64_t kv_heads, int64_t ffn) {
  return {{"model_type", "llama"},
          {"hidden_size", hidden},
          {"num_hidden_layers", layers},
          {"num_attention_heads", heads},
          {"num_key_value_heads", kv_heads},
          {"intermediate_size", ffn},
          {"vocab_size", 32000},
          {"max_position_embeddings", 4096},
          {"rms_norm_eps", 1e-5},
          {"rope_theta", 10000.0},
          {"hidden_act", "silu"},
          {"tie_word_embeddings", false},
          {"bos_token_id", 1},
          {"eos_token_id", 2},
          {"torch_dtype", "float16"}};
}

// Llama 3 (meta-llama/Meta-Llama-3-*B config.json): vocabulary 128256, 8192 positions, RoPE
// theta 500000, 8 K/V heads at every size, untied head.
json llama3(int64_t hidden, int64_t layers, int64_t heads, int64_t ffn) {
  return {{"model_type", "llama"},       {"hidden_size", hidden},
          {"num_hidden_layers", layers}, {"num_attention_heads", heads},
          {"num_key_value_heads", 8},    {"intermediate_size", ffn},
          {"vocab_size", 128256},        {"max_position_embeddings", 8192},
          {"rms_norm_eps", 1e-5},        {"rope_theta", 500000.0},
          {"hidden_act", "silu"},        {"tie_word_embeddings", false},
          {"bos_token_id", 128000},      {"eos_token_id", 128001},
          {"torch_dtype", "bfloat16"}};
}

const std::vector<NamedShape>& shapes() {
  static const std::vector<NamedShape> all = {
      {"opt-125m", opt(768, 12, 12)},
      {"opt-1.3b", opt(2048, 24, 32)},
      {"opt-2.7b", opt(2560, 32, 32)},
      {"opt-6.7b", opt(4096, 32, 32)},
      {"opt-13b", opt(5120, 40, 40)},
      {"opt-30b", opt(7168, 48, 56)},
      {"opt-66b", opt(9216, 64, 72)},
      {"opt-175b", opt(12288, 96, 96)},
      {"llama-2-7b", llama2(4096, 32, 32, 32, 11008)},
      {"llama-2-13b", llama2(5120, 40, 40, 40, 13824)},
      {"llama-2-70b", llama2(8192, 80, 64, 8, 28672)},
      {"llama-3-8b", llama3(4096, 32, 32, 14336)},
      {"llama-3-70b", llama3(8192, 80, 64, 28672)},
  };
  return all;
}

}  // namespace

ModelConfig model_shape(const std::string& name) {
  for (const auto& s : shapes())
    if (name == s.name) {
      // Through the config.json parser, so a named shape gets exactly the derived fields
      // (head_dim, biases, position offset) a downloaded model of that name would get.
      ModelConfig c = parse_model_config(s.config, "model shape '" + name + "'");
      return c;
    }
  std::string names;
  for (const auto& s : shapes()) names += std::string(names.empty() ? "" : ", ") + s.name;
  fail("unknown model shape '", name, "' (known shapes: ", names, ")");
}

std::vector<std::string> model_shape_names() {
  std::vector<std::string> v;
  for (const auto& s : shapes()) v.push_back(s.name);
  return v;
}

}  // namespace hs

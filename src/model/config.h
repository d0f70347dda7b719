// The model description the engine needs, read from a Hugging Face config.json.
// Families: OPT (model_type "opt") and LLaMA-style (model_type "llama", "mistral", "qwen2").
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace hs {

enum class Family { opt, llama };
enum class NormKind { layernorm, rmsnorm };
enum class FfnKind { relu, swiglu };  // OPT: fc2(relu(fc1 x)); LLaMA: down(silu(gate x) * up x)

struct ModelConfig {
  std::string model_type;  // as written in config.json
  Family family = Family::opt;
  NormKind norm = NormKind::layernorm;
  FfnKind ffn = FfnKind::relu;

  int64_t vocab_size = 0;
  int64_t hidden = 0;  // residual stream width
  int64_t n_layers = 0;
  int64_t n_heads = 0;
  int64_t n_kv_heads = 0;  // == n_heads without grouped-query attention
  int64_t head_dim = 0;
  int64_t ffn_dim = 0;        // OPT ffn_dim, LLaMA intermediate_size
  int64_t max_positions = 0;  // longest prompt + generation the model supports

  float norm_eps = 1e-5f;
  bool pre_norm = true;        // OPT do_layer_norm_before; always true for LLaMA
  bool qkv_bias = false;       // OPT: true; qwen2: true; llama: attention_bias
  bool o_bias = false;         // OPT: true; llama: attention_bias
  bool mlp_bias = false;       // OPT: true; llama: mlp_bias
  bool tie_embeddings = true;  // lm_head shares the token embedding matrix

  // OPT only.
  int64_t word_embed_proj_dim = 0;  // == hidden unless project_in/out exist
  int64_t position_offset = 0;      // OPT's learned positions start at index 2

  // LLaMA only.
  float rope_theta = 10000.f;

  int32_t bos_token_id = -1;
  std::vector<int32_t> eos_token_ids;  // generation stops at any of these
  std::string torch_dtype;             // informational ("float16", ...)

  int64_t q_dim() const { return n_heads * head_dim; }
  int64_t kv_dim() const { return n_kv_heads * head_dim; }
  int64_t embed_dim() const { return word_embed_proj_dim; }
  bool has_projections() const { return family == Family::opt && word_embed_proj_dim != hidden; }
  // The final norm: LLaMA always; OPT only with do_layer_norm_before.
  bool has_final_norm() const { return family == Family::llama || pre_norm; }
};

// Parses and validates a config.json object; `source` names the file in error messages.
ModelConfig parse_model_config(const nlohmann::json& j, const std::string& source);
// Reads dir/config.json (and generation_config.json for EOS ids, if present).
ModelConfig load_model_config(const std::string& model_dir);

}  // namespace hs

#include "model/config.h"

#include "model/gguf_model.h"

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "util/error.h"

namespace hs {
namespace {

using json = nlohmann::json;

// Reads a required positive integer field.
int64_t need_int(const json& j, const char* key, const std::string& src) {
  HS_CHECK(j.contains(key), src, ": missing required field '", key, "'");
  const json& v = j.at(key);
  HS_CHECK(v.is_number_integer(), src, ": field '", key, "' must be an integer, got ", v.dump());
  const int64_t x = v.get<int64_t>();
  HS_CHECK(x > 0 && x < (int64_t(1) << 31), src, ": field '", key, "' = ", x, " is out of range");
  return x;
}

int64_t opt_int(const json& j, const char* key, int64_t dflt, const std::string& src) {
  if (!j.contains(key) || j.at(key).is_null()) return dflt;
  return need_int(j, key, src);
}

bool opt_bool(const json& j, const char* key, bool dflt, const std::string& src) {
  if (!j.contains(key) || j.at(key).is_null()) return dflt;
  HS_CHECK(j.at(key).is_boolean(), src, ": field '", key, "' must be true or false");
  return j.at(key).get<bool>();
}

double opt_num(const json& j, const char* key, double dflt, const std::string& src) {
  if (!j.contains(key) || j.at(key).is_null()) return dflt;
  HS_CHECK(j.at(key).is_number(), src, ": field '", key, "' must be a number");
  return j.at(key).get<double>();
}

// eos_token_id may be an int or a list of ints.
std::vector<int32_t> token_ids(const json& j, const char* key, const std::string& src) {
  std::vector<int32_t> ids;
  if (!j.contains(key) || j.at(key).is_null()) return ids;
  const json& v = j.at(key);
  auto one = [&](const json& x) {
    HS_CHECK(x.is_number_integer() && x.get<int64_t>() >= 0 && x.get<int64_t>() < (1ll << 31), src,
             ": field '", key, "' must hold non-negative token ids, got ", x.dump());
    ids.push_back(x.get<int32_t>());
  };
  if (v.is_array()) {
    for (const auto& x : v) one(x);
  } else {
    one(v);
  }
  return ids;
}

void parse_opt(const json& j, const std::string& src, ModelConfig& c) {
  c.family = Family::opt;
  c.norm = NormKind::layernorm;
  c.ffn = FfnKind::relu;
  c.hidden = need_int(j, "hidden_size", src);
  c.n_layers = need_int(j, "num_hidden_layers", src);
  c.n_heads = need_int(j, "num_attention_heads", src);
  c.n_kv_heads = c.n_heads;
  c.ffn_dim = need_int(j, "ffn_dim", src);
  c.max_positions = need_int(j, "max_position_embeddings", src);
  HS_CHECK(c.hidden % c.n_heads == 0, src, ": hidden_size ", c.hidden,
           " is not divisible by num_attention_heads ", c.n_heads);
  c.head_dim = c.hidden / c.n_heads;
  c.pre_norm = opt_bool(j, "do_layer_norm_before", true, src);
  c.word_embed_proj_dim = opt_int(j, "word_embed_proj_dim", c.hidden, src);
  c.qkv_bias = c.o_bias = c.mlp_bias = opt_bool(j, "enable_bias", true, src);
  c.norm_eps = 1e-5f;  // nn.LayerNorm default, which OPT uses
  c.position_offset = 2;
  const std::string act = j.value("activation_function", std::string("relu"));
  HS_CHECK(act == "relu", src, ": activation_function '", act,
           "' is not supported for OPT (only relu)");
  HS_CHECK(opt_bool(j, "layer_norm_elementwise_affine", true, src), src,
           ": layer_norm_elementwise_affine=false is not supported");
  HS_CHECK(!opt_bool(j, "_remove_final_layer_norm", false, src), src,
           ": _remove_final_layer_norm=true is not supported");
}

void parse_llama(const json& j, const std::string& src, ModelConfig& c) {
  c.family = Family::llama;
  c.norm = NormKind::rmsnorm;
  c.ffn = FfnKind::swiglu;
  c.pre_norm = true;
  c.hidden = need_int(j, "hidden_size", src);
  c.n_layers = need_int(j, "num_hidden_layers", src);
  c.n_heads = need_int(j, "num_attention_heads", src);
  c.n_kv_heads = opt_int(j, "num_key_value_heads", c.n_heads, src);
  HS_CHECK(c.n_heads % c.n_kv_heads == 0, src, ": num_attention_heads ", c.n_heads,
           " is not a multiple of num_key_value_heads ", c.n_kv_heads);
  c.ffn_dim = need_int(j, "intermediate_size", src);
  c.max_positions = need_int(j, "max_position_embeddings", src);
  if (j.contains("head_dim") && !j.at("head_dim").is_null()) {
    c.head_dim = need_int(j, "head_dim", src);
  } else {
    HS_CHECK(c.hidden % c.n_heads == 0, src, ": hidden_size ", c.hidden,
             " is not divisible by num_attention_heads ", c.n_heads, " and head_dim is not given");
    c.head_dim = c.hidden / c.n_heads;
  }
  HS_CHECK(c.head_dim % 2 == 0, src, ": head_dim ", c.head_dim, " must be even for RoPE");
  c.word_embed_proj_dim = c.hidden;
  c.norm_eps = static_cast<float>(opt_num(j, "rms_norm_eps", 1e-6, src));
  c.rope_theta = static_cast<float>(opt_num(j, "rope_theta", 10000.0, src));
  if (j.contains("rope_parameters") && j.at("rope_parameters").is_object()) {
    // Newer transformers write rope_theta inside rope_parameters.
    const json& rp = j.at("rope_parameters");
    c.rope_theta = static_cast<float>(opt_num(rp, "rope_theta", c.rope_theta, src));
    const std::string type = rp.value("rope_type", std::string("default"));
    HS_CHECK(type == "default", src, ": rope_parameters.rope_type '", type,
             "' is not supported (only default RoPE)");
  }
  if (j.contains("rope_scaling") && !j.at("rope_scaling").is_null()) {
    const json& rs = j.at("rope_scaling");
    std::string type = rs.is_object() ? rs.value("rope_type", rs.value("type", std::string("?")))
                                      : std::string("?");
    HS_CHECK(type == "default", src, ": rope_scaling type '", type,
             "' is not supported (only unscaled RoPE)");
  }
  const std::string act = j.value("hidden_act", std::string("silu"));
  HS_CHECK(act == "silu", src, ": hidden_act '", act, "' is not supported (only silu)");
  const bool attention_bias = opt_bool(j, "attention_bias", false, src);
  c.qkv_bias = attention_bias || c.model_type == "qwen2";
  c.o_bias = attention_bias;
  c.mlp_bias = opt_bool(j, "mlp_bias", false, src);
  if (c.model_type == "mistral" || c.model_type == "qwen2") {
    // A sliding window only matters once a sequence is longer than the window.
    const bool sliding = c.model_type == "mistral" || opt_bool(j, "use_sliding_window", false, src);
    const int64_t window = opt_int(j, "sliding_window", 0, src);
    if (sliding && window > 0 && window < c.max_positions) c.max_positions = window;
  }
}

}  // namespace

ModelConfig parse_model_config(const json& j, const std::string& src) {
  HS_CHECK(j.is_object(), src, ": expected a JSON object");
  HS_CHECK(j.contains("model_type") && j.at("model_type").is_string(), src,
           ": missing 'model_type'");
  ModelConfig c;
  c.model_type = j.at("model_type").get<std::string>();
  if (c.model_type == "opt") {
    parse_opt(j, src, c);
  } else if (c.model_type == "llama" || c.model_type == "mistral" || c.model_type == "qwen2") {
    parse_llama(j, src, c);
  } else {
    fail(src, ": model_type '", c.model_type, "' is not supported (opt, llama, mistral, qwen2)");
  }
  c.vocab_size = need_int(j, "vocab_size", src);
  HS_CHECK(c.norm_eps > 0.f, src, ": the norm epsilon must be positive");
  c.tie_embeddings = opt_bool(j, "tie_word_embeddings", true, src);
  const auto bos = token_ids(j, "bos_token_id", src);
  c.bos_token_id = bos.empty() ? -1 : bos.front();
  c.eos_token_ids = token_ids(j, "eos_token_id", src);
  for (int32_t id : c.eos_token_ids)
    HS_CHECK(id < c.vocab_size, src, ": eos_token_id ", id, " is outside the vocabulary (",
             c.vocab_size, ")");
  if (j.contains("torch_dtype") && j.at("torch_dtype").is_string())
    c.torch_dtype = j.at("torch_dtype").get<std::string>();
  else if (j.contains("dtype") && j.at("dtype").is_string())
    c.torch_dtype = j.at("dtype").get<std::string>();
  return c;
}

ModelConfig load_model_config(const std::string& model_dir) {
  namespace fs = std::filesystem;
  if (is_gguf_path(model_dir)) return load_gguf_config(model_dir);
  const fs::path path = fs::path(model_dir) / "config.json";
  HS_CHECK(fs::is_directory(model_dir), "model directory '", model_dir, "' does not exist");
  std::ifstream f(path);
  HS_CHECK(f.good(), path.string(), ": cannot open (is this a Hugging Face model directory?)");
  json j;
  try {
    j = json::parse(f);
  } catch (const json::exception& e) {
    fail(path.string(), ": invalid JSON: ", e.what());
  }
  ModelConfig c = parse_model_config(j, path.string());
  // generation_config.json may name other EOS ids than config.json.
  const fs::path gen = fs::path(model_dir) / "generation_config.json";
  std::ifstream g(gen);
  if (g.good()) {
    json gj = json::parse(g, nullptr, /*allow_exceptions=*/false);
    HS_CHECK(!gj.is_discarded() && gj.is_object(), gen.string(), ": invalid JSON");
    auto eos = token_ids(gj, "eos_token_id", gen.string());
    for (int32_t id : eos)
      HS_CHECK(id < c.vocab_size, gen.string(), ": eos_token_id ", id,
               " is outside the vocabulary (", c.vocab_size, ")");
    if (!eos.empty()) c.eos_token_ids = eos;
  }
  return c;
}

}  // namespace hs

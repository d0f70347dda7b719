#include "model/weights.h"

#include "model/gguf_model.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "model/safetensors.h"
#include "util/error.h"

namespace hs {

int64_t PartSpec::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::vector<PartSpec> layer_parts(const ModelConfig& c, int layer) {
  std::vector<PartSpec> v;
  const int64_t h = c.hidden, q = c.q_dim(), kv = c.kv_dim(), f = c.ffn_dim;
  auto add = [&](Part p, const std::string& name, std::vector<int64_t> shape) {
    v.push_back({p, layer, name, std::move(shape)});
  };
  if (c.family == Family::opt) {
    const std::string l = "model.decoder.layers." + std::to_string(layer) + ".";
    add(Part::attn_norm_w, l + "self_attn_layer_norm.weight", {h});
    add(Part::attn_norm_b, l + "self_attn_layer_norm.bias", {h});
    add(Part::q_w, l + "self_attn.q_proj.weight", {q, h});
    if (c.qkv_bias) add(Part::q_b, l + "self_attn.q_proj.bias", {q});
    add(Part::k_w, l + "self_attn.k_proj.weight", {kv, h});
    if (c.qkv_bias) add(Part::k_b, l + "self_attn.k_proj.bias", {kv});
    add(Part::v_w, l + "self_attn.v_proj.weight", {kv, h});
    if (c.qkv_bias) add(Part::v_b, l + "self_attn.v_proj.bias", {kv});
    add(Part::o_w, l + "self_attn.out_proj.weight", {h, q});
    if (c.o_bias) add(Part::o_b, l + "self_attn.out_proj.bias", {h});
    add(Part::ffn_norm_w, l + "final_layer_norm.weight", {h});
    add(Part::ffn_norm_b, l + "final_layer_norm.bias", {h});
    add(Part::ffn_in_w, l + "fc1.weight", {f, h});
    if (c.mlp_bias) add(Part::ffn_in_b, l + "fc1.bias", {f});
    add(Part::ffn_out_w, l + "fc2.weight", {h, f});
    if (c.mlp_bias) add(Part::ffn_out_b, l + "fc2.bias", {h});
  } else {
    const std::string l = "model.layers." + std::to_string(layer) + ".";
    add(Part::attn_norm_w, l + "input_layernorm.weight", {h});
    add(Part::q_w, l + "self_attn.q_proj.weight", {q, h});
    if (c.qkv_bias) add(Part::q_b, l + "self_attn.q_proj.bias", {q});
    add(Part::k_w, l + "self_attn.k_proj.weight", {kv, h});
    if (c.qkv_bias) add(Part::k_b, l + "self_attn.k_proj.bias", {kv});
    add(Part::v_w, l + "self_attn.v_proj.weight", {kv, h});
    if (c.qkv_bias) add(Part::v_b, l + "self_attn.v_proj.bias", {kv});
    add(Part::o_w, l + "self_attn.o_proj.weight", {h, q});
    if (c.o_bias) add(Part::o_b, l + "self_attn.o_proj.bias", {h});
    add(Part::ffn_norm_w, l + "post_attention_layernorm.weight", {h});
    add(Part::ffn_in_w, l + "mlp.gate_proj.weight", {f, h});
    if (c.mlp_bias) add(Part::ffn_in_b, l + "mlp.gate_proj.bias", {f});
    add(Part::ffn_up_w, l + "mlp.up_proj.weight", {f, h});
    add(Part::ffn_out_w, l + "mlp.down_proj.weight", {h, f});
    if (c.mlp_bias) add(Part::ffn_out_b, l + "mlp.down_proj.bias", {h});
  }
  return v;
}

std::vector<PartSpec> global_parts(const ModelConfig& c) {
  std::vector<PartSpec> v;
  const int64_t e = c.embed_dim();
  auto add = [&](Part p, const std::string& name, std::vector<int64_t> shape) {
    v.push_back({p, -1, name, std::move(shape)});
  };
  if (c.family == Family::opt) {
    add(Part::tok_embed, "model.decoder.embed_tokens.weight", {c.vocab_size, e});
    add(Part::pos_embed, "model.decoder.embed_positions.weight",
        {c.max_positions + c.position_offset, c.hidden});
    if (c.has_projections()) {
      add(Part::project_in, "model.decoder.project_in.weight", {c.hidden, e});
      add(Part::project_out, "model.decoder.project_out.weight", {e, c.hidden});
    }
    if (c.has_final_norm()) {
      add(Part::final_norm_w, "model.decoder.final_layer_norm.weight", {c.hidden});
      add(Part::final_norm_b, "model.decoder.final_layer_norm.bias", {c.hidden});
    }
  } else {
    add(Part::tok_embed, "model.embed_tokens.weight", {c.vocab_size, e});
    add(Part::final_norm_w, "model.norm.weight", {c.hidden});
  }
  if (!c.tie_embeddings) add(Part::lm_head, "lm_head.weight", {c.vocab_size, e});
  return v;
}

const PartSpec* find_part(const std::vector<PartSpec>& specs, Part p) {
  for (const auto& s : specs)
    if (s.part == p) return &s;
  return nullptr;
}

namespace {

class FileWeights final : public WeightSource {
 public:
  explicit FileWeights(const std::string& dir) : cfg_(load_model_config(dir)), store_(dir) {
    // Older OPT checkpoints name tensors "decoder.*" instead of "model.decoder.*".
    strip_model_prefix_ = cfg_.family == Family::opt &&
                          !store_.has("model.decoder.embed_tokens.weight") &&
                          store_.has("decoder.embed_tokens.weight");
    // Check every tensor up front: a model that fails to load fails before any work starts.
    for (const auto& s : global_parts(cfg_)) view(s);
    for (int l = 0; l < cfg_.n_layers; ++l)
      for (const auto& s : layer_parts(cfg_, l)) view(s);
  }

  const ModelConfig& config() const override { return cfg_; }
  std::string origin() const override { return store_.dir(); }

  void read(const PartSpec& spec, DType to, void* dst) const override {
    read_tensor(view(spec), to, dst);
  }

 private:
  const TensorView& view(const PartSpec& s) const {
    std::string name = s.name;
    if (strip_model_prefix_ && name.rfind("model.", 0) == 0) name = name.substr(6);
    return store_.get(name, s.shape);
  }

  ModelConfig cfg_;
  TensorStore store_;
  bool strip_model_prefix_ = false;
};

// Dummy weights: a fixed table of seeded random values tiled over each tensor (generating every
// element afresh would take minutes for a 30B model). Matrices get values of about
// 1/sqrt(fan_in) so activations stay bounded; norm weights are near 1.
class DummyWeights final : public WeightSource {
 public:
  DummyWeights(const ModelConfig& c, uint64_t seed) : cfg_(c) {
    table_.resize(kTable);
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
    for (auto& x : table_) {
      s += 0x9E3779B97F4A7C15ull;
      uint64_t z = s;
      z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
      z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
      z ^= z >> 31;
      x = static_cast<float>((z >> 11) * 0x1.0p-53) * 2.f - 1.f;  // uniform [-1, 1)
    }
  }
  const ModelConfig& config() const override { return cfg_; }
  std::string origin() const override { return "dummy weights (" + cfg_.model_type + ")"; }

  void read(const PartSpec& spec, DType to, void* dst) const override {
    const int64_t n = spec.numel();
    const bool is_norm = spec.part == Part::attn_norm_w || spec.part == Part::ffn_norm_w ||
                         spec.part == Part::final_norm_w;
    const float scale = spec.shape.size() == 2 ? 1.f / std::sqrt(float(spec.shape[1])) : 0.02f;
    std::vector<float> chunk(kTable);
    const size_t offset =
        (static_cast<size_t>(spec.part) * 7919 + (spec.layer + 1) * 104729) % kTable;
    for (size_t i = 0; i < kTable; ++i) {
      const float r = table_[(i + offset) % kTable];
      chunk[i] = is_norm ? 1.f + 0.1f * r : scale * r;
    }
    auto* out = static_cast<unsigned char*>(dst);
    const size_t elem = dtype_bytes(to);
    std::vector<unsigned char> conv(kTable * elem);
    convert(DType::f32, chunk.data(), to, conv.data(), kTable);
    for (int64_t i = 0; i < n; i += kTable) {
      const size_t m = static_cast<size_t>(std::min<int64_t>(kTable, n - i));
      std::memcpy(out + i * elem, conv.data(), m * elem);
    }
  }

 private:
  static constexpr size_t kTable = 1 << 16;
  ModelConfig cfg_;
  std::vector<float> table_;
};

}  // namespace

std::unique_ptr<WeightSource> open_model_dir(const std::string& dir) {
  if (is_gguf_path(dir)) return open_gguf_model(dir);
  return std::make_unique<FileWeights>(dir);
}

std::unique_ptr<WeightSource> dummy_weights(const ModelConfig& c, uint64_t seed) {
  return std::make_unique<DummyWeights>(c, seed);
}

}  // namespace hs

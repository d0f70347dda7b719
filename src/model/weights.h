// Where a model's weights come from, part by part: a Hugging Face directory of safetensors, or
// dummy (seeded random) weights of a named shape for benchmarks. The engine and the reference
// ask for one part at a time, in the element type they store it in.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "model/config.h"
#include "util/dtype.h"

namespace hs {

// The roles a tensor plays. Per-layer parts first, then the model-wide ones.
enum class Part {
  // per layer
  attn_norm_w,
  attn_norm_b,  // OPT self_attn_layer_norm / LLaMA input_layernorm
  q_w,
  q_b,
  k_w,
  k_b,
  v_w,
  v_b,
  o_w,
  o_b,
  ffn_norm_w,
  ffn_norm_b,  // OPT final_layer_norm (per layer) / LLaMA post_attention_layernorm
  ffn_in_w,
  ffn_in_b,  // OPT fc1 / LLaMA gate_proj
  ffn_up_w,  // LLaMA up_proj
  ffn_out_w,
  ffn_out_b,  // OPT fc2 / LLaMA down_proj
  // model-wide
  tok_embed,    // [vocab, embed_dim]
  pos_embed,    // OPT learned positions [max_positions + 2, hidden]
  project_in,   // OPT [hidden, embed_dim] when word_embed_proj_dim != hidden
  project_out,  // OPT [embed_dim, hidden]
  final_norm_w,
  final_norm_b,
  lm_head,  // [vocab, embed_dim]; absent when tied to tok_embed
};

struct PartSpec {
  Part part;
  int layer;         // -1 for model-wide parts
  std::string name;  // the Hugging Face tensor name, e.g. model.layers.3.mlp.up_proj.weight
  std::vector<int64_t> shape;  // PyTorch layout: Linear weights are [out_features, in_features]

  int64_t numel() const;
};

// The parts layer `layer` of this model has, in a fixed order.
std::vector<PartSpec> layer_parts(const ModelConfig& c, int layer);
// The model-wide parts this model has (lm_head only when untied).
std::vector<PartSpec> global_parts(const ModelConfig& c);
// Finds a part's spec (nullptr if this model has no such part).
const PartSpec* find_part(const std::vector<PartSpec>& specs, Part p);

enum class WeightFormat;  // model/quant.h

class WeightSource {
 public:
  virtual ~WeightSource() = default;
  virtual const ModelConfig& config() const = 0;
  // Writes spec.numel() elements of type `to` to dst.
  virtual void read(const PartSpec& spec, DType to, void* dst) const = 0;
  // Where the source holds the part compressed in a way format f (with this group) can hold
  // exactly, writes it in f's layout (model/quant.h) and returns true: the weights as stored,
  // not quantised again. False (the default): the caller quantises what read() gives.
  virtual bool read_stored(const PartSpec& spec, WeightFormat f, int64_t group, void* dst) const {
    (void)spec, (void)f, (void)group, (void)dst;
    return false;
  }
  // Human-readable origin ("tests/models/opt-tiny", "dummy opt-13b").
  virtual std::string origin() const = 0;
};

// Opens a Hugging Face model directory and checks, before anything runs, that every tensor the
// model needs exists with the right shape (errors name the file and tensor).
std::unique_ptr<WeightSource> open_model_dir(const std::string& dir);

// Seeded random weights of the given shape (no files): for benchmarks and planner runs.
std::unique_ptr<WeightSource> dummy_weights(const ModelConfig& c, uint64_t seed = 1);

}  // namespace hs

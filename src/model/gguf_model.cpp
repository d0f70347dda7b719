#include "model/gguf_model.h"

#include <cstring>
#include <filesystem>
#include <vector>

#include "model/gguf.h"
#include "model/gguf_dequant.h"
#include "model/quant.h"
#include "util/dtype.h"
#include "util/error.h"

namespace hs {
namespace {

using json = nlohmann::json;

// The metadata of a llama GGUF as the keys of a Hugging Face config.json.
json config_of(const GgufFile& f) {
  const std::string arch = f.get_string("general.architecture");
  HS_CHECK(arch == "llama", f.path(), ": general.architecture '", arch,
           "' is not supported (GGUF models: llama)");
  auto key = [&](const char* k) { return "llama." + std::string(k); };
  json j;
  j["model_type"] = "llama";
  j["hidden_size"] = f.get_u64(key("embedding_length"));
  j["num_hidden_layers"] = f.get_u64(key("block_count"));
  j["num_attention_heads"] = f.get_u64(key("attention.head_count"));
  j["num_key_value_heads"] = f.has(key("attention.head_count_kv"))
                                 ? f.get_u64(key("attention.head_count_kv"))
                                 : f.get_u64(key("attention.head_count"));
  j["intermediate_size"] = f.get_u64(key("feed_forward_length"));
  j["max_position_embeddings"] = f.get_u64(key("context_length"));
  j["rms_norm_eps"] = f.get_f32(key("attention.layer_norm_rms_epsilon"));
  if (f.has(key("rope.freq_base"))) j["rope_theta"] = f.get_f32(key("rope.freq_base"));
  if (f.has(key("rope.dimension_count"))) j["head_dim"] = f.get_u64(key("rope.dimension_count"));
  HS_CHECK(!f.has(key("rope.scaling.type")) || f.get_string(key("rope.scaling.type")) == "none",
           f.path(), ": RoPE scaling is not supported (only unscaled RoPE)");
  j["vocab_size"] = f.has(key("vocab_size")) ? f.get_u64(key("vocab_size"))
                    : f.has("tokenizer.ggml.tokens")
                        ? static_cast<uint64_t>(f.get_string_array("tokenizer.ggml.tokens").size())
                        : static_cast<uint64_t>(f.tensor("token_embd.weight").dims.at(1));
  // Without an output matrix the head is the token embedding.
  j["tie_word_embeddings"] = f.find("output.weight") == nullptr;
  if (f.has("tokenizer.ggml.bos_token_id"))
    j["bos_token_id"] = f.get_u32("tokenizer.ggml.bos_token_id");
  if (f.has("tokenizer.ggml.eos_token_id"))
    j["eos_token_id"] = f.get_u32("tokenizer.ggml.eos_token_id");
  if (f.has("general.name")) j["_name_or_path"] = f.get_string("general.name");
  j["torch_dtype"] = "gguf";
  return j;
}

// The GGUF name of a part (llama.cpp's names).
std::string gguf_name(const PartSpec& s) {
  const std::string blk = "blk." + std::to_string(s.layer) + ".";
  switch (s.part) {
    case Part::attn_norm_w:
      return blk + "attn_norm.weight";
    case Part::q_w:
      return blk + "attn_q.weight";
    case Part::q_b:
      return blk + "attn_q.bias";
    case Part::k_w:
      return blk + "attn_k.weight";
    case Part::k_b:
      return blk + "attn_k.bias";
    case Part::v_w:
      return blk + "attn_v.weight";
    case Part::v_b:
      return blk + "attn_v.bias";
    case Part::o_w:
      return blk + "attn_output.weight";
    case Part::ffn_norm_w:
      return blk + "ffn_norm.weight";
    case Part::ffn_in_w:
      return blk + "ffn_gate.weight";
    case Part::ffn_up_w:
      return blk + "ffn_up.weight";
    case Part::ffn_out_w:
      return blk + "ffn_down.weight";
    case Part::tok_embed:
      return "token_embd.weight";
    case Part::final_norm_w:
      return "output_norm.weight";
    case Part::lm_head:
      return "output.weight";
    default:
      return "";
  }
}

class GgufWeights final : public WeightSource {
 public:
  explicit GgufWeights(const std::string& path)
      : file_(path), cfg_(parse_model_config(config_of(file_), path)) {
    // Every tensor the model needs, with its shape, before anything runs.
    for (const auto& s : global_parts(cfg_)) tensor_of(s);
    for (int l = 0; l < cfg_.n_layers; ++l)
      for (const auto& s : layer_parts(cfg_, l)) tensor_of(s);
  }

  const ModelConfig& config() const override { return cfg_; }
  std::string origin() const override { return file_.path(); }

  void read(const PartSpec& spec, DType to, void* dst) const override {
    const GgufTensor& t = tensor_of(spec);
    std::vector<float> values(static_cast<size_t>(t.numel()));
    dequantize(t, values.data());
    if (spec.part == Part::q_w || spec.part == Part::q_b)
      values = unpermute(values, cfg_.n_heads, t.numel() / (cfg_.n_heads * cfg_.head_dim));
    else if (spec.part == Part::k_w || spec.part == Part::k_b)
      values = unpermute(values, cfg_.n_kv_heads, t.numel() / (cfg_.n_kv_heads * cfg_.head_dim));
    convert(DType::f32, values.data(), to, dst, values.size());
  }

  // Q4_1 and Q4_0 blocks are int4 groups of 32 as they stand: 32 consecutive inputs of an
  // output row with an fp16 scale d and minimum m, x = d * q + m (Q4_0: m = -8 d, exact in
  // fp16). So int4 with groups of 32 takes them as stored (the codes repacked from the blocks'
  // nibble order, rows of Q and K put back in Hugging Face's order). They expand to what read()
  // gives: Q4_0 bit for bit (fma(q, d, -8 d) rounds d (q - 8) once, as read() does), Q4_1 up to
  // the last bit of an fp32 rounding (the expansion fuses read()'s multiply and add).
  bool read_stored(const PartSpec& spec, WeightFormat f, int64_t group, void* dst) const override {
    if (f != WeightFormat::int4 || group != 32 || spec.shape.size() != 2) return false;
    const GgufTensor& t = tensor_of(spec);
    const int64_t rows = part_rows(spec), cols = part_cols(spec), blocks = cols / 32;
    const bool q4_0 = t.type == GgufType::Q4_0;
    if ((!q4_0 && t.type != GgufType::Q4_1) || cols % 32 != 0) return false;
    const int64_t block_bytes = q4_0 ? 18 : 20;
    const bool permuted = spec.part == Part::q_w || spec.part == Part::k_w;
    const int64_t d = cfg_.head_dim, half = d / 2;
    auto* codes = static_cast<uint8_t*>(dst);
    auto* params = reinterpret_cast<uint16_t*>(codes + quantized_params_at(f, rows, cols));
    for (int64_t r = 0; r < rows; ++r) {
      // Hugging Face's row r = head h's row j * half + i is the file's row h * d + 2 i + j.
      const int64_t from = permuted ? (r / d) * d + 2 * (r % d % half) + r % d / half : r;
      const uint8_t* block = t.data + from * blocks * block_bytes;
      uint8_t* row = codes + r * (cols / 2);
      for (int64_t b = 0; b < blocks; ++b, block += block_bytes) {
        uint16_t* p = &params[(r * blocks + b) * 2];
        std::memcpy(&p[0], block, 2);  // d: the scale
        if (q4_0) {
          const float m = -8.f * f16_to_f32(p[0]);
          p[1] = f32_to_f16(m);
          if (f16_to_f32(p[1]) != m) return false;  // beyond fp16's range: not as stored
        } else {
          std::memcpy(&p[1], block + 2, 2);  // m: the minimum
        }
        const uint8_t* qs = block + (q4_0 ? 2 : 4);  // value j in qs[j]'s low nibble, j + 16 high
        uint8_t* out = row + b * 16;  // value 2k in out[k]'s low nibble, 2k + 1 in its high one
        for (int k = 0; k < 16; ++k) {
          auto value = [&](int j) { return j < 16 ? qs[j] & 15 : qs[j - 16] >> 4; };
          out[k] = static_cast<uint8_t>(value(2 * k) | value(2 * k + 1) << 4);
        }
      }
    }
    return true;
  }

 private:
  // The tensor of a part, checked against the part's shape. GGUF lists dims fastest first, so
  // a [out, in] matrix has dims {in, out}.
  const GgufTensor& tensor_of(const PartSpec& s) const {
    const std::string name = gguf_name(s);
    HS_CHECK(!name.empty(), file_.path(), ": this model needs a part GGUF files do not name (",
             s.name, ")");
    const GgufTensor& t = file_.tensor(name);
    std::vector<int64_t> want(s.shape.rbegin(), s.shape.rend());
    HS_CHECK(t.dims == want, file_.path(), ": tensor '", name, "' has dims ", t.dims_str(),
             ", expected ", shape_text(want), " for ", s.name);
    return t;
  }

  // Rows of each head back to Hugging Face's order (see the header): `cols` values a row.
  std::vector<float> unpermute(const std::vector<float>& in, int64_t heads, int64_t cols) const {
    const int64_t d = cfg_.head_dim, half = d / 2;
    std::vector<float> out(in.size());
    for (int64_t h = 0; h < heads; ++h)
      for (int64_t i = 0; i < half; ++i)
        for (int64_t j = 0; j < 2; ++j) {
          const float* src = &in[static_cast<size_t>(((h * d) + 2 * i + j) * cols)];
          float* dst = &out[static_cast<size_t>(((h * d) + j * half + i) * cols)];
          std::copy(src, src + cols, dst);
        }
    return out;
  }

  GgufFile file_;
  ModelConfig cfg_;
};

}  // namespace

bool is_gguf_path(const std::string& path) {
  std::error_code ec;
  return path.size() > 5 && path.compare(path.size() - 5, 5, ".gguf") == 0 &&
         std::filesystem::is_regular_file(path, ec);
}

json gguf_config_json(const std::string& path) {
  return config_of(GgufFile(path));
}

ModelConfig load_gguf_config(const std::string& path) {
  return parse_model_config(gguf_config_json(path), path);
}

std::unique_ptr<WeightSource> open_gguf_model(const std::string& path) {
  return std::make_unique<GgufWeights>(path);
}

}  // namespace hs

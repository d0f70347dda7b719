// A GGUF file as a model: tiny LLaMAs of tests/models written out as GGUF the way llama.cpp's
// converter lays them out (llama.cpp's tensor names, dims fastest first, the rows of each head
// of Q and K reordered for RoPE on adjacent pairs), then loaded through open_model_dir and
// load_model_config as `run` does: the config equals config.json's, and the greedy tokens equal
// the Hugging Face goldens of the original model, on the reference engine and the hybrid
// engine. And what is refused: another architecture, a missing tensor, a tensor of other dims.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "engine/engine.h"
#include "engine/factory.h"
#include "engine/reference.h"
#include "goldens.h"
#include "model/config.h"
#include "model/quant.h"
#include "model/safetensors.h"
#include "model/weights.h"
#include "test_support.h"
#include "util/dtype.h"
#include "util/error.h"

namespace hs {
namespace {

// Writes a GGUF v3 file: metadata (strings, u32, f32) and F32 tensors.
class GgufWriter {
 public:
  void meta_string(const std::string& k, const std::string& v) {
    key(k, 8);
    str(meta_, v);
    ++n_meta_;
  }
  void meta_u32(const std::string& k, uint32_t v) {
    key(k, 4);
    put(meta_, v);
    ++n_meta_;
  }
  void meta_f32(const std::string& k, float v) {
    key(k, 6);
    put(meta_, v);
    ++n_meta_;
  }
  // `shape` in PyTorch order; GGUF stores it reversed.
  void tensor(const std::string& name, const std::vector<int64_t>& shape,
              const std::vector<float>& values) {
    str(infos_, name);
    put(infos_, static_cast<uint32_t>(shape.size()));
    for (auto d = shape.rbegin(); d != shape.rend(); ++d) put(infos_, static_cast<uint64_t>(*d));
    put(infos_, uint32_t{0});  // F32
    while (data_.size() % 32) data_.push_back(0);
    put(infos_, static_cast<uint64_t>(data_.size()));
    const auto* p = reinterpret_cast<const char*>(values.data());
    data_.insert(data_.end(), p, p + values.size() * sizeof(float));
    ++n_tensors_;
  }
  // As Q4_0 (rows of whole 32-value blocks): per block an fp16 scale d = max|x| / 7, then the
  // codes q = round(x / d) + 8 in 0..15, value j in byte j's low nibble and j + 16 in its high.
  void tensor_q4_0(const std::string& name, const std::vector<int64_t>& shape,
                   const std::vector<float>& values) {
    str(infos_, name);
    put(infos_, static_cast<uint32_t>(shape.size()));
    for (auto d = shape.rbegin(); d != shape.rend(); ++d) put(infos_, static_cast<uint64_t>(*d));
    put(infos_, uint32_t{2});  // Q4_0
    while (data_.size() % 32) data_.push_back(0);
    put(infos_, static_cast<uint64_t>(data_.size()));
    for (size_t b = 0; b < values.size(); b += 32) {
      float amax = 0;
      for (size_t j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(values[b + j]));
      const uint16_t d16 = f32_to_f16(amax > 0 ? amax / 7 : 1);
      const float d = f16_to_f32(d16);
      put(data_, d16);
      auto code = [&](size_t j) {
        return static_cast<uint8_t>(std::clamp(std::nearbyint(values[b + j] / d) + 8, 0.f, 15.f));
      };
      for (size_t j = 0; j < 16; ++j)
        data_.push_back(static_cast<char>(code(j) | code(j + 16) << 4));
    }
    ++n_tensors_;
  }
  void write(const std::string& path) const {
    std::string out = "GGUF";
    put(out, uint32_t{3});
    put(out, n_tensors_);
    put(out, n_meta_);
    out += meta_ + infos_;
    while (out.size() % 32) out.push_back(0);
    out += data_;
    std::ofstream(path, std::ios::binary)
        .write(out.data(), static_cast<std::streamsize>(out.size()));
  }

 private:
  template <typename T>
  static void put(std::string& s, T v) {
    s.append(reinterpret_cast<const char*>(&v), sizeof v);
  }
  static void str(std::string& s, const std::string& v) {
    put(s, static_cast<uint64_t>(v.size()));
    s += v;
  }
  void key(const std::string& k, uint32_t type) {
    str(meta_, k);
    put(meta_, type);
  }
  std::string meta_, infos_, data_;
  uint64_t n_meta_ = 0, n_tensors_ = 0;
};

// llama.cpp's converter: the head's Hugging Face row j*(d/2) + i goes to row 2*i + j.
std::vector<float> permute_for_rope(const std::vector<float>& hf, int64_t heads, int64_t d,
                                    int64_t cols) {
  std::vector<float> out(hf.size());
  for (int64_t h = 0; h < heads; ++h)
    for (int64_t i = 0; i < d / 2; ++i)
      for (int64_t j = 0; j < 2; ++j)
        std::memcpy(&out[((h * d) + 2 * i + j) * cols], &hf[((h * d) + j * (d / 2) + i) * cols],
                    cols * sizeof(float));
  return out;
}

// The GGUF name of a Hugging Face LLaMA tensor ("" for one GGUF files do not hold).
std::string gguf_name_of(const std::string& hf) {
  static const std::map<std::string, std::string> layer = {
      {"input_layernorm.weight", "attn_norm.weight"},
      {"self_attn.q_proj.weight", "attn_q.weight"},
      {"self_attn.k_proj.weight", "attn_k.weight"},
      {"self_attn.v_proj.weight", "attn_v.weight"},
      {"self_attn.o_proj.weight", "attn_output.weight"},
      {"post_attention_layernorm.weight", "ffn_norm.weight"},
      {"mlp.gate_proj.weight", "ffn_gate.weight"},
      {"mlp.up_proj.weight", "ffn_up.weight"},
      {"mlp.down_proj.weight", "ffn_down.weight"}};
  if (hf == "model.embed_tokens.weight") return "token_embd.weight";
  if (hf == "model.norm.weight") return "output_norm.weight";
  if (hf == "lm_head.weight") return "output.weight";
  const std::string prefix = "model.layers.";
  if (hf.rfind(prefix, 0) != 0) return "";
  const size_t dot = hf.find('.', prefix.size());
  const auto it = layer.find(hf.substr(dot + 1));
  return it == layer.end()
             ? ""
             : "blk." + hf.substr(prefix.size(), dot - prefix.size()) + "." + it->second;
}

// tests/models/<model> as a GGUF file of F32 tensors (the layers' matrices as Q4_0 where
// `q4_0`); `skip` leaves one tensor out.
std::string to_gguf(const std::string& model, const std::string& arch = "llama",
                    const std::string& skip = "", bool bad_dims = false, bool q4_0 = false) {
  const std::string dir = test::data_path("models/" + model);
  const ModelConfig c = load_model_config(dir);
  GgufWriter w;
  w.meta_string("general.architecture", arch);
  w.meta_u32("llama.embedding_length", static_cast<uint32_t>(c.hidden));
  w.meta_u32("llama.block_count", static_cast<uint32_t>(c.n_layers));
  w.meta_u32("llama.attention.head_count", static_cast<uint32_t>(c.n_heads));
  w.meta_u32("llama.attention.head_count_kv", static_cast<uint32_t>(c.n_kv_heads));
  w.meta_u32("llama.feed_forward_length", static_cast<uint32_t>(c.ffn_dim));
  w.meta_u32("llama.context_length", static_cast<uint32_t>(c.max_positions));
  w.meta_u32("llama.rope.dimension_count", static_cast<uint32_t>(c.head_dim));
  w.meta_f32("llama.attention.layer_norm_rms_epsilon", c.norm_eps);
  w.meta_f32("llama.rope.freq_base", c.rope_theta);
  w.meta_u32("tokenizer.ggml.bos_token_id", static_cast<uint32_t>(c.bos_token_id));
  w.meta_u32("tokenizer.ggml.eos_token_id", static_cast<uint32_t>(c.eos_token_ids.at(0)));
  SafetensorsFile st(dir + "/model.safetensors");
  for (const auto& [name, view] : st.tensors()) {
    const std::string g = gguf_name_of(name);
    if (g.empty() || g == skip || (g == "output.weight" && c.tie_embeddings)) continue;
    std::vector<float> v(static_cast<size_t>(view.numel()));
    convert(view.dtype, view.data, DType::f32, v.data(), v.size());
    const int64_t cols = view.shape.size() == 2 ? view.shape[1] : 1;
    if (g.find("attn_q.") != std::string::npos)
      v = permute_for_rope(v, c.n_heads, c.head_dim, cols);
    if (g.find("attn_k.") != std::string::npos)
      v = permute_for_rope(v, c.n_kv_heads, c.head_dim, cols);
    std::vector<int64_t> shape = view.shape;
    if (bad_dims && g == "blk.0.ffn_up.weight") shape = {shape[1], shape[0]};
    if (q4_0 && shape.size() == 2 && g.rfind("blk.", 0) == 0)
      w.tensor_q4_0(g, shape, v);
    else
      w.tensor(g, shape, v);
  }
  const std::string path = test::temp_dir() + "/" + model + ".gguf";
  w.write(path);
  return path;
}

TEST(GgufModel, ConfigAsConfigJsonSaysIt) {
  for (const std::string model : {"llama-tiny", "llama-gqa"}) {
    const ModelConfig a = load_model_config(test::data_path("models/" + model));
    const ModelConfig b = load_model_config(to_gguf(model));
    EXPECT_EQ(b.family, Family::llama);
    EXPECT_EQ(b.hidden, a.hidden) << model;
    EXPECT_EQ(b.n_layers, a.n_layers);
    EXPECT_EQ(b.n_heads, a.n_heads);
    EXPECT_EQ(b.n_kv_heads, a.n_kv_heads);
    EXPECT_EQ(b.head_dim, a.head_dim);
    EXPECT_EQ(b.ffn_dim, a.ffn_dim);
    EXPECT_EQ(b.vocab_size, a.vocab_size);
    EXPECT_EQ(b.max_positions, a.max_positions);
    EXPECT_FLOAT_EQ(b.norm_eps, a.norm_eps);
    EXPECT_FLOAT_EQ(b.rope_theta, a.rope_theta);
    EXPECT_EQ(b.tie_embeddings, a.tie_embeddings);
    EXPECT_EQ(b.bos_token_id, a.bos_token_id);
    EXPECT_EQ(b.eos_token_ids, a.eos_token_ids);
  }
}

TEST(GgufModel, GreedyTokensEqualTheHfGoldensOfTheOriginal) {
  for (const std::string model : {"llama-tiny", "llama-gqa"}) {
    const test::Golden g = test::load_golden(model);
    auto weights = open_model_dir(to_gguf(model));
    const auto batch = test::golden_batch(g);
    const auto ref = ReferenceGenerator(*weights).generate(batch, SamplingParams{});
    EngineOptions o;
    o.workload = test::workload_of(batch);
    o.host_mem_gib = 1;
    const auto hybrid = make_generator(o, *weights, make_backend("cpu"))->generate(batch, {});
    for (size_t i = 0; i < g.cases.size(); ++i) {
      EXPECT_EQ(ref[i].output, g.cases[i].greedy) << model << " reference, case " << i;
      EXPECT_EQ(hybrid[i].output, g.cases[i].greedy) << model << " hybrid, case " << i;
    }
  }
}

// SmolLM2-135M-Instruct's Q4_1 file (tools/fetch_smollm2.sh, which tools/setup.sh runs): for
// int4 in groups of 32 its blocks are taken as stored, and expand to what read() gives, to the
// last bit of an fp32 rounding (the expansion fuses d * q + m); other formats and groups, and
// parts stored otherwise, are left to quantisation.
TEST(GgufModel, Q4_1BlocksAreInt4GroupsOf32AsStored) {
  const std::string path = std::string(HS_SOURCE_DIR) + "/models/SmolLM2-135M-Instruct.Q4_1.gguf";
  auto weights = open_model_dir(path);
  const ModelConfig& c = weights->config();
  int taken = 0;
  for (const PartSpec& s : layer_parts(c, 3)) {
    if (s.shape.size() != 2) continue;
    const int64_t rows = part_rows(s), cols = part_cols(s);
    std::vector<uint8_t> blob(
        static_cast<size_t>(quantized_bytes(WeightFormat::int4, rows, cols, 32, DType::f32)));
    EXPECT_FALSE(weights->read_stored(s, WeightFormat::int4, 64, blob.data())) << s.name;
    EXPECT_FALSE(weights->read_stored(s, WeightFormat::int8, 32, blob.data())) << s.name;
    if (!weights->read_stored(s, WeightFormat::int4, 32, blob.data())) continue;  // not Q4_1
    ++taken;
    std::vector<float> want(static_cast<size_t>(s.numel())), got(want.size());
    weights->read(s, DType::f32, want.data());
    dequantize_rows(WeightFormat::int4, blob.data(), rows, cols, 32, 0, rows, got.data());
    size_t off = 0;
    for (size_t i = 0; i < want.size(); ++i)
      off += std::fabs(got[i] - want[i]) > std::fabs(want[i]) * 1.2e-7f + 1e-30f;
    EXPECT_EQ(off, 0u) << s.name << ": values beyond one fp32 rounding of the file's";
  }
  EXPECT_GE(taken, 4);  // Q, K (rows put back in Hugging Face's order), V, O at least
}

// A file of Q4_0 matrices: int4 in groups of 32 takes them as stored and expands them to what
// read() gives, bit for bit, so the engine streaming them compressed gives the reference
// engine's tokens and logits on the file, bit for bit.
TEST(GgufModel, Q4_0BlocksStreamAsStoredBitForBit) {
  const std::string path = to_gguf("llama-tiny", "llama", "", false, /*q4_0=*/true);
  auto weights = open_model_dir(path);
  int taken = 0;
  for (const PartSpec& s : layer_parts(weights->config(), 1)) {
    if (s.shape.size() != 2) continue;
    const int64_t rows = part_rows(s), cols = part_cols(s);
    std::vector<uint8_t> blob(
        static_cast<size_t>(quantized_bytes(WeightFormat::int4, rows, cols, 32, DType::f32)));
    ASSERT_TRUE(weights->read_stored(s, WeightFormat::int4, 32, blob.data())) << s.name;
    ++taken;
    std::vector<float> want(static_cast<size_t>(s.numel())), got(want.size());
    weights->read(s, DType::f32, want.data());
    dequantize_rows(WeightFormat::int4, blob.data(), rows, cols, 32, 0, rows, got.data());
    EXPECT_EQ(got, want) << s.name;
  }
  EXPECT_EQ(taken, 7);  // q, k, v, o, gate, up, down

  const test::Golden g = test::load_golden("llama-tiny");
  const auto batch = test::golden_batch(g);
  Plan plan = test::hand_plan(Policy::kv, 0, 0, 0, 2);  // every layer streamed
  plan.weight_format = WeightFormat::int4;
  plan.quant_group = 32;
  auto backend = make_backend("cpu");
  HybridEngine engine(*weights, *backend, plan, test::workload_of(batch));
  test::LogitsRows got, want;
  engine.set_logits_observer(test::record_logits(got));
  const auto out = engine.generate(batch, SamplingParams{});
  ReferenceGenerator ref(*weights);
  ref.set_logits_observer(test::record_logits(want));
  const auto ref_out = ref.generate(batch, SamplingParams{});
  for (size_t i = 0; i < out.size(); ++i) EXPECT_EQ(out[i].output, ref_out[i].output) << i;
  EXPECT_EQ(got, want);
}

TEST(GgufModel, RefusesWhatItCannotRun) {
  auto error_of = [](const std::function<void()>& f) {
    try {
      f();
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  const std::string gpt2 = to_gguf("llama-tiny", "gpt2");
  EXPECT_NE(error_of([&] { load_model_config(gpt2); })
                .find("general.architecture 'gpt2' is not "
                      "supported"),
            std::string::npos);
  const std::string missing = to_gguf("llama-tiny", "llama", "blk.1.ffn_down.weight");
  const std::string e = error_of([&] { open_model_dir(missing); });
  EXPECT_NE(e.find("blk.1.ffn_down.weight"), std::string::npos) << e;
  EXPECT_NE(e.find(missing), std::string::npos) << e;
  const std::string bad = to_gguf("llama-tiny", "llama", "", /*bad_dims=*/true);
  const std::string d = error_of([&] { open_model_dir(bad); });
  EXPECT_NE(d.find("tensor 'blk.0.ffn_up.weight' has dims"), std::string::npos) << d;
}

}  // namespace
}  // namespace hs

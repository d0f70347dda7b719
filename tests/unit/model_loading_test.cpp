// Untrusted model files: corrupt, truncated or mismatched safetensors and config.json each give
// one clear error naming the file and tensor, never a crash or an out-of-bounds read.
#include <gtest/gtest.h>

#include <filesystem>

#include <nlohmann/json.hpp>

#include "model/config.h"
#include "model/safetensors.h"
#include "model/weights.h"
#include "test_support.h"
#include "util/error.h"

namespace fs = std::filesystem;

namespace hs {
namespace {

// Serialises a safetensors file from a header object and a data section.
std::string safetensors_bytes(const nlohmann::json& header, const std::string& data) {
  const std::string h = header.dump();
  std::string out(8, '\0');
  uint64_t n = h.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return out + h + data;
}

nlohmann::json one_tensor(const std::string& dtype, std::vector<int64_t> shape, uint64_t begin,
                          uint64_t end) {
  return {{"w", {{"dtype", dtype}, {"shape", shape}, {"data_offsets", {begin, end}}}}};
}

// Expects constructing a SafetensorsFile from these bytes to throw with all `parts` in the text.
void expect_error(const std::string& bytes, const std::vector<std::string>& parts) {
  const std::string path = test::temp_dir() + "/x.safetensors";
  test::write_file(path, bytes);
  try {
    SafetensorsFile f(path);
    FAIL() << "no error for a bad file";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find(path), std::string::npos) << what;
    for (const auto& p : parts) EXPECT_NE(what.find(p), std::string::npos) << what;
  }
}

TEST(Safetensors, ReadsAValidFile) {
  const std::string path = test::temp_dir() + "/ok.safetensors";
  std::string data(16, '\0');
  const float vals[4] = {1.5f, -2.f, 0.25f, 8.f};
  std::memcpy(data.data(), vals, 16);
  test::write_file(path, safetensors_bytes(one_tensor("F32", {2, 2}, 0, 16), data));
  SafetensorsFile f(path);
  const TensorView& t = f.tensors().at("w");
  EXPECT_EQ(t.shape, (std::vector<int64_t>{2, 2}));
  std::vector<float> out(4);
  read_tensor(t, DType::f32, out.data());
  EXPECT_EQ(out, std::vector<float>(vals, vals + 4));
}

TEST(Safetensors, FileShorterThanHeaderLength) {
  expect_error("abc", {"truncated"});
}

TEST(Safetensors, HeaderLengthPastEndOfFile) {
  std::string bytes = safetensors_bytes(one_tensor("F32", {1}, 0, 4), std::string(4, '\0'));
  bytes[0] = static_cast<char>(0xff);  // header length now far larger than the file
  bytes[1] = static_cast<char>(0x7f);
  expect_error(bytes, {"header length", "past the end of the file"});
}

TEST(Safetensors, HugeHeaderLength) {
  std::string bytes(16, '\0');
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>(0xff);
  expect_error(bytes, {"implausible"});
}

TEST(Safetensors, HeaderNotJson) {
  std::string bytes = safetensors_bytes(one_tensor("F32", {1}, 0, 4), std::string(4, '\0'));
  bytes[8] = '#';
  expect_error(bytes, {"not valid JSON"});
}

TEST(Safetensors, OffsetsPastEndOfData) {
  expect_error(safetensors_bytes(one_tensor("F32", {4}, 0, 16), std::string(8, '\0')),
               {"'w'", "past the end"});
}

TEST(Safetensors, ShapeDisagreesWithOffsets) {
  expect_error(safetensors_bytes(one_tensor("F16", {3, 3}, 0, 16), std::string(16, '\0')),
               {"'w'", "needs 18 bytes"});
}

TEST(Safetensors, UnsupportedDtype) {
  expect_error(safetensors_bytes(one_tensor("I64", {2}, 0, 16), std::string(16, '\0')),
               {"'w'", "I64"});
}

TEST(Safetensors, OverflowingShape) {
  expect_error(
      safetensors_bytes(one_tensor("F32", {1ll << 39, 1ll << 39}, 0, 4), std::string(4, '\0')),
      {"'w'", "overflows"});
}

TEST(Safetensors, OverlappingTensors) {
  nlohmann::json h = one_tensor("F32", {2}, 0, 8);
  h["v"] = {{"dtype", "F32"}, {"shape", {2}}, {"data_offsets", {4, 12}}};
  expect_error(safetensors_bytes(h, std::string(12, '\0')), {"overlap"});
}

TEST(Safetensors, ReversedOffsets) {
  expect_error(safetensors_bytes(one_tensor("F32", {0}, 8, 4), std::string(8, '\0')), {"reversed"});
}

// A copy of a tiny model that a test may break.
std::string copy_model(const std::string& name) {
  const std::string dir = test::temp_dir() + "/" + name;
  fs::copy(test::data_path("models/" + name), dir, fs::copy_options::recursive);
  return dir;
}

TEST(ModelDir, MissingTensorNamesIt) {
  const std::string dir = copy_model("opt-tiny");
  // Rewrite model.safetensors without one tensor.
  SafetensorsFile src(dir + "/model.safetensors");
  nlohmann::json h;
  std::string data;
  for (const auto& [name, t] : src.tensors()) {
    if (name == "model.decoder.layers.1.fc2.bias") continue;
    h[name] = {{"dtype", t.dtype == DType::f32   ? "F32"
                         : t.dtype == DType::f16 ? "F16"
                                                 : "BF16"},
               {"shape", t.shape},
               {"data_offsets", {data.size(), data.size() + t.bytes}}};
    data.append(reinterpret_cast<const char*>(t.data), t.bytes);
  }
  test::write_file(dir + "/model.safetensors", safetensors_bytes(h, data));
  try {
    open_model_dir(dir);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("missing tensor 'model.decoder.layers.1.fc2.bias'"),
              std::string::npos)
        << e.what();
  }
}

TEST(ModelDir, WrongShapeNamesTensorAndShapes) {
  const std::string dir = copy_model("opt-tiny");
  auto cfg = nlohmann::json::parse(test::read_file(dir + "/config.json"));
  cfg["ffn_dim"] = cfg["ffn_dim"].get<int>() * 2;
  test::write_file(dir + "/config.json", cfg.dump());
  try {
    open_model_dir(dir);
    FAIL();
  } catch (const Error& e) {
    const std::string w = e.what();
    EXPECT_NE(w.find("wrong shape for tensor 'model.decoder.layers.0.fc1.weight'"),
              std::string::npos)
        << w;
    EXPECT_NE(w.find("model.safetensors"), std::string::npos) << w;
  }
}

TEST(ModelDir, TruncatedShard) {
  const std::string dir = copy_model("llama-mqa-odd");
  const std::string shard = dir + "/model-00002-of-00006.safetensors";
  fs::resize_file(shard, fs::file_size(shard) - 10);
  try {
    open_model_dir(dir);
    FAIL();
  } catch (const Error& e) {
    const std::string w = e.what();
    EXPECT_NE(w.find("model-00002-of-00006.safetensors"), std::string::npos) << w;
    EXPECT_NE(w.find("past the end"), std::string::npos) << w;
  }
}

TEST(ModelDir, IndexNamesMissingShard) {
  const std::string dir = copy_model("opt-oddheads");
  fs::remove(dir + "/model-00003-of-00005.safetensors");
  EXPECT_THROW(
      {
        try {
          open_model_dir(dir);
        } catch (const Error& e) {
          EXPECT_NE(std::string(e.what()).find("model-00003-of-00005.safetensors"),
                    std::string::npos);
          throw;
        }
      },
      Error);
}

TEST(ModelDir, ReadsFp16Bf16AndShardedModels) {
  for (const char* name : {"opt-postln-proj", "opt-oddheads", "llama-gqa", "llama-mqa-odd"}) {
    auto w = open_model_dir(test::data_path(std::string("models/") + name));
    EXPECT_GT(w->config().n_layers, 0) << name;
  }
}

// config.json checks.
std::string config_error(nlohmann::json j) {
  try {
    parse_model_config(j, "cfg.json");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

nlohmann::json llama_config() {
  return {{"model_type", "llama"},          {"hidden_size", 64},        {"num_hidden_layers", 2},
          {"num_attention_heads", 4},       {"num_key_value_heads", 2}, {"intermediate_size", 128},
          {"max_position_embeddings", 128}, {"vocab_size", 100},        {"eos_token_id", 2}};
}

TEST(Config, ParsesLlamaGqa) {
  ModelConfig c = parse_model_config(llama_config(), "cfg.json");
  EXPECT_EQ(c.family, Family::llama);
  EXPECT_EQ(c.kv_dim(), 32);
  EXPECT_EQ(c.head_dim, 16);
}

TEST(Config, Errors) {
  auto j = llama_config();
  j["model_type"] = "gpt2";
  EXPECT_NE(config_error(j).find("model_type 'gpt2' is not supported"), std::string::npos);
  j = llama_config();
  j.erase("hidden_size");
  EXPECT_NE(config_error(j).find("cfg.json: missing required field 'hidden_size'"),
            std::string::npos);
  j = llama_config();
  j["num_key_value_heads"] = 3;
  EXPECT_NE(config_error(j).find("not a multiple of num_key_value_heads"), std::string::npos);
  j = llama_config();
  j["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 4.0}};
  EXPECT_NE(config_error(j).find("rope_scaling type 'yarn' is not supported"), std::string::npos);
  j = llama_config();
  j["eos_token_id"] = 1000;
  EXPECT_NE(config_error(j).find("outside the vocabulary"), std::string::npos);
  j = llama_config();
  j["hidden_size"] = "64";
  EXPECT_NE(config_error(j).find("must be an integer"), std::string::npos);
}

TEST(Config, LoadFailsWithReasonThroughCli) {
  const std::string dir = copy_model("llama-tiny");
  test::write_file(dir + "/config.json", "{ not json");
  const std::string in = test::temp_dir() + "/in.jsonl";
  test::write_file(in, "{\"id\": \"a\", \"input_ids\": [5, 6]}\n");
  auto r = test::run_cli({"run", "--model", dir, "--input", in, "--output",
                          test::temp_dir() + "/out.jsonl", "--max-new-tokens", "2"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("config.json"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("invalid JSON"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace hs

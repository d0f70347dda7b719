// A .gguf file (model/gguf.h) as a model: its config from the llama.* / general.* metadata, and
// its tensors as a WeightSource, dequantised at load into the element type the engine asks for.
// `--model FILE.gguf` goes through here wherever a Hugging Face directory is accepted
// (model/config.h load_model_config, model/weights.h open_model_dir).
//
// llama.cpp's converter reorders the rows of every head of Q and K so that RoPE rotates
// adjacent pairs: the head's row 2*i + j holds Hugging Face's row j*(head_dim/2) + i
// (j in {0, 1}, i < head_dim/2). The engine rotates Hugging Face's halves, so the rows are put
// back when Q and K are read.
#pragma once

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "model/config.h"
#include "model/weights.h"

namespace hs {

// Whether `path` names a GGUF model (a regular file whose name ends in .gguf).
bool is_gguf_path(const std::string& path);

// The model's config as a config.json object would give it (what /meta model_config shows),
// from the file's metadata. Refuses architectures other than llama, naming the one found.
nlohmann::json gguf_config_json(const std::string& path);
ModelConfig load_gguf_config(const std::string& path);

// Opens the file and checks that every tensor the model needs is there with the right shape.
std::unique_ptr<WeightSource> open_gguf_model(const std::string& path);

}  // namespace hs

// The tokenizer a .gguf file describes (tokenizer.ggml.* metadata), as the Tokenizer of
// model/tokenizer.h: the vocabulary (tokens), the BPE merges, the control and user-defined
// tokens as added tokens, BOS/EOS and add_bos_token, and the pre-tokenizer named by
// tokenizer.ggml.pre. Only byte-level BPE (tokenizer.ggml.model "gpt2") is read.
//
// Pre-tokenizers follow what Hugging Face transformers builds from the same file, since its ids
// are the reference: for "gpt2" and "smollm" the GPT-2 split inside ByteLevel; for "llama-bpe"
// and "qwen2" their own split (digits in runs of up to three, or one each) before ByteLevel.
// (llama.cpp itself splits digits first for "smollm", as SmolLM2's own tokenizer.json does;
// transformers' GGUF converter does not, and the two differ only where two or more whitespace
// characters stand before a digit.) Other names are refused, naming them.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "model/tokenizer.h"

namespace hs {

class GgufFile;

// The tokenizer.json (and tokenizer_config.json) documents the metadata stands for.
nlohmann::json gguf_tokenizer_json(const GgufFile& f);
nlohmann::json gguf_tokenizer_config_json(const GgufFile& f);

// Throws hs::Error naming the file and the key when the metadata is missing or unsupported.
Tokenizer tokenizer_from_gguf(const std::string& path);

}  // namespace hs

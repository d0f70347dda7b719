// The tokenizer of a model directory: reads the HF `tokenizers` file format (tokenizer.json,
// plus tokenizer_config.json when present) for byte-level BPE models (GPT-2 / OPT, LLaMA-3 and
// the like) and gives the same ids and decoded text as HF's library.
//
// Supported: model BPE (merges as "a b" or ["a", "b"], ignore_merges, unk_token, fuse_unk);
// normalizer null; pre-tokenizers ByteLevel, Split (all behaviors, invert), Digits, Sequence;
// added tokens with single_word / lstrip / rstrip / normalized / special; post-processors
// TemplateProcessing, RobertaProcessing, BertProcessing, ByteLevel, Sequence; decoder ByteLevel.
// Anything else (a normalizer, another model or decoder, byte_fallback, dropout, ...) is refused
// when the file is loaded, with an error naming the component, rather than tokenized differently
// from HF. `truncation` and `padding` are ignored: they shape batches, not tokens (transformers
// overrides them on every call too).
//
// BOS/EOS: the post_processor decides what encode(text, true) adds. When it adds nothing, and
// tokenizer_config.json says add_bos_token / add_eos_token, bos_token / eos_token are added
// (what transformers' slow GPT2Tokenizer does for OPT). When the post-processor does add tokens,
// the config's add_*_token flags change nothing (false does not remove a template's BOS).
//
// Thread safety: all methods are const and may be called from several threads at once (the
// cache of encoded words is guarded by a lock). Copies share one loaded tokenizer.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace hs {

class Tokenizer {
 public:
  // Loads tokenizer.json, and tokenizer_config.json if a path is given (empty: none).
  static Tokenizer from_file(const std::string& tokenizer_json_path,
                             const std::string& tokenizer_config_path = "");
  // dir/tokenizer.json (required) and dir/tokenizer_config.json (if present); or, for a .gguf
  // file, the tokenizer its metadata describes (model/gguf_tokenizer.h).
  static Tokenizer from_model_dir(const std::string& dir);
  // Whether `model` comes with a tokenizer: a .gguf file, or a directory with tokenizer.json.
  static bool available(const std::string& model);
  // The same from parsed documents: `source` and `config_source` name them in errors.
  static Tokenizer from_json(const nlohmann::json& tokenizer, const std::string& source,
                             const nlohmann::json* config = nullptr,
                             const std::string& config_source = "");

  // Token ids of `text` (UTF-8; invalid UTF-8 throws hs::Error naming the byte offset), with the
  // post-processor's special tokens (e.g. BOS) when add_special_tokens.
  std::vector<int32_t> encode(std::string_view text, bool add_special_tokens = true) const;

  // Text of `ids`. Byte sequences that are not valid UTF-8 (e.g. a character cut between two
  // calls) become U+FFFD per maximal ill-formed subsequence, as HF's decode does. Special added
  // tokens are left out when skip_special_tokens. An id outside the vocabulary throws.
  std::string decode(const std::vector<int32_t>& ids, bool skip_special_tokens = true) const;

  // One more than the largest token id, added tokens included (the embedding rows the ids
  // index; HF's get_vocab_size(with_added_tokens=True) when ids have no gaps).
  int32_t vocab_size() const;
  // Id of a token string (as stored in the vocabulary: byte-level characters, e.g. "Ġthe").
  std::optional<int32_t> token_id(std::string_view token) const;
  // From tokenizer_config.json's bos_token / eos_token, else from the post-processor's tokens.
  std::optional<int32_t> bos_id() const;
  std::optional<int32_t> eos_id() const;

 private:
  struct Impl;
  explicit Tokenizer(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const Impl> impl_;
};

}  // namespace hs

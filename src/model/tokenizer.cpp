#include "model/tokenizer.h"

#include "model/gguf_model.h"
#include "model/gguf_tokenizer.h"

#include <algorithm>
#include <filesystem>

#include "model/bpe.h"
#include "model/pretokenizer.h"
#include "model/tokenizer_added_vocab.h"
#include "model/tokenizer_byte_level.h"
#include "model/tokenizer_json.h"
#include "model/tokenizer_post_processor.h"
#include "model/unicode_utf8.h"
#include "util/error.h"

namespace hs {

struct Tokenizer::Impl {
  Bpe model;
  AddedVocab added;
  PreTokenizer pre_tokenizer;
  PostProcessor post_processor;
  std::optional<int32_t> bos_id, eos_id;
  int32_t vocab_size = 0;
  // Per id, built once after loading so decode does no hashing: the token string (added tokens
  // first: they may shadow a model token, as in HF) or nullptr, and whether it is special.
  std::vector<const std::string*> token_by_id;
  std::vector<bool> special_by_id;

  std::optional<int32_t> token_id(std::string_view token) const {
    if (const auto id = added.token_id(token)) return id;
    return model.token_id(token);
  }
  const std::string* token_of(int32_t id) const {
    if (const AddedToken* t = added.find_id(id)) return &t->content;
    return model.token(id);
  }
  static void apply_config(const nlohmann::json& doc, const std::string& source, Impl& impl);
  void index_ids() {
    token_by_id.resize(static_cast<size_t>(vocab_size));
    special_by_id.resize(static_cast<size_t>(vocab_size));
    for (int32_t id = 0; id < vocab_size; ++id) {
      token_by_id[id] = token_of(id);
      special_by_id[id] = token_by_id[id] && added.is_special(*token_by_id[id]);
    }
  }
};

namespace {

void check_unsupported_parts(const JsonNode& root) {
  if (const auto version = root.find("version")) {
    if (version->as_string() != "1.0")
      version->fail("tokenizer.json format version '", version->as_string(),
                    "' is not supported (only 1.0 is)");
  }
  if (const auto normalizer = root.find("normalizer")) {
    const std::string type = normalizer->at("type").as_string();
    // An empty Sequence normalizes nothing, so it is the same as none.
    const bool empty_sequence =
        type == "Sequence" && normalizer->at("normalizers").array_size() == 0;
    if (!empty_sequence)
      root.fail("normalizer type '", type,
                "' is not supported (only byte-level BPE without a normalizer is)");
  }
  const auto decoder = root.find("decoder");
  if (!decoder) root.fail("decoder is null; byte-level BPE needs the ByteLevel decoder");
  const std::string type = decoder->at("type").as_string();
  if (type != "ByteLevel")
    root.fail("decoder type '", type, "' is not supported (only ByteLevel is)");
}

// A token named in tokenizer_config.json: "text" or {"content": "text", ...}.
std::optional<std::string> config_token(const JsonNode& config, std::string_view key) {
  const auto node = config.find(key);
  if (!node) return std::nullopt;
  if (node->is_string()) return node->as_string();
  return node->at("content").as_string();
}

}  // namespace

// tokenizer_config.json: bos_token / eos_token name the BOS and EOS ids; add_bos_token /
// add_eos_token add them where the post-processor adds nothing.
void Tokenizer::Impl::apply_config(const nlohmann::json& doc, const std::string& source,
                                   Impl& impl) {
  const JsonNode config(doc, source);
  if (!config.is_object()) config.fail("expected a JSON object at the top level");
  const auto resolve = [&](std::string_view key) -> std::optional<int32_t> {
    const auto name = config_token(config, key);
    if (!name) return std::nullopt;
    const auto id = impl.token_id(*name);
    if (!id) config.at(key).fail("token '", *name, "' is not in the vocabulary");
    return id;
  };
  if (const auto bos = resolve("bos_token")) impl.bos_id = bos;
  if (const auto eos = resolve("eos_token")) impl.eos_id = eos;
  if (impl.post_processor.adds_tokens()) return;
  if (config.bool_or("add_bos_token", false)) {
    if (!impl.bos_id) config.at("add_bos_token").fail("add_bos_token without a bos_token");
    impl.post_processor.prefix_ids.push_back(*impl.bos_id);
  }
  if (config.bool_or("add_eos_token", false)) {
    if (!impl.eos_id) config.at("add_eos_token").fail("add_eos_token without an eos_token");
    impl.post_processor.suffix_ids.push_back(*impl.eos_id);
  }
}

Tokenizer Tokenizer::from_file(const std::string& tokenizer_json_path,
                               const std::string& tokenizer_config_path) {
  const nlohmann::json doc = JsonNode::parse_file(tokenizer_json_path);
  if (tokenizer_config_path.empty()) return from_json(doc, tokenizer_json_path);
  const nlohmann::json config = JsonNode::parse_file(tokenizer_config_path);
  return from_json(doc, tokenizer_json_path, &config, tokenizer_config_path);
}

Tokenizer Tokenizer::from_json(const nlohmann::json& doc, const std::string& source,
                               const nlohmann::json* config, const std::string& config_source) {
  const JsonNode root(doc, source);
  if (!root.is_object()) root.fail("expected a JSON object at the top level");
  check_unsupported_parts(root);

  auto impl = std::make_shared<Impl>();
  impl->model = Bpe::from_json(root.at("model"));
  impl->added = AddedVocab::from_json(root.find("added_tokens"), impl->model);
  impl->vocab_size = std::max(impl->model.id_limit(), impl->added.id_limit());

  const auto pre = root.find("pre_tokenizer");
  if (!pre) root.fail("pre_tokenizer is null; only byte-level BPE (a ByteLevel step) is supported");
  impl->pre_tokenizer = PreTokenizer::from_json(*pre);
  if (!impl->pre_tokenizer.has_byte_level())
    pre->fail("no ByteLevel step; only byte-level BPE is supported");

  const Impl& known = *impl;
  impl->post_processor = PostProcessor::from_json(
      root.find("post_processor"), [&known](int32_t id) { return known.token_of(id) != nullptr; });

  // BOS/EOS: the template's own tokens, unless tokenizer_config.json names them.
  if (impl->post_processor.prefix_ids.size() == 1)
    impl->bos_id = impl->post_processor.prefix_ids.front();
  if (impl->post_processor.suffix_ids.size() == 1)
    impl->eos_id = impl->post_processor.suffix_ids.back();
  if (config) Impl::apply_config(*config, config_source, *impl);
  impl->index_ids();
  return Tokenizer(std::move(impl));
}

bool Tokenizer::available(const std::string& model) {
  std::error_code ec;
  return is_gguf_path(model) ||
         std::filesystem::is_regular_file(std::filesystem::path(model) / "tokenizer.json", ec);
}

Tokenizer Tokenizer::from_model_dir(const std::string& dir) {
  namespace fs = std::filesystem;
  if (is_gguf_path(dir)) return tokenizer_from_gguf(dir);
  const fs::path json_path = fs::path(dir) / "tokenizer.json";
  if (!fs::is_regular_file(json_path))
    fail(dir, ": no tokenizer.json (the HF tokenizers format is required)");
  const fs::path config_path = fs::path(dir) / "tokenizer_config.json";
  return from_file(json_path.string(),
                   fs::is_regular_file(config_path) ? config_path.string() : "");
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special_tokens) const {
  const size_t bad = utf8::find_invalid(text);
  if (bad != std::string_view::npos) fail("prompt is not valid UTF-8 at byte ", bad);
  const Impl& t = *impl_;
  std::vector<int32_t> ids;
  if (add_special_tokens) ids = t.post_processor.prefix_ids;
  for (const AddedVocab::Piece& piece : t.added.split(text)) {
    if (piece.id) {
      ids.push_back(*piece.id);
      continue;
    }
    for (const std::string& word : t.pre_tokenizer.split(piece.text)) t.model.encode(word, ids);
  }
  if (add_special_tokens)
    ids.insert(ids.end(), t.post_processor.suffix_ids.begin(), t.post_processor.suffix_ids.end());
  return ids;
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids, bool skip_special_tokens) const {
  const Impl& t = *impl_;
  std::string bytes;
  for (size_t i = 0; i < ids.size(); ++i) {
    const int32_t id = ids[i];
    const std::string* token = id >= 0 && id < t.vocab_size ? t.token_by_id[id] : nullptr;
    if (!token)
      fail("token id ", id, " at position ", i, " is not in the vocabulary (ids 0..",
           t.vocab_size - 1, ")");
    if (skip_special_tokens && t.special_by_id[id]) continue;
    // Tokens outside the byte-level alphabet (e.g. an added "hello world") are their own text.
    if (!byte_level::decode(*token, bytes)) bytes += *token;
  }
  return utf8::repair(bytes);
}

int32_t Tokenizer::vocab_size() const {
  return impl_->vocab_size;
}

std::optional<int32_t> Tokenizer::token_id(std::string_view token) const {
  return impl_->token_id(token);
}

std::optional<int32_t> Tokenizer::bos_id() const {
  return impl_->bos_id;
}
std::optional<int32_t> Tokenizer::eos_id() const {
  return impl_->eos_id;
}

}  // namespace hs

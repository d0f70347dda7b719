#include "model/tokenizer_post_processor.h"

namespace hs {

namespace {

void add(const JsonNode& node, const std::function<bool(int32_t)>& is_known_id, PostProcessor& out);

// A [token, id] pair of RobertaProcessing / BertProcessing.
int32_t pair_id(const JsonNode& pair, const std::function<bool(int32_t)>& is_known_id) {
  if (pair.array_size() != 2) pair.fail("expected [token, id]");
  const int32_t id = pair.at(1).as_id();
  if (!is_known_id(id)) pair.fail("token id ", id, " is not in the vocabulary");
  return id;
}

void add_template(const JsonNode& node, const std::function<bool(int32_t)>& is_known_id,
                  PostProcessor& out) {
  const JsonNode single = node.at("single");
  const JsonNode special_tokens = node.at("special_tokens");
  std::vector<int32_t> before, after;
  bool seen_sequence = false;
  for (size_t i = 0; i < single.array_size(); ++i) {
    const JsonNode piece = single.at(i);
    if (const auto seq = piece.find("Sequence")) {
      const std::string name = seq->at("id").as_string();
      if (name != "A") seq->fail("a single-sequence template can only hold sequence A, not ", name);
      if (seen_sequence) seq->fail("sequence A appears twice in the template");
      seen_sequence = true;
    } else if (const auto special = piece.find("SpecialToken")) {
      const std::string name = special->at("id").as_string();
      const auto entry = special_tokens.find(name);
      if (!entry) special->fail("'", name, "' is not in post_processor.special_tokens");
      const JsonNode ids = entry->at("ids");
      for (size_t k = 0; k < ids.array_size(); ++k) {
        const int32_t id = ids.at(k).as_id();
        if (!is_known_id(id)) ids.at(k).fail("token id ", id, " is not in the vocabulary");
        (seen_sequence ? after : before).push_back(id);
      }
    } else {
      piece.fail("expected {\"Sequence\": ...} or {\"SpecialToken\": ...}");
    }
  }
  if (!seen_sequence) single.fail("the template never places sequence A");
  // Applied after what came before: its tokens go outside the earlier ones.
  out.prefix_ids.insert(out.prefix_ids.begin(), before.begin(), before.end());
  out.suffix_ids.insert(out.suffix_ids.end(), after.begin(), after.end());
}

void add(const JsonNode& node, const std::function<bool(int32_t)>& is_known_id,
         PostProcessor& out) {
  const std::string type = node.at("type").as_string();
  if (type == "ByteLevel") return;
  if (type == "TemplateProcessing") {
    add_template(node, is_known_id, out);
  } else if (type == "RobertaProcessing" || type == "BertProcessing") {
    out.prefix_ids.insert(out.prefix_ids.begin(), pair_id(node.at("cls"), is_known_id));
    out.suffix_ids.push_back(pair_id(node.at("sep"), is_known_id));
  } else if (type == "Sequence") {
    const JsonNode list = node.at("processors");
    for (size_t i = 0; i < list.array_size(); ++i) add(list.at(i), is_known_id, out);
  } else {
    node.fail("post-processor type '", type,
              "' is not supported (supported: TemplateProcessing, RobertaProcessing, "
              "BertProcessing, ByteLevel, Sequence)");
  }
}

}  // namespace

PostProcessor PostProcessor::from_json(const std::optional<JsonNode>& node,
                                       const std::function<bool(int32_t)>& is_known_id) {
  PostProcessor p;
  if (node) add(*node, is_known_id, p);
  return p;
}

}  // namespace hs

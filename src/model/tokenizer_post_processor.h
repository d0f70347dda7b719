// What tokenizer.json's post_processor adds around the ids of one sequence when special tokens
// are requested. For a single sequence every supported kind reduces to fixed ids before and
// after it:
//   TemplateProcessing  "single": [SpecialToken..., Sequence A, SpecialToken...]
//   RobertaProcessing / BertProcessing   cls A sep
//   ByteLevel           nothing (it only trims offsets)
//   Sequence            the processors applied in turn.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "model/tokenizer_json.h"

namespace hs {

struct PostProcessor {
  std::vector<int32_t> prefix_ids;
  std::vector<int32_t> suffix_ids;

  // `node` is tokenizer.json's "post_processor" (nullopt when null). `is_known_id` tells whether
  // an id exists in the vocabulary, so a template cannot add ids the model has no row for.
  static PostProcessor from_json(const std::optional<JsonNode>& node,
                                 const std::function<bool(int32_t)>& is_known_id);

  bool adds_tokens() const { return !prefix_ids.empty() || !suffix_ids.empty(); }
};

}  // namespace hs

// Hugging Face goldens (tests/goldens/<model>.json, made by tools/make_tiny_models.py): prompts,
// HF's greedy continuations and the logits that produced the first tokens.
#pragma once

#include <string>
#include <vector>

namespace hs::test {

struct GoldenCase {
  std::vector<int32_t> prompt;
  std::vector<int32_t> greedy;                  // new tokens only, EOS included if HF stopped
  std::vector<std::vector<float>> step_logits;  // logits before generated token 0, 1, 2, ...
};

struct Golden {
  std::string model;
  int64_t max_new_tokens = 0;
  std::vector<GoldenCase> cases;
};

Golden load_golden(const std::string& model_name);

// The tiny models with goldens.
std::vector<std::string> golden_models();

// max |a - b| / max |b|: relative error of a logits vector against the reference b.
double max_rel_error(const std::vector<float>& a, const std::vector<float>& b);

}  // namespace hs::test

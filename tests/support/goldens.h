// Hugging Face goldens (tests/goldens/<model>.json, made by tools/make_tiny_models.py): prompts,
// HF's greedy continuations and the logits that produced the first tokens.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/generator.h"
#include "model/weights.h"
#include "plan/plan.h"

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

// The golden cases as one batch: request i is "r<i>" with case i's prompt.
std::vector<GenRequest> golden_batch(const Golden& g, int64_t max_new_tokens);
inline std::vector<GenRequest> golden_batch(const Golden& g) {
  return golden_batch(g, g.max_new_tokens);
}

// A plan made by hand for the tiny models on the cpu backend (fp32): the policy and activation
// share under test, 4-token blocks, `mini_batch_size` requests a mini-batch and the resident
// layer counts. Memory fields are left to the engine (the planner's footprint formula).
Plan hand_plan(Policy policy, double act_fraction, int64_t gpu_weight_layers = 0,
               int64_t gpu_cache_layers = 0, int64_t mini_batch_size = 3);

// The workload (prompt and generation lengths) of a batch, for sizing an engine.
Workload workload_of(const std::vector<GenRequest>& batch);

// max |a - b| / max |b|: relative error of a logits vector against the reference b.
double max_rel_error(const std::vector<float>& a, const std::vector<float>& b);
// ||a - b||_2 / ||b||_2: the norm-wise relative error of a against the reference b.
double norm_rel_error(const std::vector<float>& a, const std::vector<float>& b);

// Hugging Face's worst logits row of `model` in bf16 against its fp32 (teacher-forced on the
// fp32 greedy tokens, one forward pass, eager attention), norm-wise relative error:
// `python3 tools/hf_dtype_logits.py` on an H100 (the GPU machine's torch and transformers;
// docs/BENCHMARKS.md, "Accuracy: tokens and logits"). Its fp16 rows were 1.3e-3 to 1.2e-2.
double hf_bf16_worst(const std::string& model);

// Logits a generator showed its observer (LogitsFn), by (batch index, generation step).
using LogitsRows = std::map<std::pair<size_t, int64_t>, std::vector<float>>;
// An observer that keeps every row it is shown in `rows` (which must outlive it).
LogitsFn record_logits(LogitsRows& rows);

}  // namespace hs::test

#include "goldens.h"

#include <cmath>
#include <fstream>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "test_support.h"
#include "util/dtype.h"

namespace hs::test {

Golden load_golden(const std::string& model_name) {
  std::ifstream f(data_path("goldens/" + model_name + ".json"));
  if (!f) throw std::runtime_error("no golden for " + model_name);
  nlohmann::json j = nlohmann::json::parse(f);
  Golden g;
  g.model = j.at("model").get<std::string>();
  g.max_new_tokens = j.at("max_new_tokens").get<int64_t>();
  for (const auto& c : j.at("cases")) {
    GoldenCase gc;
    gc.prompt = c.at("prompt").get<std::vector<int32_t>>();
    gc.greedy = c.at("greedy").get<std::vector<int32_t>>();
    if (c.contains("step_logits"))
      gc.step_logits = c.at("step_logits").get<std::vector<std::vector<float>>>();
    else if (c.contains("last_logits"))
      gc.step_logits.push_back(c.at("last_logits").get<std::vector<float>>());
    g.cases.push_back(std::move(gc));
  }
  return g;
}

std::vector<std::string> golden_models() {
  return {"opt-tiny",  "opt-postln-proj", "opt-oddheads", "llama-tiny",
          "llama-gqa", "llama-mqa-odd",   "qwen2-tiny"};
}

double hf_bf16_worst(const std::string& model) {
  static const std::map<std::string, double> worst = {
      {"llama-gqa", 6.643e-02},    {"llama-mqa-odd", 1.603e-01},   {"llama-tiny", 8.500e-02},
      {"opt-oddheads", 4.356e-02}, {"opt-postln-proj", 1.199e-02}, {"opt-tiny", 3.910e-02},
      {"qwen2-tiny", 6.687e-02},
  };
  auto it = worst.find(model);
  if (it == worst.end()) throw std::runtime_error("no HF bf16 figure for " + model);
  return it->second;
}

std::vector<GenRequest> golden_batch(const Golden& g, int64_t max_new_tokens) {
  std::vector<GenRequest> batch;
  for (size_t i = 0; i < g.cases.size(); ++i)
    batch.push_back({"r" + std::to_string(i), g.cases[i].prompt, max_new_tokens});
  return batch;
}

Plan hand_plan(Policy policy, double act_fraction, int64_t gpu_weight_layers,
               int64_t gpu_cache_layers, int64_t mini_batch_size) {
  Plan p;
  p.requested = policy;
  p.policy = policy;
  p.act_fraction = act_fraction;
  p.block_tokens = 4;
  p.mini_batch_size = mini_batch_size;
  p.gpu_weight_layers = gpu_weight_layers;
  p.gpu_cache_layers = gpu_cache_layers;
  p.dtype = DType::f32;
  return p;
}

Workload workload_of(const std::vector<GenRequest>& batch) {
  Workload w;
  for (const auto& r : batch) {
    w.prompt_lens.push_back(static_cast<int64_t>(r.prompt.size()));
    w.gen_lens.push_back(r.max_new_tokens);
  }
  return w;
}

double max_rel_error(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return INFINITY;
  double diff = 0, ref = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    diff = std::max(diff, std::fabs(double(a[i]) - double(b[i])));
    ref = std::max(ref, std::fabs(double(b[i])));
  }
  return diff / ref;
}

double norm_rel_error(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return INFINITY;
  double diff = 0, ref = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double d = double(a[i]) - double(b[i]);
    diff += d * d;
    ref += double(b[i]) * double(b[i]);
  }
  return std::sqrt(diff / ref);
}

LogitsFn record_logits(LogitsRows& rows) {
  return [&rows](size_t index, int64_t step, const float* logits, int64_t vocab) {
    rows[{index, step}].assign(logits, logits + vocab);
  };
}

}  // namespace hs::test

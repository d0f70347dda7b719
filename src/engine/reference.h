// The reference engine: the whole model in fp32 host memory, one request at a time, a plain
// contiguous KV cache, and the cpu ops. It is the oracle every other engine, backend and cache
// policy is tested against, so it is written to be read top to bottom, like the paper.
//
// With a 16-bit `storage` type it is also the twin of a backend that computes in fp32 and
// stores in that type: the weights and every tensor an op writes (activations, K/V) are rounded
// to it where the engine's backend stores them, and the logits stay fp32 (Backend::linear_f32).
#pragma once

#include <map>
#include <memory>
#include <vector>

#include "engine/generator.h"
#include "model/weights.h"
#include "util/dtype.h"

namespace hs {

class ReferenceModel {
 public:
  explicit ReferenceModel(const WeightSource& weights, DType storage = DType::f32);

  // The K/V cache of one sequence: per layer, [capacity, kv_dim] for K and for V.
  struct Cache {
    int64_t len = 0;  // tokens cached so far
    std::vector<std::vector<float>> k, v;
  };
  Cache new_cache(int64_t capacity_tokens) const;

  // Runs `tokens` (the next tokens of the sequence, at positions cache.len, cache.len+1, ...)
  // through the model, appends their K/V to the cache and returns the logits of the last
  // token: [vocab].
  std::vector<float> forward(Cache& cache, const std::vector<int32_t>& tokens) const;

  const ModelConfig& config() const { return cfg_; }

 private:
  using Tensor = std::vector<float>;
  // Rounds what an op wrote to the storage type.
  void store(Tensor& t) const { round_to(storage_, t.data(), t.size()); }
  const Tensor& global(Part p) const;
  const float* layer(int l, Part p) const;  // nullptr if the model has no such part

  ModelConfig cfg_;
  DType storage_;
  std::map<Part, Tensor> globals_;
  std::vector<std::map<Part, Tensor>> layers_;
};

// Generator over the reference model: each request prefilled, then decoded token by token.
class ReferenceGenerator final : public Generator {
 public:
  explicit ReferenceGenerator(const WeightSource& weights, DType storage = DType::f32)
      : model_(weights, storage) {}
  const ModelConfig& config() const override { return model_.config(); }
  std::vector<GenResult> generate(const std::vector<GenRequest>& batch,
                                  const SamplingParams& sampling,
                                  const StopFn& stop = nullptr) override;
  const ReferenceModel& model() const { return model_; }
  void set_logits_observer(LogitsFn fn) override { observe_ = std::move(fn); }

 private:
  ReferenceModel model_;
  LogitsFn observe_;
};

}  // namespace hs

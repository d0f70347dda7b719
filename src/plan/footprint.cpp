#include "plan/footprint.h"

#include <algorithm>
#include <functional>

#include "plan/cost_model.h"
#include "util/error.h"

namespace hs {
namespace {

// Temporaries per token processed, in elements: 2h + 2q + 2kv + (m-1) ffn.
int64_t temp_elems_per_token(const ModelConfig& c) {
  const int64_t ffn_intermediates = c.ffn == FfnKind::swiglu ? 2 : 1;
  return 2 * c.hidden + 2 * c.q_dim() + 2 * c.kv_dim() + ffn_intermediates * c.ffn_dim;
}

// What one mini-batch needs on the device while it runs through a layer.
struct MiniBatchNeeds {
  int64_t requests = 0;
  int64_t prompt_tokens = 0;  // sum of prompt lengths
  int64_t final_tokens = 0;   // sum of prompt + gen
  int64_t kv_bytes = 0;       // every final-size block as K/V, one layer
  int64_t act_bytes = 0;      // activation-block rows as loaded, one layer
  int64_t act_rows = 0;
};

MiniBatchNeeds needs_of(const ModelConfig& c, const Plan& p, const Workload& w,
                        const std::vector<int32_t>& requests) {
  MiniBatchNeeds m;
  for (int32_t i : requests) {
    const int64_t final_tokens = w.prompt_lens[i] + w.gen_lens[i];
    const int64_t blocks = (final_tokens + p.block_tokens - 1) / p.block_tokens;
    const int64_t act_blocks = act_blocks_among(blocks, p.act_fraction);
    ++m.requests;
    m.prompt_tokens += w.prompt_lens[i];
    m.final_tokens += final_tokens;
    m.kv_bytes += blocks * p.block_tokens * kv_bytes_per_token(c, p.dtype);
    m.act_bytes += act_blocks * p.block_tokens * act_bytes_per_token(c, p.dtype);
    m.act_rows += act_blocks * p.block_tokens;
  }
  return m;
}

int64_t working_set_of(const ModelConfig& c, const Plan& p, const MiniBatchNeeds& m) {
  const int64_t elem = static_cast<int64_t>(dtype_bytes(p.dtype));
  const int64_t per_token = temp_elems_per_token(c) * elem;
  const int64_t logits = m.requests * c.vocab_size * 4;  // fp32
  if (p.policy == Policy::recompute_tokens) return m.kv_bytes + m.final_tokens * per_token + logits;
  const int64_t prefill = m.prompt_tokens * per_token + logits;
  const int64_t decode = m.requests * per_token + logits + m.act_rows * c.hidden * elem;
  return 2 * (m.kv_bytes + m.act_bytes) + std::max(prefill, decode);
}

}  // namespace

Footprint plan_footprint(const ModelConfig& c, const Plan& p, const Workload& w) {
  HS_CHECK(p.block_tokens > 0, "block_tokens must be positive, got ", p.block_tokens);
  const int64_t batch = w.batch();
  const int64_t W = layer_weight_bytes(c, p.dtype);
  const bool keeps_cache = p.policy != Policy::recompute_tokens;

  int64_t cache_per_layer = 0;  // sum_i cache_i, one layer, final size
  int64_t final_tokens = 0;
  for (int64_t i = 0; i < batch; ++i) {
    final_tokens += w.prompt_lens[i] + w.gen_lens[i];
    if (keeps_cache)
      cache_per_layer += request_cache_bytes_per_layer(c, p, w.prompt_lens[i] + w.gen_lens[i]);
  }

  Footprint f;
  f.host_weight_bytes = (c.n_layers - p.gpu_weight_layers) * W;
  f.host_cache_bytes = keeps_cache ? (c.n_layers - p.gpu_cache_layers) * cache_per_layer : 0;
  const int64_t new_row_bytes =
      std::max(kv_bytes_per_token(c, p.dtype), act_bytes_per_token(c, p.dtype));
  f.host_staging_bytes = final_tokens * 4 + (keeps_cache ? batch * new_row_bytes : 0);
  f.host_pool_bytes = f.host_weight_bytes + f.host_cache_bytes + f.host_staging_bytes;

  f.device_global_weight_bytes = global_weight_bytes(c, p.dtype);
  f.device_layer_weight_bytes =
      p.gpu_weight_layers * W + (p.gpu_weight_layers < c.n_layers ? 2 * W : 0);
  f.device_cache_bytes = keeps_cache ? p.gpu_cache_layers * cache_per_layer : 0;

  if (!p.mini_batches.empty()) {
    for (const auto& mb : p.mini_batches)
      f.working_set_bytes =
          std::max(f.working_set_bytes, working_set_of(c, p, needs_of(c, p, w, mb)));
  } else {
    // The heaviest mini-batch any assignment can form: the mini_batch_size longest prompts
    // and the mini_batch_size longest final lengths, even if no single group has both.
    const int64_t size = std::min(std::max<int64_t>(p.mini_batch_size, 1), batch);
    auto longest = [&](const std::function<int64_t(int64_t)>& key) {
      std::vector<int32_t> idx(static_cast<size_t>(batch));
      for (int64_t i = 0; i < batch; ++i) idx[i] = static_cast<int32_t>(i);
      std::partial_sort(idx.begin(), idx.begin() + size, idx.end(),
                        [&](int32_t a, int32_t b) { return key(a) > key(b); });
      idx.resize(static_cast<size_t>(size));
      return needs_of(c, p, w, idx);
    };
    MiniBatchNeeds by_final = longest([&](int64_t i) { return w.prompt_lens[i] + w.gen_lens[i]; });
    const MiniBatchNeeds by_prompt = longest([&](int64_t i) { return w.prompt_lens[i]; });
    by_final.prompt_tokens = std::max(by_final.prompt_tokens, by_prompt.prompt_tokens);
    f.working_set_bytes = working_set_of(c, p, by_final);
  }
  f.device_bytes = f.device_global_weight_bytes + f.device_layer_weight_bytes +
                   f.device_cache_bytes + f.working_set_bytes;
  return f;
}

}  // namespace hs

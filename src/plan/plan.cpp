#include "plan/plan.h"

#include <algorithm>
#include <cmath>

#include "plan/cost_model.h"
#include "util/error.h"

namespace hs {

const char* policy_name(Policy p) {
  switch (p) {
    case Policy::kv:
      return "kv";
    case Policy::act:
      return "act";
    case Policy::hybrid:
      return "hybrid";
    case Policy::recompute_tokens:
      return "recompute-tokens";
    case Policy::automatic:
      return "auto";
  }
  return "?";
}

Policy parse_policy(const std::string& s) {
  for (Policy p :
       {Policy::kv, Policy::act, Policy::hybrid, Policy::recompute_tokens, Policy::automatic})
    if (s == policy_name(p)) return p;
  fail("unknown policy '", s, "' (choose kv, act, hybrid, recompute-tokens or auto)");
}

Workload Workload::uniform(int64_t batch, int64_t prompt_len, int64_t gen_len) {
  Workload w;
  w.prompt_lens.assign(static_cast<size_t>(batch), prompt_len);
  w.gen_lens.assign(static_cast<size_t>(batch), gen_len);
  return w;
}

// Block b is an activation block iff floor((b+1) f) > floor(b f): the count of activation
// blocks among the first m blocks telescopes to floor(m f) (act_blocks_among), so they are
// spread evenly and both functions agree bit for bit.
bool is_act_block(int64_t b, double f) {
  return act_blocks_among(b + 1, f) > act_blocks_among(b, f);
}

StepTraffic predict_step_traffic(const ModelConfig& c, const Plan& p,
                                 const std::vector<int64_t>& cached_lens) {
  const int64_t kv_row_bytes = host_kv_bytes_per_token(c, p);    // 2 * kv_dim * elem, or compressed
  const int64_t act_row_bytes = host_act_bytes_per_token(c, p);  // hidden * elem, or compressed
  const int64_t bt = p.block_tokens;
  HS_CHECK(bt > 0, "block_tokens must be positive, got ", bt);

  StepTraffic t;
  // Weights of the streamed layers cross once per layer per step.
  t.weights_h2d = host_streamed_layers(p, c.n_layers) * streamed_layer_share_bytes(c, p);
  // recompute-tokens keeps no cache: nothing else crosses.
  if (p.policy == Policy::recompute_tokens) return t;

  // Caches of L - gpu_cache_layers layers live on the host.
  const int64_t host_cache_layers = c.n_layers - p.gpu_cache_layers;
  for (int64_t n : cached_lens) {
    // Every block holding at least one cached token is loaded whole (block_tokens rows).
    const int64_t blocks = (n + bt - 1) / bt;
    const int64_t act_blocks = act_blocks_among(blocks, p.act_fraction);
    const int64_t kv_blocks = blocks - act_blocks;
    t.kv_h2d += host_cache_layers * kv_blocks * bt * kv_row_bytes;
    t.act_h2d += host_cache_layers * act_blocks * bt * act_row_bytes;
    // The new token sits at position n, in block n / bt: one row written back per layer, K and
    // V or its checkpoint, by that block's kind.
    const bool new_row_is_act = is_act_block(n / bt, p.act_fraction);
    t.write_back_d2h += host_cache_layers * (new_row_is_act ? act_row_bytes : kv_row_bytes);
  }
  return t;
}

bool streams_weights(const Plan& p, int64_t layers, int64_t layer) {
  return is_spread(layer, layers - p.gpu_weight_layers, layers);
}

bool stores_weights_on_device(const Plan& p, int64_t layers, int64_t layer) {
  return is_spread_among(layer, p.gpu_stored_weight_layers, layers - p.gpu_weight_layers, layers);
}

int64_t host_streamed_layers(const Plan& p, int64_t layers) {
  return layers - p.gpu_weight_layers - p.gpu_stored_weight_layers;
}

bool host_cache_layer(const Plan& p, int64_t layers, int64_t layer) {
  return is_spread(layer, layers - p.gpu_cache_layers, layers);
}

std::vector<int64_t> water_fill(int64_t total, const std::vector<int64_t>& base) {
  const size_t n = base.size();
  HS_CHECK(n > 0 && total >= 0, "water_fill: ", total, " bytes over ", n, " slices");
  // The level: with the k lowest bases under it, level = (total + their sum) / k, for the
  // largest k whose k-th lowest base lies below that level.
  std::vector<int64_t> sorted = base;
  std::sort(sorted.begin(), sorted.end());
  double level = 0, sum = 0;
  for (size_t k = 1; k <= n; ++k) {
    sum += static_cast<double>(sorted[k - 1]);
    level = (static_cast<double>(total) + sum) / static_cast<double>(k);
    if (k == n || level <= static_cast<double>(sorted[k])) break;
  }
  std::vector<double> share(n);
  double shares = 0;
  for (size_t i = 0; i < n; ++i) {
    share[i] = std::max(0.0, level - static_cast<double>(base[i]));
    shares += share[i];
  }
  std::vector<int64_t> cut(n + 1, 0);
  double acc = 0;
  for (size_t i = 0; i < n; ++i) {
    acc += shares > 0 ? share[i] : 1.0;
    const double whole = shares > 0 ? shares : static_cast<double>(n);
    cut[i + 1] = std::clamp<int64_t>(std::llround(static_cast<double>(total) * (acc / whole)),
                                     cut[i], total);
  }
  cut[n] = total;
  return cut;
}

std::vector<WeightSlice> weight_slices(int64_t layers, int64_t mini_batches,
                                       const std::vector<bool>& streamed, int64_t layer_bytes,
                                       const std::vector<int64_t>& item_cache_bytes,
                                       const std::vector<bool>& on_device) {
  const int64_t M = mini_batches;
  HS_CHECK(static_cast<int64_t>(streamed.size()) == layers &&
               static_cast<int64_t>(item_cache_bytes.size()) == layers * M,
           "weight_slices: ", streamed.size(), " layer flags and ", item_cache_bytes.size(),
           " items for ", layers, " layers of ", M, " mini-batches");
  std::vector<WeightSlice> slices(static_cast<size_t>(layers * M));
  int64_t window_begin = 0;        // first item of the next streamed layer's window
  int64_t back1 = -1, back2 = -1;  // the last two streamed layers
  for (int64_t l = 0; l < layers; ++l) {
    if (!streamed[static_cast<size_t>(l)]) continue;
    const int64_t window_end = l * M;
    if (window_end > window_begin) {
      const std::vector<int64_t> base(item_cache_bytes.begin() + window_begin,
                                      item_cache_bytes.begin() + window_end);
      const bool none = !on_device.empty() && on_device[static_cast<size_t>(l)];
      const std::vector<int64_t> cut = water_fill(none ? 0 : layer_bytes, base);
      for (int64_t i = window_begin; i < window_end; ++i)
        slices[static_cast<size_t>(i)] = {l, cut[static_cast<size_t>(i - window_begin)],
                                          cut[static_cast<size_t>(i - window_begin + 1)], back2};
    }
    window_begin = window_end;
    back2 = back1;
    back1 = l;
  }
  return slices;
}

std::vector<WorkingSetTurn> working_set_turns(int64_t mini_batches,
                                              const std::vector<bool>& host_cache,
                                              int64_t host_sets) {
  HS_CHECK(host_sets >= 2, "host-cache items need at least two working sets, got ", host_sets);
  const bool any_host = std::find(host_cache.begin(), host_cache.end(), true) != host_cache.end();
  const int64_t sets[2] = {2, host_sets};  // by host?
  const int64_t first_set[2] = {any_host ? host_sets : 0, 0};
  std::vector<std::vector<int64_t>> last(2);  // [host?][set]: its last item
  last[0].assign(2, -1);
  last[1].assign(static_cast<size_t>(host_sets), -1);
  int64_t uses[2] = {0, 0};  // items so far, by host?
  std::vector<WorkingSetTurn> turns;
  turns.reserve(host_cache.size() * static_cast<size_t>(mini_batches));
  for (const bool host : host_cache) {
    for (int64_t mb = 0; mb < mini_batches; ++mb) {
      const size_t turn = static_cast<size_t>(uses[host] % sets[host]);
      const int64_t item = static_cast<int64_t>(turns.size());
      turns.push_back(
          {static_cast<int>(first_set[host] + static_cast<int64_t>(turn)), last[host][turn]});
      last[host][turn] = item;
      ++uses[host];
    }
  }
  return turns;
}

}  // namespace hs

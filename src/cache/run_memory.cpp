#include "cache/run_memory.h"

#include <algorithm>

#include "model/weights.h"
#include "util/error.h"
#include "util/spread.h"

namespace hs {

namespace {
// Device regions start at multiples of this: what cuBLAS and vectorized kernels like.
constexpr size_t kDeviceAlignBytes = 256;
}  // namespace

int64_t ItemCapacity::index_elems(int64_t block_tokens) const {
  // The arrays of engine/mini_batch.h: five with one entry per token, an iota, one entry per
  // request, the block table, the K/V and checkpoint load pairs, the checkpoint rows'
  // positions and the write-back pairs (one per token).
  return 7 * tokens + std::max(tokens, requests) + requests + requests * max_blocks + 2 * blocks +
         2 * act_blocks + act_blocks * block_tokens;
}

bool ItemCapacity::fits_in(const ItemCapacity& o) const {
  return tokens <= o.tokens && requests <= o.requests && max_blocks <= o.max_blocks &&
         blocks <= o.blocks && act_blocks <= o.act_blocks;
}

void ItemCapacity::widen(const ItemCapacity& o) {
  tokens = std::max(tokens, o.tokens);
  requests = std::max(requests, o.requests);
  max_blocks = std::max(max_blocks, o.max_blocks);
  blocks = std::max(blocks, o.blocks);
  act_blocks = std::max(act_blocks, o.act_blocks);
}

int64_t cache_capacity_tokens(int64_t prompt_len, int64_t gen_len) {
  return prompt_len + std::max<int64_t>(gen_len, 0);
}

ItemCapacity item_capacity(const RunShape& s, const std::vector<int32_t>& mini_batch) {
  ItemCapacity c;
  for (int32_t i : mini_batch) {
    const int64_t prompt = s.prompt_lens.at(static_cast<size_t>(i));
    const int64_t cap = cache_capacity_tokens(prompt, s.gen_lens.at(static_cast<size_t>(i)));
    const int64_t blocks = blocks_for(cap, s.block_tokens);
    ++c.requests;
    // Keeping a cache, the prefill is the widest step (decode runs one token a request);
    // recompute-tokens reruns everything, widest at the last step.
    c.tokens += s.keep_cache ? prompt : cap;
    c.blocks += blocks;
    c.max_blocks = std::max(c.max_blocks, blocks);
    if (s.keep_cache) c.act_blocks += act_blocks_of(blocks, s.act_fraction);
  }
  return c;
}

RunMemory::RunMemory(const RunShape& s)
    : shape(s),
      host(MemoryKind::host, 1, s.max_chunk_bytes),
      node(MemoryKind::host, 1, s.max_chunk_bytes),
      device(MemoryKind::device, kDeviceAlignBytes, s.max_chunk_bytes) {
  const ModelConfig& c = s.config;
  const int L = static_cast<int>(c.n_layers);
  HS_CHECK(s.prompt_lens.size() == s.gen_lens.size(), "run shape: ", s.prompt_lens.size(),
           " prompt lengths but ", s.gen_lens.size(), " generation lengths");
  HS_CHECK(s.gpu_weight_layers >= 0 && s.gpu_weight_layers <= c.n_layers,
           "gpu_weight_layers must be in [0, ", c.n_layers, "], got ", s.gpu_weight_layers);
  HS_CHECK(s.gpu_cache_layers >= 0 && s.gpu_cache_layers <= c.n_layers,
           "gpu_cache_layers must be in [0, ", c.n_layers, "], got ", s.gpu_cache_layers);
  HS_CHECK(s.host_sets >= 2 && s.host_sets <= kMaxHostSets, "host_sets must be in [2, ",
           kMaxHostSets, "], got ", s.host_sets);
  const size_t elem = dtype_bytes(s.dtype);
  auto bytes = [&](int64_t elems) { return static_cast<size_t>(elems) * elem; };

  std::vector<int64_t> capacity_tokens;
  for (size_t i = 0; i < s.prompt_lens.size(); ++i)
    capacity_tokens.push_back(s.keep_cache ? cache_capacity_tokens(s.prompt_lens[i], s.gen_lens[i])
                                           : 0);
  for (const auto& mb : s.mini_batches) {
    const ItemCapacity ic = item_capacity(s, mb);
    item.widen(ic);
    x_rows += ic.tokens;
  }
  if (s.keep_cache) {
    // Room for the prefill of any single prompt the context admits, even one longer than the
    // workload's (its generation cut short by the context): it then runs in a group alone.
    item.tokens = std::max(item.tokens, c.max_positions - 1);
    x_rows = std::max(x_rows, c.max_positions - 1);
  }
  cache_layout = make_cache_layout(c, s.dtype, s.block_tokens, s.act_fraction, capacity_tokens,
                                   s.max_chunk_bytes, s.cache_format, s.cache_group);
  const int64_t bt = s.block_tokens, T = item.tokens, R = item.requests;
  const int64_t H = c.hidden, Q = c.q_dim(), KV = c.kv_dim(), F = c.ffn_dim, E = c.embed_dim();

  // ---- host (or node) pool: streamed weights; host pool: host caches, the rest of the plan's --
  const int64_t streamed = L - s.gpu_weight_layers;
  HS_CHECK(s.gpu_stored_weight_layers >= 0 && s.gpu_stored_weight_layers <= streamed &&
               (s.gpu_stored_weight_layers == 0 || s.weight_format != WeightFormat::native),
           "gpu_stored_weight_layers must be in [0, ", streamed,
           "] and need compressed weights, got ", s.gpu_stored_weight_layers, " (",
           weight_format_name(s.weight_format), ")");
  // A streamed layer's parts as stored stay on the device where stored_on_device says so
  // (plan.h: stores_weights_on_device), else go to the host (or node) pool.
  auto stored_on_device = [&](int l) {
    return is_spread_among(l, s.gpu_stored_weight_layers, streamed, L);
  };
  auto stored_bytes = [&](const PartSpec& p) {
    return static_cast<size_t>(stored_part_bytes(p, s.dtype, s.weight_format, s.quant_group));
  };
  host_layer_parts.resize(static_cast<size_t>(L));
  for (int l = 0; l < L; ++l)
    if (is_spread(l, streamed, L) && !stored_on_device(l))
      for (const PartSpec& p : layer_parts(c, l))
        host_layer_parts[l].push_back(weight_pool().reserve(stored_bytes(p), "weights"));
  host_cache =
      CacheStore(cache_layout, s.keep_cache ? L - static_cast<int>(s.gpu_cache_layers) : 0, host,
                 /*host=*/true);
  if (s.host_pool_bytes > 0) {
    const size_t used = host.bytes(), planned = static_cast<size_t>(s.host_pool_bytes);
    HS_CHECK(used <= planned, "the engine needs ", used, " bytes of host pool (", host.describe(),
             ") but the plan has ", planned, ": the plan and the engine disagree on the layout");
    if (planned > used) host.reserve(planned - used, "staging");
  }

  // ---- device ----
  for (const PartSpec& p : global_parts(c))
    device_global_parts.push_back(device.reserve(bytes(p.numel()), "weights"));
  device_layer_parts.resize(static_cast<size_t>(L));
  device_stored_parts.resize(static_cast<size_t>(L));
  for (int l = 0; l < L; ++l) {
    if (!is_spread(l, streamed, L))
      for (const PartSpec& p : layer_parts(c, l))
        device_layer_parts[l].push_back(device.reserve(bytes(p.numel()), "weights"));
    else if (stored_on_device(l))
      for (const PartSpec& p : layer_parts(c, l))
        device_stored_parts[l].push_back(device.reserve(stored_bytes(p), "stored weights"));
  }
  if (streamed > 0) {
    for (auto& buf : weight_buffer_parts)
      for (const PartSpec& p : layer_parts(c, 0))  // every layer has the same parts
        buf.push_back(device.reserve(bytes(p.numel()), "weight buffers"));
    // Staging is where host-streamed layers land; a layer stored on the device expands from there.
    if (s.weight_format != WeightFormat::native && streamed > s.gpu_stored_weight_layers)
      for (auto& buf : weight_staging_parts)
        for (const PartSpec& p : layer_parts(c, 0))
          buf.push_back(device.reserve(
              static_cast<size_t>(stored_part_bytes(p, s.dtype, s.weight_format, s.quant_group)),
              "weight staging"));
  }
  device_cache =
      CacheStore(cache_layout, s.keep_cache ? static_cast<int>(s.gpu_cache_layers) : 0, device,
                 /*host=*/false);

  const std::string ws = "working set";
  x = device.reserve(bytes(x_rows * H), ws);
  const int64_t host_cache_layers = L - s.gpu_cache_layers;
  sets.resize(static_cast<size_t>((host_cache_layers > 0 ? s.host_sets : 0) +
                                  (s.gpu_cache_layers > 0 ? 2 : 0)));
  const int64_t n_host_sets = host_cache_layers > 0 ? s.host_sets : 0;
  for (size_t i = 0; i < sets.size(); ++i) {
    WorkingSet& p = sets[i];
    p.k = device.reserve(bytes(item.blocks * bt * KV), ws);
    p.v = device.reserve(bytes(item.blocks * bt * KV), ws);
    p.act = device.reserve(bytes(item.act_blocks * bt * H), ws);
    p.x_in = device.reserve(bytes(T * H), ws);
    if (s.keep_cache && cache_layout.host_compressed() && static_cast<int64_t>(i) < n_host_sets) {
      const CacheLayout& cl = cache_layout;
      p.kc = device.reserve(static_cast<size_t>(item.blocks * bt * cl.k_row_bytes(true)), ws);
      p.vc = device.reserve(static_cast<size_t>(item.blocks * bt * cl.k_row_bytes(true)), ws);
      p.actc = device.reserve(
          static_cast<size_t>(std::max(item.act_blocks * bt, T) * cl.act_row_bytes(true)), ws);
    }
  }
  h = device.reserve(bytes(std::max(T, item.act_blocks * bt) * H), ws);
  q = device.reserve(bytes(T * Q), ws);
  att = device.reserve(bytes(T * Q), ws);
  k_new = device.reserve(bytes(T * KV), ws);
  v_new = device.reserve(bytes(T * KV), ws);
  f1 = device.reserve(bytes(T * F), ws);
  if (c.ffn == FfnKind::swiglu) f3 = device.reserve(bytes(T * F), ws);
  if (c.has_projections()) {
    e = device.reserve(bytes(T * E), ws);
    last_e = device.reserve(bytes(R * E), ws);
  }
  last = device.reserve(bytes(R * H), ws);
  last_norm = device.reserve(bytes(R * H), ws);
  logits = device.reserve(static_cast<size_t>(R * c.vocab_size) * sizeof(float), ws);
  const size_t index_bytes = static_cast<size_t>(item.index_elems(bt)) * sizeof(int32_t);
  for (size_t m = 0; m < s.mini_batches.size(); ++m)
    device_index.push_back(device.reserve(index_bytes, "indices"));
}

}  // namespace hs

#include "plan/footprint.h"

#include <algorithm>

#include "plan/cost_model.h"
#include "plan/mini_batches.h"
#include "util/error.h"

namespace hs {

RunShape run_shape(const ModelConfig& c, const Plan& p, const Workload& w, DType dtype,
                   size_t max_chunk_bytes) {
  RunShape s;
  s.config = c;
  s.dtype = dtype;
  s.block_tokens = p.block_tokens;
  s.keep_cache = p.policy != Policy::recompute_tokens;
  s.act_fraction = s.keep_cache ? p.act_fraction : 0;
  s.gpu_weight_layers = p.gpu_weight_layers;
  s.gpu_stored_weight_layers = p.gpu_stored_weight_layers;
  s.gpu_cache_layers = p.gpu_cache_layers;
  s.host_sets = p.host_sets;
  s.weight_format = p.weight_format;
  s.quant_group = p.quant_group;
  s.cache_format = p.cache_format;
  s.cache_group = p.cache_group;
  s.prompt_lens = w.prompt_lens;
  s.gen_lens = w.gen_lens;
  s.mini_batches =
      p.mini_batches.empty() ? default_mini_batches(w.batch(), p.mini_batch_size) : p.mini_batches;
  s.host_pool_bytes = p.host_pool_bytes;
  s.shared_weights = p.node.shared_weights;
  s.max_chunk_bytes = max_chunk_bytes;
  return s;
}

Footprint plan_footprint(const ModelConfig& c, const Plan& p, const Workload& w) {
  HS_CHECK(p.block_tokens > 0, "block_tokens must be positive, got ", p.block_tokens);
  RunShape s = run_shape(c, p, w, p.dtype);
  s.host_pool_bytes = 0;  // exactly the regions; staging is added below
  const RunMemory m(s);
  auto host = [&](const char* cat) { return static_cast<int64_t>(m.host.category_bytes(cat)); };
  auto device = [&](const char* cat) { return static_cast<int64_t>(m.device.category_bytes(cat)); };

  Footprint f;
  f.shared_weight_bytes = static_cast<int64_t>(m.node.category_bytes("weights"));
  f.host_weight_bytes = host("weights") + f.shared_weight_bytes;
  f.host_cache_bytes = host("cache");
  int64_t final_tokens = 0;
  for (int64_t i = 0; i < w.batch(); ++i) final_tokens += w.prompt_lens[i] + w.gen_lens[i];
  const int64_t new_row_bytes =
      std::max(kv_bytes_per_token(c, p.dtype), act_bytes_per_token(c, p.dtype));
  f.host_staging_bytes = final_tokens * 4 + (s.keep_cache ? w.batch() * new_row_bytes : 0);
  f.host_pool_bytes = host("weights") + f.host_cache_bytes + f.host_staging_bytes;
  HS_CHECK(host("weights") + f.host_cache_bytes == static_cast<int64_t>(m.host.bytes()) &&
               f.shared_weight_bytes == static_cast<int64_t>(m.node.bytes()),
           "host pool layout is not packed: ", m.host.describe());

  f.device_global_weight_bytes = global_weight_bytes(c, p.dtype);
  f.device_layer_weight_bytes = device("weights") - f.device_global_weight_bytes +
                                device("weight buffers") + device("weight staging") +
                                device("stored weights");
  f.device_cache_bytes = device("cache");
  f.device_bytes = static_cast<int64_t>(m.device.bytes());
  f.working_set_bytes = f.device_bytes - f.device_global_weight_bytes -
                        f.device_layer_weight_bytes - f.device_cache_bytes;
  f.node_host_bytes = p.node.host_bytes(f.shared_weight_bytes, f.host_pool_bytes, f.device_bytes);
  return f;
}

}  // namespace hs

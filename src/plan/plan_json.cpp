#include "plan/plan_json.h"

#include "plan/constants_json.h"

namespace hs {

nlohmann::json plan_to_json(const Plan& p) {
  const NodeLayout& n = p.node;
  return {
      {"requested_policy", policy_name(p.requested)},
      {"policy", policy_name(p.policy)},
      {"act_fraction", p.act_fraction},
      {"block_tokens", p.block_tokens},
      {"dtype", dtype_name(p.dtype)},
      {"weight_format", weight_format_name(p.weight_format)},
      {"weight_group", p.quant_group},
      {"cache_format", cache_format_name(p.cache_format)},
      {"cache_group", p.cache_group},
      {"exchange_ranks", p.exchange_ranks},
      {"kv_bytes_per_token", p.kv_bytes_per_token},
      {"act_bytes_per_token", p.act_bytes_per_token},
      {"mini_batch_size", p.mini_batch_size},
      {"num_mini_batches", p.num_mini_batches},
      {"mini_batches", p.mini_batches},
      {"gpu_weight_layers", p.gpu_weight_layers},
      {"gpu_stored_weight_layers", p.gpu_stored_weight_layers},
      {"gpu_cache_layers", p.gpu_cache_layers},
      {"host_sets", p.host_sets},
      {"host_pool_bytes", p.host_pool_bytes},
      {"device_bytes", p.device_bytes},
      {"node",
       {{"ranks", n.ranks},
        {"shared_weights", n.shared_weights},
        {"device_in_host", n.device_in_host},
        {"shared_weight_bytes", p.shared_weight_bytes},
        {"rank_host_bytes", p.host_pool_bytes + (n.device_in_host ? p.device_bytes : 0)},
        {"host_bytes", p.node_host_bytes}}},
      {"predicted_pcie_ms", p.predicted_pcie_ms},
      {"predicted_gpu_ms", p.predicted_gpu_ms},
      {"predicted_step_ms", p.predicted_step_ms},
      {"predicted_prefill_ms", p.predicted_prefill_ms},
      {"predicted_tokens_per_s", p.predicted_tokens_per_s},
      {"constants", constants_to_json(p.constants)},
      {"explanation", p.explanation},
  };
}

}  // namespace hs

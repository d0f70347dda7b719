// The memory of a plan (plan/footprint.h) on a tiny model: the host pool and the weights and
// caches worked out by hand, the device total checked against the engine's layout.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "plan/cost_model.h"
#include "plan/footprint.h"
#include "plan/mini_batches.h"
#include "util/error.h"

namespace hs {
namespace {

// OPT-style, multi-head: hidden 8, 2 heads (kv_dim 8), ffn 16, 4 layers, vocab 20, 32 positions.
// fp16: K/V 2 * 8 * 2 = 32 B a token, checkpoint 8 * 2 = 16 B.
// Layer: 4 h^2 + 2 h ffn + 9 h + ffn = 256 + 256 + 72 + 16 = 600 elements = 1200 B.
// Model-wide: token embedding 20 * 8 + positions (32 + 2) * 8 + final norm 2 * 8 = 448 = 896 B.
ModelConfig tiny_opt() {
  return parse_model_config(nlohmann::json{{"model_type", "opt"},
                                           {"hidden_size", 8},
                                           {"num_hidden_layers", 4},
                                           {"num_attention_heads", 2},
                                           {"ffn_dim", 16},
                                           {"vocab_size", 20},
                                           {"max_position_embeddings", 32}},
                            "tiny");
}

// Prompts 5, 9, 3 and gens 3, 2, 6: final lengths 8, 11, 9 = 2, 3, 3 blocks of 4. With f = 1/2
// block 1 of each is a checkpoint block: caches 4 (32 + 16) = 192, 4 (64 + 16) = 320 and 320 B
// a layer, 832 B in all.
Workload tiny_workload() {
  Workload w;
  w.prompt_lens = {5, 9, 3};
  w.gen_lens = {3, 2, 6};
  return w;
}

Plan tiny_plan() {
  Plan p;
  p.policy = Policy::hybrid;
  p.act_fraction = 0.5;
  p.block_tokens = 4;
  p.dtype = DType::f16;
  p.gpu_weight_layers = 1;
  p.gpu_cache_layers = 2;
  p.mini_batch_size = 2;
  p.num_mini_batches = 2;
  p.mini_batches = {{0, 2}, {1}};
  return p;
}

TEST(Footprint, HandComputed) {
  const ModelConfig c = tiny_opt();
  ASSERT_EQ(layer_weight_bytes(c, DType::f16), 1200);
  ASSERT_EQ(global_weight_bytes(c, DType::f16), 896);
  const Footprint f = plan_footprint(c, tiny_plan(), tiny_workload());
  EXPECT_EQ(f.host_weight_bytes, 3 * 1200);
  EXPECT_EQ(f.host_cache_bytes, 2 * 832);
  // Token ids of 28 final tokens (int32) + one new row per request at the larger row size.
  EXPECT_EQ(f.host_staging_bytes, 28 * 4 + 3 * 32);
  EXPECT_EQ(f.host_pool_bytes, 3600 + 1664 + 208);

  EXPECT_EQ(f.device_global_weight_bytes, 896);
  EXPECT_EQ(f.device_layer_weight_bytes, 1200 + 2 * 1200);  // resident + double buffer
  EXPECT_EQ(f.device_cache_bytes, 2 * 832);
  // The working set is the rest of the engine's device pool (with alignment padding).
  const RunMemory m(run_shape(c, tiny_plan(), tiny_workload(), DType::f16));
  EXPECT_EQ(f.device_bytes, static_cast<int64_t>(m.device.bytes()));
  EXPECT_EQ(f.working_set_bytes, f.device_bytes - 896 - 3600 - 1664);
  EXPECT_GT(f.working_set_bytes, static_cast<int64_t>(m.device.category_bytes("working set")));
}

// A third working set for host-cache items (Plan::host_sets) is one more widest item's working
// K, V, loaded checkpoints and layer input on the device, and nothing on the host.
TEST(Footprint, AThirdHostSetIsOneMoreWorkingSet) {
  const ModelConfig c = tiny_opt();
  Plan p = tiny_plan();
  const Footprint two = plan_footprint(c, p, tiny_workload());
  p.host_sets = 3;
  const Footprint three = plan_footprint(c, p, tiny_workload());
  const RunMemory m(run_shape(c, p, tiny_workload(), DType::f16));
  EXPECT_EQ(m.sets.size(), 5u);  // three for host-cache items, two for device-cache ones
  auto aligned = [](int64_t bytes) { return (bytes + 255) / 256 * 256; };
  const int64_t bt = 4, kv = 8, hidden = 8;
  const int64_t one_set = 2 * aligned(m.item.blocks * bt * kv * 2) +
                          aligned(m.item.act_blocks * bt * hidden * 2) +
                          aligned(m.item.tokens * hidden * 2);
  EXPECT_EQ(three.device_bytes - two.device_bytes, one_set);
  EXPECT_EQ(three.host_pool_bytes, two.host_pool_bytes);
  // Every cache on the device: no host-cache item, no host set laid out.
  p.gpu_cache_layers = 4;
  EXPECT_EQ(RunMemory(run_shape(c, p, tiny_workload(), DType::f16)).sets.size(), 2u);
  p.host_sets = 1;
  EXPECT_THROW(plan_footprint(c, p, tiny_workload()), Error);
}

TEST(Footprint, UnformedMiniBatchesAreTheEngines) {
  const ModelConfig c = tiny_opt();
  Plan p = tiny_plan();
  p.mini_batches.clear();
  const Footprint unformed = plan_footprint(c, p, tiny_workload());
  p.mini_batches = default_mini_batches(3, 2);
  ASSERT_EQ(p.mini_batches, (std::vector<std::vector<int32_t>>{{0, 1}, {2}}));
  EXPECT_EQ(unformed.device_bytes, plan_footprint(c, p, tiny_workload()).device_bytes);
}

TEST(Footprint, AllLayersResidentNeedNoDoubleBuffer) {
  const ModelConfig c = tiny_opt();
  Plan p = tiny_plan();
  p.gpu_weight_layers = 4;
  p.gpu_cache_layers = 4;
  const Footprint f = plan_footprint(c, p, tiny_workload());
  EXPECT_EQ(f.device_layer_weight_bytes, 4 * 1200);
  EXPECT_EQ(f.host_weight_bytes, 0);
  EXPECT_EQ(f.host_cache_bytes, 0);
  EXPECT_EQ(f.device_cache_bytes, 4 * 832);
}

TEST(Footprint, RecomputeTokensKeepsNoCache) {
  const ModelConfig c = tiny_opt();
  Plan p = tiny_plan();
  p.policy = Policy::recompute_tokens;
  p.act_fraction = 0;
  const Footprint f = plan_footprint(c, p, tiny_workload());
  EXPECT_EQ(f.host_cache_bytes, 0);
  EXPECT_EQ(f.device_cache_bytes, 0);
  EXPECT_EQ(f.host_staging_bytes, 28 * 4);
  EXPECT_EQ(
      f.device_bytes,
      static_cast<int64_t>(RunMemory(run_shape(c, p, tiny_workload(), DType::f16)).device.bytes()));
}

}  // namespace
}  // namespace hs

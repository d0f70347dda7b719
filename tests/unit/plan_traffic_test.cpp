// plan/plan.h: policy names, the even spread of activation blocks, and predict_step_traffic on
// a small case worked out by hand from the block accounting in the header.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "plan/cost_model.h"
#include "plan/plan.h"
#include "util/error.h"

namespace hs {
namespace {

TEST(Policy, NamesRoundTrip) {
  for (Policy p :
       {Policy::kv, Policy::act, Policy::hybrid, Policy::recompute_tokens, Policy::automatic})
    EXPECT_EQ(parse_policy(policy_name(p)), p);
  EXPECT_STREQ(policy_name(Policy::recompute_tokens), "recompute-tokens");
  EXPECT_STREQ(policy_name(Policy::automatic), "auto");
}

TEST(Policy, UnknownNameListsTheChoices) {
  try {
    parse_policy("flexgen");
    FAIL();
  } catch (const Error& e) {
    const std::string m = e.what();
    for (const char* name : {"flexgen", "kv", "act", "hybrid", "recompute-tokens", "auto"})
      EXPECT_NE(m.find(name), std::string::npos) << m;
  }
}

TEST(Workload, Uniform) {
  const Workload w = Workload::uniform(3, 100, 7);
  EXPECT_EQ(w.batch(), 3);
  EXPECT_EQ(w.prompt_lens, (std::vector<int64_t>{100, 100, 100}));
  EXPECT_EQ(w.gen_lens, (std::vector<int64_t>{7, 7, 7}));
}

TEST(ActBlocks, SpreadEvenly) {
  for (int64_t b = 0; b < 64; ++b) {
    EXPECT_FALSE(is_act_block(b, 0.0)) << b;
    EXPECT_TRUE(is_act_block(b, 1.0)) << b;
    // floor((b+1)/2) > floor(b/2) iff b is odd.
    EXPECT_EQ(is_act_block(b, 0.5), b % 2 == 1) << b;
    // f = 1/4: every fourth block, the last of each group of four.
    EXPECT_EQ(is_act_block(b, 0.25), b % 4 == 3) << b;
    // f = 3/4: all but the first of each group of four.
    EXPECT_EQ(is_act_block(b, 0.75), b % 4 != 0) << b;
  }
  // Among the first m blocks there are floor(m f) activation blocks, for any f.
  for (double f : {0.0, 0.1, 1.0 / 3, 0.5, 0.7, 29.0 / 32, 1.0}) {
    int64_t count = 0;
    for (int64_t m = 0; m <= 200; ++m) {
      EXPECT_EQ(act_blocks_among(m, f), count) << "f " << f << " m " << m;
      EXPECT_EQ(count, static_cast<int64_t>(std::floor(m * f))) << "f " << f << " m " << m;
      if (is_act_block(m, f)) ++count;
    }
  }
}

// A tiny LLaMA-style model: hidden 16, 4 heads of 4, 1 K/V head (kv_dim 4), ffn 24, 3 layers.
ModelConfig tiny_gqa() {
  return parse_model_config(nlohmann::json{{"model_type", "llama"},
                                           {"hidden_size", 16},
                                           {"num_hidden_layers", 3},
                                           {"num_attention_heads", 4},
                                           {"num_key_value_heads", 1},
                                           {"intermediate_size", 24},
                                           {"vocab_size", 50},
                                           {"max_position_embeddings", 64}},
                            "tiny");
}

TEST(StepTraffic, SizesPerToken) {
  const ModelConfig c = tiny_gqa();
  // fp16: K/V 2 * kv_dim * 2 = 16 B, checkpoint hidden * 2 = 32 B.
  EXPECT_EQ(kv_bytes_per_token(c, DType::f16), 16);
  EXPECT_EQ(act_bytes_per_token(c, DType::f16), 32);
  EXPECT_EQ(kv_bytes_per_token(c, DType::f32), 32);
  // Layer weights: 2 norms (2 h) + q, o (2 h q) + k, v (2 h kv) + gate, up, down (3 h ffn)
  // = 32 + 512 + 128 + 1152 = 1824 elements.
  EXPECT_EQ(layer_weight_bytes(c, DType::f16), 1824 * 2);
}

TEST(StepTraffic, HandComputedMixedLengths) {
  const ModelConfig c = tiny_gqa();
  Plan p;
  p.policy = Policy::hybrid;
  p.act_fraction = 0.5;  // odd blocks are activation blocks
  p.block_tokens = 4;
  p.gpu_weight_layers = 1;
  p.gpu_cache_layers = 1;  // 2 host-cache layers
  p.dtype = DType::f16;
  // Cached tokens before the step, blocks of 4 (K = K/V block, A = activation block):
  //   5 tokens: blocks 0 K, 1 A (partial, loaded whole); new token at 5 -> block 1: A
  //   8 tokens: blocks 0 K, 1 A;                        new token at 8 -> block 2: K
  //   1 token:  block 0 K;                              new token at 1 -> block 0: K
  //  11 tokens: blocks 0 K, 1 A, 2 K;                   new token at 11 -> block 2: K
  // K/V blocks 5, activation blocks 3, per host layer.
  const StepTraffic t = predict_step_traffic(c, p, {5, 8, 1, 11});
  EXPECT_EQ(t.weights_h2d, 2 * 3648);                    // layers 1 and 2
  EXPECT_EQ(t.kv_h2d, 2 * 5 * 4 * 16);                   // 640
  EXPECT_EQ(t.act_h2d, 2 * 3 * 4 * 32);                  // 768
  EXPECT_EQ(t.write_back_d2h, 2 * (32 + 16 + 16 + 16));  // 160
  EXPECT_EQ(t.total_h2d(), 7296 + 640 + 768);

  // All caches on the device: only weights cross.
  p.gpu_cache_layers = 3;
  const StepTraffic resident = predict_step_traffic(c, p, {5, 8, 1, 11});
  EXPECT_EQ(resident.kv_h2d + resident.act_h2d + resident.write_back_d2h, 0);
  EXPECT_EQ(resident.weights_h2d, 2 * 3648);

  // kv: every block K/V; 3 host layers, no resident weights.
  p.policy = Policy::kv;
  p.act_fraction = 0;
  p.gpu_cache_layers = 0;
  p.gpu_weight_layers = 0;
  const StepTraffic kv = predict_step_traffic(c, p, {5, 8, 1, 11});
  EXPECT_EQ(kv.weights_h2d, 3 * 3648);
  EXPECT_EQ(kv.kv_h2d, 3 * 8 * 4 * 16);  // 2 + 2 + 1 + 3 blocks
  EXPECT_EQ(kv.act_h2d, 0);
  EXPECT_EQ(kv.write_back_d2h, 3 * 4 * 16);

  // act: every block a checkpoint.
  p.policy = Policy::act;
  p.act_fraction = 1;
  const StepTraffic act = predict_step_traffic(c, p, {5, 8, 1, 11});
  EXPECT_EQ(act.kv_h2d, 0);
  EXPECT_EQ(act.act_h2d, 3 * 8 * 4 * 32);
  EXPECT_EQ(act.write_back_d2h, 3 * 4 * 32);

  // recompute-tokens: weights only.
  p.policy = Policy::recompute_tokens;
  p.act_fraction = 0;
  const StepTraffic rt = predict_step_traffic(c, p, {5, 8, 1, 11});
  EXPECT_EQ(rt.weights_h2d, 3 * 3648);
  EXPECT_EQ(rt.kv_h2d + rt.act_h2d + rt.write_back_d2h, 0);
}

}  // namespace
}  // namespace hs

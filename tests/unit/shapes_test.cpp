// Named shapes against the published models: parameter counts within 3% of the nominal size,
// and the hyper-parameters the planner depends on (K/V heads, RoPE theta, vocabularies).
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "model/shapes.h"
#include "model/weights.h"
#include "util/error.h"

namespace hs {
namespace {

int64_t parameters(const ModelConfig& c) {
  int64_t n = 0;
  for (const auto& s : global_parts(c)) n += s.numel();
  for (int l = 0; l < c.n_layers; ++l)
    for (const auto& s : layer_parts(c, l)) n += s.numel();
  return n;
}

TEST(Shapes, ParameterCountsMatchTheNominalSizes) {
  // Llama 2 "7B" has 6.74e9 parameters (its model card), 3.7% under its name: compared with
  // that published count instead.
  const std::pair<const char*, double> nominal[] = {
      {"opt-1.3b", 1.3e9},   {"opt-6.7b", 6.7e9}, {"opt-13b", 13e9},      {"opt-30b", 30e9},
      {"opt-66b", 66e9},     {"opt-175b", 175e9}, {"llama-2-7b", 6.74e9}, {"llama-2-13b", 13e9},
      {"llama-2-70b", 70e9}, {"llama-3-8b", 8e9}, {"llama-3-70b", 70e9},  {"opt-125m", 125e6},
      {"opt-2.7b", 2.7e9}};
  for (const auto& [name, n] : nominal) {
    const double got = static_cast<double>(parameters(model_shape(name)));
    EXPECT_LT(std::fabs(got / n - 1), 0.03) << name << ": " << got << " parameters";
  }
}

TEST(Shapes, PublishedHyperParameters) {
  const ModelConfig o = model_shape("opt-30b");
  EXPECT_EQ(o.family, Family::opt);
  EXPECT_EQ(o.hidden, 7168);
  EXPECT_EQ(o.n_layers, 48);
  EXPECT_EQ(o.n_heads, 56);
  EXPECT_EQ(o.n_kv_heads, 56);
  EXPECT_EQ(o.head_dim, 128);
  EXPECT_EQ(o.ffn_dim, 4 * 7168);
  EXPECT_EQ(o.vocab_size, 50272);
  EXPECT_EQ(o.max_positions, 2048);
  EXPECT_EQ(o.position_offset, 2);  // OPT's learned positions start at 2
  EXPECT_TRUE(o.qkv_bias && o.pre_norm && o.tie_embeddings);

  const ModelConfig l2 = model_shape("llama-2-70b");
  EXPECT_EQ(l2.family, Family::llama);
  EXPECT_EQ(l2.hidden, 8192);
  EXPECT_EQ(l2.n_layers, 80);
  EXPECT_EQ(l2.n_heads, 64);
  EXPECT_EQ(l2.n_kv_heads, 8);
  EXPECT_EQ(l2.ffn_dim, 28672);
  EXPECT_EQ(l2.vocab_size, 32000);
  EXPECT_EQ(l2.max_positions, 4096);
  EXPECT_FLOAT_EQ(l2.rope_theta, 10000.f);
  EXPECT_FALSE(l2.tie_embeddings);

  const ModelConfig l3 = model_shape("llama-3-8b");
  EXPECT_EQ(l3.hidden, 4096);
  EXPECT_EQ(l3.n_layers, 32);
  EXPECT_EQ(l3.n_kv_heads, 8);
  EXPECT_EQ(l3.ffn_dim, 14336);
  EXPECT_EQ(l3.vocab_size, 128256);
  EXPECT_EQ(l3.max_positions, 8192);
  EXPECT_FLOAT_EQ(l3.rope_theta, 500000.f);

  EXPECT_EQ(model_shape("llama-2-13b").n_kv_heads, 40);  // no GQA below 70B in Llama 2
  EXPECT_EQ(model_shape("llama-3-70b").n_kv_heads, 8);
}

TEST(Shapes, EveryListedNameLoads) {
  const auto names = model_shape_names();
  EXPECT_GE(names.size(), 11u);
  for (const auto& n : names) EXPECT_NO_THROW(model_shape(n)) << n;
}

TEST(Shapes, UnknownNameListsTheKnownOnes) {
  try {
    model_shape("opt-7b");
    FAIL() << "expected hs::Error";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("opt-7b"), std::string::npos) << m;
    EXPECT_NE(m.find("opt-13b"), std::string::npos) << m;
    EXPECT_NE(m.find("llama-3-70b"), std::string::npos) << m;
  }
}

}  // namespace
}  // namespace hs

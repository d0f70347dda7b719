// Every cache policy of the hybrid engine against Hugging Face's greedy tokens (tests/goldens)
// and the reference engine, on every tiny model: bitwise equal tokens on the cpu backend.
// Batches mix prompt lengths (1 .. 64 tokens), run as several mini-batches (3 requests each),
// with 4-token blocks so requests span many blocks and end in partial ones.
#include <gtest/gtest.h>

#include "backend/backend.h"
#include "engine/engine.h"
#include "engine/reference.h"
#include "goldens.h"
#include "model/weights.h"
#include "plan/planner.h"
#include "test_support.h"

namespace hs {
namespace {

struct PolicyCase {
  std::string name;
  Policy policy;
  double act_fraction;
  int64_t gpu_weight_layers = 0;
  int64_t gpu_cache_layers = 0;
  // Write-backs into resident caches by copy_runs (0: always) or by the copy_rows kernel (tiny
  // models' runs are far below the default, so the default takes the kernel); into the host
  // cache always by copy_runs.
  int64_t min_dma_run_bytes = HybridEngine::kDefaultMinDmaRunBytes;
  int64_t host_sets = 2;  // working sets host-cache items take turns on
};

const std::vector<PolicyCase>& policy_cases() {
  static const std::vector<PolicyCase> cases = {
      {"kv", Policy::kv, 0.0},
      {"act", Policy::act, 1.0},
      {"hybrid_half", Policy::hybrid, 0.5},
      {"hybrid_0_3", Policy::hybrid, 0.3},
      {"hybrid_0_7_resident", Policy::hybrid, 0.7, 1, 1},
      {"act_resident_cache", Policy::act, 1.0, 0, 1},
      {"recompute_tokens", Policy::recompute_tokens, 0.0},
      {"hybrid_half_resident_dma_stores", Policy::hybrid, 0.5, 1, 1, 0},
      {"kv_resident_three_host_sets", Policy::kv, 0.0, 0, 1, HybridEngine::kDefaultMinDmaRunBytes,
       3},
      {"hybrid_half_four_host_sets", Policy::hybrid, 0.5, 1, 0,
       HybridEngine::kDefaultMinDmaRunBytes, 4},
  };
  return cases;
}

Plan hand_plan(const PolicyCase& pc) {
  Plan p = test::hand_plan(pc.policy, pc.act_fraction, pc.gpu_weight_layers, pc.gpu_cache_layers);
  p.host_sets = pc.host_sets;
  return p;
}

using Param = std::tuple<std::string, PolicyCase>;
class EnginePolicies : public ::testing::TestWithParam<Param> {};

TEST_P(EnginePolicies, TokensEqualGoldensAndReference) {
  const auto& [model, pc] = GetParam();
  const test::Golden g = test::load_golden(model);
  auto weights = open_model_dir(test::data_path("models/" + model));
  auto backend = make_backend("cpu");
  const std::vector<GenRequest> batch = test::golden_batch(g);

  HybridEngine engine(*weights, *backend, hand_plan(pc), test::workload_of(batch));
  engine.set_min_dma_run_bytes(pc.min_dma_run_bytes);
  const auto got = engine.generate(batch, SamplingParams{});
  ReferenceGenerator ref(*weights);
  const auto want = ref.generate(batch, SamplingParams{});
  ASSERT_EQ(got.size(), g.cases.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].output, g.cases[i].greedy) << model << " " << pc.name << " case " << i;
    EXPECT_EQ(got[i].output, want[i].output) << model << " " << pc.name << " case " << i;
    EXPECT_EQ(got[i].finish_reason, want[i].finish_reason) << model << " case " << i;
    EXPECT_EQ(got[i].id, batch[i].id);
  }
}

// The logits observer sees what sampling sees: on the cpu backend the engine's logits are the
// reference's, bit for bit, for every request and step.
TEST(EngineLogits, ObserverSeesTheReferenceLogits) {
  const test::Golden g = test::load_golden("opt-tiny");
  auto weights = open_model_dir(test::data_path("models/opt-tiny"));
  auto backend = make_backend("cpu");
  const std::vector<GenRequest> batch = test::golden_batch(g);
  test::LogitsRows got, want;
  HybridEngine engine(*weights, *backend, hand_plan(policy_cases()[2]), test::workload_of(batch));
  engine.set_logits_observer(test::record_logits(got));
  const auto out = engine.generate(batch, SamplingParams{});
  ReferenceGenerator ref(*weights);
  ref.set_logits_observer(test::record_logits(want));
  ref.generate(batch, SamplingParams{});
  size_t tokens = 0;
  for (const auto& r : out) tokens += r.output.size();
  EXPECT_EQ(want.size(), tokens);  // one row per generated token
  EXPECT_EQ(got, want);
}

// Streamed and host-cache layers are spread over the depth (plan.h): on a 4-layer model they
// interleave with resident ones, and one streamed layer's upload can span the items of three
// layers before it. Every arrangement gives the reference's tokens (the reference is tested
// against HF; demo-opt has no goldens of its own, so it runs opt-tiny's prompts).
TEST(EngineSpread, InterleavedLayersGiveTheReferenceTokens) {
  const test::Golden g = test::load_golden("opt-tiny");
  auto weights = open_model_dir(test::data_path("models/demo-opt"));
  ASSERT_EQ(weights->config().n_layers, 4);
  auto backend = make_backend("cpu");
  const std::vector<GenRequest> batch = test::golden_batch(g);
  ReferenceGenerator ref(*weights);
  const auto want = ref.generate(batch, SamplingParams{});
  const struct {
    int64_t gpu_weight_layers, gpu_cache_layers;
    std::vector<bool> streamed, host;  // by layer, as plan.h spreads them
  } arrangements[] = {
      {2, 2, {false, true, false, true}, {false, true, false, true}},
      {3, 1, {false, false, false, true}, {false, true, true, true}},
      {1, 3, {false, true, true, true}, {false, false, false, true}},
      {0, 2, {true, true, true, true}, {false, true, false, true}},
  };
  for (const PolicyCase& pc : {policy_cases()[0], policy_cases()[1], policy_cases()[2]})
    for (const auto& a : arrangements)
      for (const int64_t host_sets : {2, 3}) {
        PolicyCase c = pc;
        c.gpu_weight_layers = a.gpu_weight_layers;
        c.gpu_cache_layers = a.gpu_cache_layers;
        c.host_sets = host_sets;
        const Plan plan = hand_plan(c);
        for (int64_t l = 0; l < 4; ++l) {
          EXPECT_EQ(streams_weights(plan, 4, l), a.streamed[static_cast<size_t>(l)]) << l;
          EXPECT_EQ(host_cache_layer(plan, 4, l), a.host[static_cast<size_t>(l)]) << l;
        }
        HybridEngine engine(*weights, *backend, plan, test::workload_of(batch));
        const auto got = engine.generate(batch, SamplingParams{});
        ASSERT_EQ(got.size(), want.size());
        for (size_t i = 0; i < got.size(); ++i)
          EXPECT_EQ(got[i].output, want[i].output)
              << pc.name << " weights " << a.gpu_weight_layers << " caches " << a.gpu_cache_layers
              << " host sets " << host_sets << " case " << i;
      }
}

std::string param_name(const ::testing::TestParamInfo<Param>& info) {
  std::string n = std::get<0>(info.param) + "_" + std::get<1>(info.param).name;
  for (char& ch : n)
    if (ch == '-') ch = '_';
  return n;
}

INSTANTIATE_TEST_SUITE_P(TinyModels, EnginePolicies,
                         ::testing::Combine(::testing::ValuesIn(test::golden_models()),
                                            ::testing::ValuesIn(policy_cases())),
                         param_name);

}  // namespace
}  // namespace hs

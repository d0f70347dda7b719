// generate() beyond greedy golden batches, always against the reference engine (the oracle):
// sampling, the planner's plans (auto and each policy), stop functions, budgets cut by
// max_new_tokens or the context, batches larger than planned, and reuse of one engine.
#include <gtest/gtest.h>

#include "backend/backend.h"
#include "engine/engine.h"
#include "engine/reference.h"
#include "goldens.h"
#include "model/weights.h"
#include "test_support.h"

namespace hs {
namespace {

using test::hand_plan;

void expect_same(const std::vector<GenResult>& got, const std::vector<GenResult>& want,
                 const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].id, want[i].id) << what;
    EXPECT_EQ(got[i].output, want[i].output) << what << " request " << i;
    EXPECT_EQ(got[i].finish_reason, want[i].finish_reason) << what << " request " << i;
  }
}

// Temperature 0.8, top-k 20, top-p 0.9, seed 7: a request's tokens depend only on the seed,
// its id and the step, so every policy draws the reference's tokens.
TEST(EngineGenerate, SamplingEqualsTheReference) {
  SamplingParams sp;
  sp.temperature = 0.8f;
  sp.top_k = 20;
  sp.top_p = 0.9f;
  sp.seed = 7;
  for (const std::string model : {"opt-tiny", "llama-gqa", "qwen2-tiny", "opt-postln-proj"}) {
    const test::Golden g = test::load_golden(model);
    auto weights = open_model_dir(test::data_path("models/" + model));
    const auto batch = test::golden_batch(g, 10);
    const auto want = ReferenceGenerator(*weights).generate(batch, sp);
    for (const Plan& p :
         {hand_plan(Policy::kv, 0), hand_plan(Policy::act, 1), hand_plan(Policy::hybrid, 0.5, 1, 1),
          hand_plan(Policy::recompute_tokens, 0)}) {
      auto backend = make_backend("cpu");
      HybridEngine engine(*weights, *backend, p, test::workload_of(batch));
      expect_same(engine.generate(batch, sp), want, model + " " + policy_name(p.policy));
    }
  }
}

// The planner's plans, through make_generator as `run` builds them: auto and each policy on
// every model. (With the cpu backend's 16 GiB the planner keeps these tiny models resident;
// streamed layers are covered by the hand-made plans of engine_policies_test.)
TEST(EngineGenerate, PlannedRunsEqualTheGoldens) {
  for (const std::string& model : test::golden_models()) {
    const test::Golden g = test::load_golden(model);
    auto weights = open_model_dir(test::data_path("models/" + model));
    const auto batch = test::golden_batch(g, g.max_new_tokens);
    for (Policy pol :
         {Policy::automatic, Policy::kv, Policy::act, Policy::hybrid, Policy::recompute_tokens}) {
      EngineOptions o;
      o.policy = pol;
      o.block_tokens = 4;
      o.mini_batch_size = 3;
      o.workload = test::workload_of(batch);
      o.host_mem_gib = 1;
      auto gen = make_generator(o, *weights, make_backend("cpu"));
      ASSERT_NE(plan_of(*gen), nullptr);
      EXPECT_EQ(plan_of(*gen)->requested, pol);
      const auto got = gen->generate(batch, SamplingParams{});
      for (size_t i = 0; i < got.size(); ++i)
        EXPECT_EQ(got[i].output, g.cases[i].greedy)
            << model << " " << policy_name(pol) << " case " << i;
    }
  }
}

TEST(EngineGenerate, StopFunctionEndsARequestAsInTheReference) {
  const test::Golden g = test::load_golden("llama-tiny");
  auto weights = open_model_dir(test::data_path("models/llama-tiny"));
  const auto batch = test::golden_batch(g, 12);
  // Request 1 stops after its third token, request 4 when it produces the token it produced
  // fifth in the unstopped run.
  const int32_t fifth = g.cases[4].greedy.at(4);
  const StopFn stop = [&](size_t i, const std::vector<int32_t>& out) {
    return (i == 1 && out.size() == 3) || (i == 4 && out.back() == fifth);
  };
  const auto want = ReferenceGenerator(*weights).generate(batch, SamplingParams{}, stop);
  ASSERT_EQ(want[1].finish_reason, "stop");
  auto backend = make_backend("cpu");
  HybridEngine engine(*weights, *backend, hand_plan(Policy::hybrid, 0.5), test::workload_of(batch));
  expect_same(engine.generate(batch, SamplingParams{}, stop), want, "stop");
}

// Budgets: 0 tokens, 1 token, different per request, and cut by the context (128 positions).
TEST(EngineGenerate, BudgetsAsInTheReference) {
  const test::Golden g = test::load_golden("opt-oddheads");
  auto weights = open_model_dir(test::data_path("models/opt-oddheads"));
  std::vector<GenRequest> batch = test::golden_batch(g, 5);
  batch[0].max_new_tokens = 0;
  batch[1].max_new_tokens = 1;
  batch[2].max_new_tokens = 9;
  std::vector<int32_t> long_prompt;
  for (int i = 0; i < 124; ++i) long_prompt.push_back(3 + (i * 37) % 800);
  batch.push_back({"near-context", long_prompt, 20, {}});  // only 4 positions left
  const auto want = ReferenceGenerator(*weights).generate(batch, SamplingParams{});
  ASSERT_EQ(want.back().output.size(), 4u);
  for (Policy pol : {Policy::kv, Policy::hybrid, Policy::recompute_tokens}) {
    auto backend = make_backend("cpu");
    HybridEngine engine(*weights, *backend, hand_plan(pol, pol == Policy::hybrid ? 0.5 : 0),
                        test::workload_of(batch));
    expect_same(engine.generate(batch, SamplingParams{}), want, policy_name(pol));
  }
}

// An engine planned for 3 requests runs a batch of 8 as groups that fit, with the same tokens;
// and it can be used again (its blocks come back after each batch).
TEST(EngineGenerate, LargerBatchesRunInGroupsAndEnginesAreReusable) {
  const test::Golden g = test::load_golden("llama-mqa-odd");
  auto weights = open_model_dir(test::data_path("models/llama-mqa-odd"));
  const auto batch = test::golden_batch(g, g.max_new_tokens);
  Workload three = Workload::uniform(3, 64, g.max_new_tokens);
  auto backend = make_backend("cpu");
  HybridEngine engine(*weights, *backend, hand_plan(Policy::hybrid, 0.5), three);
  for (int round = 0; round < 2; ++round) {
    const auto got = engine.generate(batch, SamplingParams{});
    for (size_t i = 0; i < got.size(); ++i)
      EXPECT_EQ(got[i].output, g.cases[i].greedy) << "round " << round << " case " << i;
  }
}

TEST(EngineGenerate, ReferenceEngineThroughTheFactory) {
  const test::Golden g = test::load_golden("opt-tiny");
  auto weights = open_model_dir(test::data_path("models/opt-tiny"));
  EngineOptions o;
  o.engine = "reference";
  auto gen = make_generator(o, *weights, make_backend("cpu"));
  EXPECT_EQ(plan_of(*gen), nullptr);
  EXPECT_EQ(trace_of(*gen), nullptr);
  const auto got = gen->generate(test::golden_batch(g, g.max_new_tokens), SamplingParams{});
  for (size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i].output, g.cases[i].greedy);
}

}  // namespace
}  // namespace hs

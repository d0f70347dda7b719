// Scoring text (engine/score.h) against Hugging Face: each golden case's prompt followed by HF's
// greedy tokens, scored by teacher forcing, gives at each generated position the negative
// log-likelihood HF's own logits give that token (tests/goldens: the logits before each
// generated token). Through the reference engine and the hybrid engine on the cpu backend.
#include <gtest/gtest.h>

#include <cmath>

#include "backend/backend.h"
#include "engine/engine.h"
#include "engine/reference.h"
#include "engine/score.h"
#include "goldens.h"
#include "model/weights.h"
#include "test_support.h"
#include "util/error.h"

namespace hs {
namespace {

TEST(Score, NllOfIsMinusLogSoftmax) {
  const std::vector<float> logits = {1.f, 2.f, 3.f};
  const double z = std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0));
  EXPECT_NEAR(nll_of(logits.data(), 3, 2), z - 3, 1e-12);
  EXPECT_NEAR(nll_of(logits.data(), 3, 0), z - 1, 1e-12);
  const std::vector<float> big = {1000.f, 0.f};  // no overflow
  EXPECT_NEAR(nll_of(big.data(), 2, 0), std::log1p(std::exp(-1000.0)), 1e-12);
  EXPECT_THROW(nll_of(logits.data(), 3, 3), Error);
}

TEST(Score, TeacherForcedNllIsHuggingFaces) {
  for (const std::string model : {"opt-tiny", "llama-tiny"}) {
    const test::Golden g = test::load_golden(model);
    auto weights = open_model_dir(test::data_path("models/" + model));
    auto backend = make_backend("cpu");
    ReferenceGenerator ref(*weights);
    const std::vector<GenRequest> batch = test::golden_batch(g);
    HybridEngine engine(*weights, *backend, test::hand_plan(Policy::hybrid, 0.5, 0, 1, 2),
                        test::workload_of(batch));
    int checked = 0;
    for (const test::GoldenCase& c : g.cases) {
      std::vector<int32_t> ids = c.prompt;
      ids.insert(ids.end(), c.greedy.begin(), c.greedy.end());
      const size_t scored = std::min(c.greedy.size(), c.step_logits.size());
      for (Generator* gen : {static_cast<Generator*>(&ref), static_cast<Generator*>(&engine)}) {
        const std::vector<double> nll = token_nll(*gen, ids, 3);
        ASSERT_EQ(nll.size(), ids.size() - 1);
        for (size_t j = 0; j < scored; ++j) {
          const std::vector<float>& hf = c.step_logits[j];
          const double want = nll_of(hf.data(), static_cast<int64_t>(hf.size()), c.greedy[j]);
          EXPECT_NEAR(nll[c.prompt.size() - 1 + j], want, 1e-4 + 1e-4 * want)
              << model << " position " << c.prompt.size() + j;
          ++checked;
        }
      }
    }
    EXPECT_GT(checked, 4) << model;
  }
}

TEST(Score, RefusesTextsLongerThanTheContext) {
  auto weights = open_model_dir(test::data_path("models/opt-tiny"));
  ReferenceGenerator ref(*weights);
  std::vector<int32_t> ids(static_cast<size_t>(weights->config().max_positions + 1), 2);
  EXPECT_THROW(token_nll(ref, ids, 4), Error);
  EXPECT_THROW(token_nll(ref, {2, 3}, 0), Error);
}

}  // namespace
}  // namespace hs

// Scoring text (engine/score.h) against Hugging Face: each golden case's prompt followed by HF's
// greedy tokens, scored by teacher forcing, gives at each generated position the negative
// log-likelihood HF's own logits give that token (tests/goldens: the logits before each
// generated token). Through the reference engine and the hybrid engine on the cpu backend.
#include <gtest/gtest.h>

#include <algorithm>
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

// Scoring through decode steps (token_nll_decode: the text forced through generation, each token
// scored from the logits of the step before it, attention reading the caches back) gives HF's
// numbers too, under every cache policy and with the caches on the host and compressed as int8
// (which keeps the golden's tokens' likelihoods within a loose bound, and moves them: the cache
// is read back). A text of one token has nothing to score.
TEST(Score, DecodeScoringReadsTheCachesAndIsHuggingFaces) {
  for (const std::string model : {"opt-tiny", "llama-tiny"}) {
    const test::Golden g = test::load_golden(model);
    auto weights = open_model_dir(test::data_path("models/" + model));
    auto backend = make_backend("cpu");
    std::vector<std::vector<int32_t>> texts;
    for (const test::GoldenCase& c : g.cases) {
      texts.push_back(c.prompt);
      texts.back().insert(texts.back().end(), c.greedy.begin(), c.greedy.end());
    }
    // Texts greedy decoding would not write (each case's tokens reversed after the first): the
    // forced tokens must be taken, and scored as prefills of their prefixes score them (the
    // reference's token_nll, checked against HF above).
    const size_t golden = texts.size();
    for (size_t i = 0; i < golden; ++i) {
      texts.push_back(texts[i]);
      std::reverse(texts.back().begin() + 1, texts.back().end());
    }
    texts.push_back({texts[0][0]});  // one token: nothing scored
    std::vector<GenRequest> shape;   // the workload the engines are sized for
    for (const auto& t : texts) shape.push_back({"t", {t[0]}, static_cast<int64_t>(t.size()), {}});
    ReferenceGenerator ref(*weights);
    // The largest distance from HF's numbers (or the prefill scores).
    auto check = [&](Generator& gen, const std::string& what, double tol) -> double {
      const std::vector<std::vector<double>> nll = token_nll_decode(gen, texts, 2);
      EXPECT_EQ(nll.size(), texts.size()) << what;
      if (nll.size() != texts.size()) return 0;
      EXPECT_TRUE(nll.back().empty()) << what;
      double moved = 0;
      for (size_t i = 0; i < g.cases.size(); ++i) {
        const test::GoldenCase& c = g.cases[i];
        EXPECT_EQ(nll[i].size(), texts[i].size() - 1) << what;
        if (nll[i].size() != texts[i].size() - 1) continue;
        for (size_t j = 0; j < std::min(c.greedy.size(), c.step_logits.size()); ++j) {
          const std::vector<float>& hf = c.step_logits[j];
          const double want = nll_of(hf.data(), static_cast<int64_t>(hf.size()), c.greedy[j]);
          const double got = nll[i][c.prompt.size() - 1 + j];
          EXPECT_NEAR(got, want, tol + tol * want) << what << " case " << i << " token " << j;
          moved = std::max(moved, std::fabs(got - want));
        }
      }
      for (size_t i = golden; i + 1 < texts.size(); ++i) {
        const std::vector<double> want = token_nll(ref, texts[i], 8);
        EXPECT_EQ(nll[i].size(), want.size()) << what;
        for (size_t j = 0; j < std::min(want.size(), nll[i].size()); ++j) {
          EXPECT_NEAR(nll[i][j], want[j], tol + tol * want[j]) << what << " reversed " << i;
          moved = std::max(moved, std::fabs(nll[i][j] - want[j]));
        }
      }
      return moved;
    };
    check(ref, model + " reference", 1e-4);
    for (const auto& [policy, act] :
         {std::pair{Policy::kv, 0.0}, std::pair{Policy::act, 1.0}, std::pair{Policy::hybrid, 0.5},
          std::pair{Policy::recompute_tokens, 0.0}}) {
      HybridEngine engine(*weights, *backend, test::hand_plan(policy, act, 0, 0, 2),
                          test::workload_of(shape));
      check(engine, cat(model, " ", policy_name(policy)), 1e-4);
    }
    Plan lossy = test::hand_plan(Policy::kv, 0, 0, 0, 2);
    lossy.cache_format = CacheFormat::int8;
    lossy.cache_group = 16;
    HybridEngine engine(*weights, *backend, lossy, test::workload_of(shape));
    const double moved = check(engine, model + " int8 caches", 5e-2);
    EXPECT_GT(moved, 1e-5) << model << ": the int8 cache was never read back";
  }
}

TEST(Score, RefusesTextsLongerThanTheContext) {
  auto weights = open_model_dir(test::data_path("models/opt-tiny"));
  ReferenceGenerator ref(*weights);
  std::vector<int32_t> ids(static_cast<size_t>(weights->config().max_positions + 1), 2);
  EXPECT_THROW(token_nll(ref, ids, 4), Error);
  EXPECT_THROW(token_nll(ref, {2, 3}, 0), Error);
  EXPECT_THROW(token_nll_decode(ref, {ids}, 4), Error);
  EXPECT_THROW(token_nll_decode(ref, {{2, 3}}, 0), Error);
  GenRequest r{"bad", {2}, 2, {}};  // a forced token outside the vocabulary
  r.forced = {3, static_cast<int32_t>(weights->config().vocab_size)};
  EXPECT_THROW(ref.generate({r}, SamplingParams{}), Error);
}

}  // namespace
}  // namespace hs

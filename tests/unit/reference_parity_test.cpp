// The reference engine against Hugging Face: greedy tokens equal, logits within 1e-4 relative.
// Goldens come from transformers (tools/make_tiny_models.py), never from this code.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "engine/reference.h"
#include "goldens.h"
#include "model/weights.h"
#include "test_support.h"

namespace hs {
namespace {

// fp32 everywhere on both sides; the only differences are summation order (HF's BLAS vs our
// fixed-order dot products) and exp/sqrt implementations: ~1e-6 relative is typical, so 1e-4
// leaves two orders of magnitude of room while still catching any missing bias or norm.
constexpr double kLogitTolerance = 1e-4;

class ReferenceParity : public ::testing::TestWithParam<std::string> {};

TEST_P(ReferenceParity, GreedyTokensEqualHuggingFace) {
  const test::Golden g = test::load_golden(GetParam());
  auto weights = open_model_dir(test::data_path("models/" + GetParam()));
  ReferenceGenerator gen(*weights);
  const auto results = gen.generate(test::golden_batch(g), SamplingParams{});
  ASSERT_EQ(results.size(), g.cases.size());
  for (size_t i = 0; i < results.size(); ++i)
    EXPECT_EQ(results[i].output, g.cases[i].greedy) << GetParam() << " case " << i;
}

TEST_P(ReferenceParity, LogitsWithinToleranceOfHuggingFace) {
  const test::Golden g = test::load_golden(GetParam());
  auto weights = open_model_dir(test::data_path("models/" + GetParam()));
  ReferenceModel model(*weights);
  for (size_t i = 0; i < g.cases.size(); ++i) {
    const auto& c = g.cases[i];
    auto cache = model.new_cache(static_cast<int64_t>(c.prompt.size() + c.step_logits.size()));
    std::vector<float> logits = model.forward(cache, c.prompt);
    for (size_t step = 0; step < c.step_logits.size(); ++step) {
      EXPECT_LE(test::max_rel_error(logits, c.step_logits[step]), kLogitTolerance)
          << GetParam() << " case " << i << " step " << step;
      if (step + 1 < c.step_logits.size()) logits = model.forward(cache, {c.greedy[step]});
    }
  }
}

// The reference as the twin of a 16-bit backend (storage type f16 or bf16): its greedy tokens
// are fp32's, and its logits move from fp32's by about what Hugging Face's own 16-bit runs do:
// bf16 at most 1.5x HF's worst bf16 row and at least a tenth of it (the rounding happens), fp16
// at most 2e-2 (HF's fp16 rows: 1.3e-3 to 1.2e-2).
TEST_P(ReferenceParity, SixteenBitStorageMovesTheLogitsAsHuggingFacesDoes) {
  const test::Golden g = test::load_golden(GetParam());
  auto weights = open_model_dir(test::data_path("models/" + GetParam()));
  auto run = [&](DType storage, test::LogitsRows& rows) {
    ReferenceGenerator gen(*weights, storage);
    gen.set_logits_observer(test::record_logits(rows));
    return gen.generate(test::golden_batch(g), SamplingParams{});
  };
  test::LogitsRows fp32_rows;
  const auto fp32 = run(DType::f32, fp32_rows);
  for (DType t : {DType::f16, DType::bf16}) {
    test::LogitsRows rows;
    const auto got = run(t, rows);
    for (size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i].output, fp32[i].output) << i;
    double worst = 0;
    for (const auto& [at, row] : fp32_rows)
      if (rows.count(at)) worst = std::max(worst, test::norm_rel_error(rows.at(at), row));
    std::printf("[storage] %s %s: worst row %.3e\n", GetParam().c_str(), dtype_name(t), worst);
    if (t == DType::bf16) {
      EXPECT_LE(worst, 1.5 * test::hf_bf16_worst(GetParam()));
      EXPECT_GE(worst, 0.1 * test::hf_bf16_worst(GetParam()));
    } else {
      EXPECT_LE(worst, 2e-2);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(TinyModels, ReferenceParity, ::testing::ValuesIn(test::golden_models()),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& ch : n)
                             if (ch == '-') ch = '_';
                           return n;
                         });

// Row independence: a request's tokens must not depend on what it is batched with.
TEST(Reference, ResultIndependentOfBatchOrder) {
  const test::Golden g = test::load_golden("llama-gqa");
  auto weights = open_model_dir(test::data_path("models/llama-gqa"));
  ReferenceGenerator gen(*weights);
  std::vector<GenRequest> fwd, rev;
  for (size_t i = 0; i < g.cases.size(); ++i)
    fwd.push_back({"r" + std::to_string(i), g.cases[i].prompt, 6, {}});
  rev.assign(fwd.rbegin(), fwd.rend());
  SamplingParams s;
  s.temperature = 0.9f;
  s.top_k = 40;
  s.top_p = 0.9f;
  s.seed = 11;
  auto a = gen.generate(fwd, s), b = gen.generate(rev, s);
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i].output, b[a.size() - 1 - i].output);
}

}  // namespace
}  // namespace hs

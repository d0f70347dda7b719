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
    fwd.push_back({"r" + std::to_string(i), g.cases[i].prompt, 6});
  rev.assign(fwd.rbegin(), fwd.rend());
  SamplingParams s;
  s.temperature = 0.9f;
  s.top_k = 40;
  s.top_p = 0.9f;
  s.seed = 11;
  auto a = gen.generate(fwd, s), b = gen.generate(rev, s);
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i].output, b[a.size() - 1 - i].output);
}

// test::rounded_weights, the reference for a 16-bit backend's logits: every value it reads is a
// value of the type (bf16: the low 16 bits of the fp32 are zero), and a model stored in fp16 on
// disk (llama-mqa-odd) is unchanged by rounding to fp16 but not by rounding to bf16.
TEST(RoundedWeights, ReadValuesOfTheTypeAndChangeOnlyWhatItCannotHold) {
  auto weights = open_model_dir(test::data_path("models/llama-mqa-odd"));
  const auto spec = layer_parts(weights->config(), 0).front();
  std::vector<float> f(size_t(spec.numel()));
  test::rounded_weights(*weights, DType::bf16)->read(spec, DType::f32, f.data());
  int changed = 0;
  std::vector<float> plain(f.size());
  weights->read(spec, DType::f32, plain.data());
  for (size_t i = 0; i < f.size(); ++i) {
    uint32_t bits;
    std::memcpy(&bits, &f[i], 4);
    ASSERT_EQ(bits & 0xffffu, 0u) << i;
    EXPECT_LE(std::fabs(f[i] - plain[i]), std::fabs(plain[i]) * 0x1p-8) << i;
    changed += f[i] != plain[i];
  }
  EXPECT_GT(changed, 0);

  const test::Golden g = test::load_golden("llama-mqa-odd");
  auto logits_of = [&](const WeightSource& w) {
    test::LogitsRows rows;
    ReferenceGenerator gen(w);
    gen.set_logits_observer(test::record_logits(rows));
    gen.generate(test::golden_batch(g), SamplingParams{});
    return rows;
  };
  const auto base = logits_of(*weights);
  const auto fp16 = logits_of(*test::rounded_weights(*weights, DType::f16));
  const auto bf16 = logits_of(*test::rounded_weights(*weights, DType::bf16));
  EXPECT_EQ(fp16, base);
  double worst = 0;
  for (const auto& [at, row] : base)
    worst = std::max(worst, test::norm_rel_error(bf16.at(at), row));
  EXPECT_GT(worst, 1e-3);
}

}  // namespace
}  // namespace hs

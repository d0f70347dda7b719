// Sampling against closed-form expectations: greedy picks the argmax (lowest id on ties),
// top-k 1 equals greedy, the empirical distribution matches the softmax, and the RNG is the
// documented formula.
#include <gtest/gtest.h>

#include <cmath>

#include "engine/sampler.h"
#include "util/error.h"

namespace hs {
namespace {

TEST(Sampler, GreedyTakesArgmaxLowestIdOnTies) {
  std::vector<float> logits = {0.1f, 3.f, -2.f, 3.f};
  EXPECT_EQ(sample_token(logits.data(), 4, SamplingParams{}, 0, 0), 1);
}

TEST(Sampler, TopKOneIsGreedy) {
  std::vector<float> logits = {0.5f, 0.2f, 2.5f, 2.4f};
  SamplingParams p;
  p.temperature = 1.f;
  p.top_k = 1;
  for (int step = 0; step < 50; ++step) EXPECT_EQ(sample_token(logits.data(), 4, p, 7, step), 2);
}

TEST(Sampler, FrequenciesFollowSoftmax) {
  // logits log(1), log(2), log(3), log(4) at T = 1: probabilities 0.1, 0.2, 0.3, 0.4.
  std::vector<float> logits = {0.f, std::log(2.f), std::log(3.f), std::log(4.f)};
  SamplingParams p;
  p.temperature = 1.f;
  p.seed = 3;
  std::vector<int> count(4);
  const int n = 40000;
  for (int step = 0; step < n; ++step) ++count[sample_token(logits.data(), 4, p, 99, step)];
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(count[i] / double(n), 0.1 * (i + 1), 0.01) << i;
}

TEST(Sampler, TopPKeepsSmallestNucleus) {
  // probabilities 0.4, 0.3, 0.2, 0.1: top_p 0.6 keeps {0.4, 0.3} -> renormalised 4/7, 3/7.
  std::vector<float> logits = {std::log(4.f), std::log(3.f), std::log(2.f), 0.f};
  SamplingParams p;
  p.temperature = 1.f;
  p.top_p = 0.6f;
  std::vector<int> count(4);
  const int n = 20000;
  for (int step = 0; step < n; ++step) ++count[sample_token(logits.data(), 4, p, 5, step)];
  EXPECT_EQ(count[2] + count[3], 0);
  EXPECT_NEAR(count[0] / double(n), 4.0 / 7, 0.015);
}

TEST(Sampler, RngIsTheDocumentedFormula) {
  auto splitmix = [](uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
  };
  const uint64_t seed = 1234, key = request_key("req-7");
  for (int64_t step : {0, 1, 17}) {
    const double expect = double(splitmix(seed ^ splitmix(key + step)) >> 11) * 0x1.0p-53;
    EXPECT_EQ(sample_uniform(seed, key, step), expect);
  }
  EXPECT_EQ(request_key(""), 0xcbf29ce484222325ull);  // FNV-1a offset basis
}

TEST(Sampler, RejectsBadParameters) {
  SamplingParams p;
  p.top_p = 0.f;
  EXPECT_THROW(validate(p), Error);
  p = {};
  p.temperature = -1.f;
  EXPECT_THROW(validate(p), Error);
}

}  // namespace
}  // namespace hs

// --batch-size auto's search (plan/batch_choice.h) on made-up predictions: it climbs from 16
// while more batch helps, stops where the budgets bind (a batch that does not fit, or one that
// predicts less), picks the smallest batch within 1% of the best, goes below 16 only when 16
// does not fit, keeps to the cap, and fails with the planner's own error when nothing fits.
#include <gtest/gtest.h>

#include <vector>

#include "plan/batch_choice.h"
#include "util/error.h"

namespace hs {
namespace {

// A planner whose prediction is rate(b), and which refuses batches above `fits_up_to`.
struct FakePlanner {
  std::function<double(int64_t)> rate;
  int64_t fits_up_to = 1 << 20;
  std::vector<int64_t> asked;
  Plan operator()(int64_t b) {
    asked.push_back(b);
    if (b > fits_up_to) fail("batch ", b, " needs more GPU memory than the budget");
    Plan p;
    p.predicted_tokens_per_s = rate(b);
    return p;
  }
};

BatchChoice choose(FakePlanner& f, int64_t cap) {
  return choose_batch(cap, [&f](int64_t b) { return f(b); });
}

TEST(BatchChoice, ClimbsUntilTheBatchNoLongerFits) {
  FakePlanner f{[](int64_t b) { return 10.0 * b; }, 256};
  const BatchChoice c = choose(f, 4096);
  EXPECT_EQ(c.batch, 256);
  EXPECT_DOUBLE_EQ(c.tokens_per_s, 2560);
  EXPECT_EQ(f.asked, (std::vector<int64_t>{16, 32, 64, 128, 256, 512}));
  EXPECT_FALSE(c.candidates.back().fits);
  EXPECT_NE(c.why.find("batch 512 does not fit"), std::string::npos) << c.why;
}

TEST(BatchChoice, StopsPastThePeakAndTakesTheSmallestWithinOnePercent) {
  // Saturates at 64 (128 predicts 0.5% more), then drops at 256 where a slower policy takes over.
  FakePlanner f{[](int64_t b) { return b <= 64 ? 10.0 * b : b == 128 ? 643.2 : 100.0; }};
  const BatchChoice c = choose(f, 4096);
  EXPECT_EQ(c.batch, 64);
  EXPECT_EQ(f.asked.back(), 256);  // nothing larger is planned
  EXPECT_NE(c.why.find("batch 256 predicts less"), std::string::npos) << c.why;
}

TEST(BatchChoice, GoesBelowSixteenOnlyWhenSixteenDoesNotFit) {
  FakePlanner f{[](int64_t b) { return 1.0 * b; }, 5};
  const BatchChoice c = choose(f, 4096);
  EXPECT_EQ(c.batch, 4);
  EXPECT_EQ(f.asked, (std::vector<int64_t>{16, 8, 4}));
}

TEST(BatchChoice, KeepsToTheCap) {
  FakePlanner f{[](int64_t b) { return 1.0 * b; }};
  const BatchChoice c = choose(f, 100);
  EXPECT_EQ(c.batch, 100);
  EXPECT_EQ(f.asked, (std::vector<int64_t>{16, 32, 64, 100}));
  EXPECT_NE(c.why.find("the job's requests per rank"), std::string::npos) << c.why;
  FakePlanner g{[](int64_t b) { return 1.0 * b; }};
  EXPECT_EQ(choose(g, 3).batch, 3);
}

TEST(BatchChoice, NothingFitsIsThePlannersError) {
  FakePlanner f{[](int64_t b) { return 1.0 * b; }, 0};
  try {
    choose(f, 4096);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("batch 1 needs more GPU memory"), std::string::npos);
  }
}

}  // namespace
}  // namespace hs

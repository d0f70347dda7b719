// How a plan spreads its PCIe work over a step (plan.h): which layers stream their weights or
// keep their caches on the host, and the slices each streamed layer's upload is cut into.
#include <gtest/gtest.h>

#include <numeric>

#include "plan/plan.h"
#include "util/error.h"

namespace hs {
namespace {

TEST(Spread, CountsTelescopeAndStretchesEndInTheirMember) {
  for (int64_t n : {1, 2, 3, 7, 40, 96})
    for (int64_t k = 0; k <= n; ++k) {
      int64_t seen = 0;
      for (int64_t i = 0; i < n; ++i) {
        EXPECT_EQ(spread_before(i, k, n), seen) << k << " of " << n << " before " << i;
        seen += is_spread(i, k, n) ? 1 : 0;
      }
      EXPECT_EQ(seen, k) << k << " of " << n;
    }
  // One of 40 is the last; 6 of 40 end the stretches 0-6, 7-13, 14-19, 20-26, 27-33, 34-39.
  EXPECT_TRUE(is_spread(39, 1, 40));
  std::vector<int64_t> six;
  for (int64_t i = 0; i < 40; ++i)
    if (is_spread(i, 6, 40)) six.push_back(i);
  EXPECT_EQ(six, (std::vector<int64_t>{6, 13, 19, 26, 33, 39}));
  EXPECT_THROW(spread_before(0, 5, 4), Error);
}

TEST(Spread, PlanLayersFollowTheResidentCounts) {
  Plan p;
  p.gpu_weight_layers = 34;  // 6 streamed
  p.gpu_cache_layers = 37;   // 3 on the host
  int64_t streamed = 0, host = 0;
  for (int64_t l = 0; l < 40; ++l) {
    streamed += streams_weights(p, 40, l) ? 1 : 0;
    host += host_cache_layer(p, 40, l) ? 1 : 0;
  }
  EXPECT_EQ(streamed, 6);
  EXPECT_EQ(host, 3);
  EXPECT_TRUE(streams_weights(p, 40, 39));
  EXPECT_FALSE(streams_weights(p, 40, 0));
}

std::vector<int64_t> sizes(const std::vector<int64_t>& cut) {
  std::vector<int64_t> s;
  for (size_t i = 0; i + 1 < cut.size(); ++i) s.push_back(cut[i + 1] - cut[i]);
  return s;
}

TEST(WaterFill, FillsTheLowestItemsToOneLevel) {
  // Even bases: equal slices.
  EXPECT_EQ(sizes(water_fill(12, {5, 5, 5, 5})), (std::vector<int64_t>{3, 3, 3, 3}));
  // Items without a cache load take the bytes first: the level is 10, reached by neither.
  EXPECT_EQ(sizes(water_fill(20, {0, 10, 0, 10})), (std::vector<int64_t>{10, 0, 10, 0}));
  // Past the highest base every item gets a share: level (30 + 20) / 4 = 12.5.
  EXPECT_EQ(sizes(water_fill(30, {0, 10, 0, 10})), (std::vector<int64_t>{13, 2, 13, 2}));
  // Sums and bounds hold for awkward sizes.
  const std::vector<int64_t> base = {7, 0, 3, 1000, 2, 2, 9};
  for (int64_t total : {0, 1, 5, 17, 1001, 123457}) {
    const std::vector<int64_t> cut = water_fill(total, base);
    ASSERT_EQ(cut.size(), base.size() + 1);
    EXPECT_EQ(cut.front(), 0);
    EXPECT_EQ(cut.back(), total);
    for (size_t i = 0; i + 1 < cut.size(); ++i) EXPECT_LE(cut[i], cut[i + 1]);
  }
  EXPECT_THROW(water_fill(1, {}), Error);
}

TEST(WeightSlices, EachStreamedLayerFillsItsWindow) {
  // 8 layers, 2 mini-batches; layers 3 and 7 streamed: 3's window is items 0-5 (layers 0-2),
  // 7's is items 6-13 (layers 3-6); items 14, 15 (layer 7) carry nothing.
  const int64_t L = 8, M = 2, bytes = 1000;
  std::vector<bool> streamed(L, false);
  streamed[3] = streamed[7] = true;
  std::vector<int64_t> cache(L * M, 100);
  cache[2] = cache[3] = 0;  // layer 1: a device-resident cache
  const std::vector<WeightSlice> s = weight_slices(L, M, streamed, bytes, cache);
  ASSERT_EQ(s.size(), static_cast<size_t>(L * M));
  int64_t sum3 = 0, sum7 = 0;
  for (int64_t i = 0; i < L * M; ++i) {
    const WeightSlice& w = s[static_cast<size_t>(i)];
    const int64_t want_layer = i < 6 ? 3 : i < 14 ? 7 : -1;
    EXPECT_EQ(w.layer, want_layer) << "item " << i;
    (w.layer == 3 ? sum3 : sum7) += w.end - w.begin;
  }
  EXPECT_EQ(sum3, bytes);
  EXPECT_EQ(sum7, bytes);
  // Window of layer 3: level (1000 + 400) / 6 = 233.3; the two items without a load take 233,
  // the others 133.
  EXPECT_EQ(s[2].end - s[2].begin, 233);
  EXPECT_EQ(s[0].end - s[0].begin, 133);
  // Every layer streamed: each loads beside the layer before (layer 0 goes before the step).
  const std::vector<WeightSlice> all =
      weight_slices(3, 2, {true, true, true}, 10, std::vector<int64_t>(6, 0));
  EXPECT_EQ(all[0].layer, 1);
  EXPECT_EQ(all[3].layer, 2);
  EXPECT_EQ(all[5].layer, -1);
  EXPECT_EQ(all[1].begin, 5);
  EXPECT_EQ(all[1].end, 10);
  // Layer 2 goes into layer 0's buffer: it waits for layer 0; layer 1's buffer is fresh.
  EXPECT_EQ(all[0].buffer_reader, -1);
  EXPECT_EQ(all[2].buffer_reader, 0);
  EXPECT_EQ(all[3].buffer_reader, 0);
  for (const WeightSlice& w : s) EXPECT_EQ(w.buffer_reader, -1);  // two streamed layers
}

TEST(WorkingSetTurns, HostAndDeviceCacheItemsTakeTurnsOnTheirOwnPairs) {
  // 4 layers of 2 mini-batches; host caches on layers 1 and 3. Host items 2, 3, 6, 7 use sets
  // 0, 1, 0, 1; device items 0, 1, 4, 5 sets 2, 3, 2, 3. Each waits for the item two back in its
  // own turn, never for one of the other home.
  const std::vector<WorkingSetTurn> t = working_set_turns(2, {false, true, false, true});
  ASSERT_EQ(t.size(), 8u);
  const int want_set[] = {2, 3, 0, 1, 2, 3, 0, 1};
  const int64_t want_previous[] = {-1, -1, -1, -1, 0, 1, 2, 3};
  for (size_t i = 0; i < t.size(); ++i) {
    EXPECT_EQ(t[i].set, want_set[i]) << "item " << i;
    EXPECT_EQ(t[i].previous, want_previous[i]) << "item " << i;
  }
  // One home only: one pair, item i after item i - 2 (as before device caches had their own).
  for (const bool host : {false, true}) {
    const std::vector<WorkingSetTurn> one = working_set_turns(3, std::vector<bool>(2, host));
    for (size_t i = 0; i < one.size(); ++i) {
      EXPECT_EQ(one[i].set, static_cast<int>(i % 2));
      EXPECT_EQ(one[i].previous, static_cast<int64_t>(i) - 2 >= 0 ? int64_t(i) - 2 : -1);
    }
  }
}

TEST(WorkingSetTurns, HostItemsTakeTurnsOnHostSetsOfTheirOwn) {
  // The same step with three host sets: host items 2, 3, 6, 7 use sets 0, 1, 2, 0, item 7 after
  // item 2 (three back in the host turn); device items keep their pair, now sets 3 and 4.
  const std::vector<WorkingSetTurn> t = working_set_turns(2, {false, true, false, true}, 3);
  ASSERT_EQ(t.size(), 8u);
  const int want_set[] = {3, 4, 0, 1, 3, 4, 2, 0};
  const int64_t want_previous[] = {-1, -1, -1, -1, 0, 1, -1, 2};
  for (size_t i = 0; i < t.size(); ++i) {
    EXPECT_EQ(t[i].set, want_set[i]) << "item " << i;
    EXPECT_EQ(t[i].previous, want_previous[i]) << "item " << i;
  }
  // Host items only, four sets: item i after item i - 4.
  const std::vector<WorkingSetTurn> host = working_set_turns(3, std::vector<bool>(3, true), 4);
  for (size_t i = 0; i < host.size(); ++i) {
    EXPECT_EQ(host[i].set, static_cast<int>(i % 4));
    EXPECT_EQ(host[i].previous, static_cast<int64_t>(i) - 4 >= 0 ? int64_t(i) - 4 : -1);
  }
  EXPECT_THROW(working_set_turns(2, {true}, 1), Error);
}

}  // namespace
}  // namespace hs

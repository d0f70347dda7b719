#include "plan/mini_batches.h"

#include <algorithm>
#include <numeric>

#include "util/error.h"

namespace hs {

std::vector<std::vector<int32_t>> assign_mini_batches(const std::vector<int64_t>& request_bytes,
                                                      int64_t num_mini_batches) {
  const int64_t n = static_cast<int64_t>(request_bytes.size());
  HS_CHECK(num_mini_batches >= 1 && num_mini_batches <= std::max<int64_t>(n, 1), "cannot form ",
           num_mini_batches, " mini-batches from ", n, " requests");
  std::vector<int32_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int32_t a, int32_t b) { return request_bytes[a] > request_bytes[b]; });

  std::vector<std::vector<int32_t>> mbs(static_cast<size_t>(num_mini_batches));
  std::vector<int64_t> load(static_cast<size_t>(num_mini_batches), 0);
  std::vector<int64_t> by_load(static_cast<size_t>(num_mini_batches));
  for (int64_t start = 0; start < n; start += num_mini_batches) {
    // The lightest mini-batch not yet served this round is the k-th lightest at its start.
    std::iota(by_load.begin(), by_load.end(), 0);
    std::stable_sort(by_load.begin(), by_load.end(),
                     [&](int64_t a, int64_t b) { return load[a] < load[b]; });
    const int64_t end = std::min(n, start + num_mini_batches);
    for (int64_t k = start; k < end; ++k) {
      const int64_t m = by_load[k - start];
      load[m] += request_bytes[order[k]];
      mbs[m].push_back(order[k]);
    }
  }
  for (auto& mb : mbs) std::sort(mb.begin(), mb.end());
  return mbs;
}

std::vector<std::vector<int32_t>> default_mini_batches(int64_t batch, int64_t size) {
  size = std::max<int64_t>(size, 1);
  std::vector<std::vector<int32_t>> mbs;
  for (int64_t i = 0; i < batch; ++i) {
    if (i % size == 0) mbs.emplace_back();
    mbs.back().push_back(static_cast<int32_t>(i));
  }
  return mbs;
}

}  // namespace hs

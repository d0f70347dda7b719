// `spread` of `n` items (layers), spread evenly: item i is one of them iff
// floor((i+1) spread / n) > floor(i spread / n), the last item of each stretch of n / spread.
// spread_before(i) = floor(i spread / n) of them come before item i, so counts telescope.
#pragma once

#include <cstdint>

#include "util/error.h"

namespace hs {

inline int64_t spread_before(int64_t i, int64_t spread, int64_t n) {
  HS_CHECK(n > 0 && spread >= 0 && spread <= n, "cannot spread ", spread, " of ", n);
  return i * spread / n;
}

inline bool is_spread(int64_t i, int64_t spread, int64_t n) {
  return spread_before(i + 1, spread, n) > spread_before(i, spread, n);
}

// Item i is one of `inner` items spread evenly among the `outer` spread over n: a spread
// within a spread (e.g. the streamed layers that keep their weights on the device).
inline bool is_spread_among(int64_t i, int64_t inner, int64_t outer, int64_t n) {
  return is_spread(i, outer, n) && is_spread(spread_before(i, outer, n), inner, outer);
}

}  // namespace hs

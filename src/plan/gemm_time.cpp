#include "plan/gemm_time.h"

#include <algorithm>

namespace hs {

const GemmCurve* find_gemm_curve(const CostConstants& c, int64_t k, int64_t n) {
  for (const GemmCurve& g : c.gemms)
    if (g.k == k && g.n == n && !g.rows.empty() && g.rows.size() == g.ms.size()) return &g;
  return nullptr;
}

double gemm_ms(const CostConstants& c, DType t, double rows, int64_t k, int64_t n) {
  if (rows <= 0) return 0;
  if (const GemmCurve* g = find_gemm_curve(c, k, n)) {
    const std::vector<double>& r = g->rows;
    if (rows <= r.front()) return g->ms.front();
    if (rows >= r.back()) return g->ms.back() * rows / r.back();
    const size_t i = static_cast<size_t>(std::upper_bound(r.begin(), r.end(), rows) - r.begin());
    const double f = (rows - r[i - 1]) / (r[i] - r[i - 1]);
    return g->ms[i - 1] + f * (g->ms[i] - g->ms[i - 1]);
  }
  const double kk = static_cast<double>(k), nn = static_cast<double>(n);
  const double flops = 2 * rows * kk * nn;
  const double bytes = (rows * kk + kk * nn + rows * nn) * static_cast<double>(dtype_bytes(t));
  return std::max(flops / (c.gemm_tflops * 1e9), bytes / (c.mem_gbps * 1e6));
}

}  // namespace hs

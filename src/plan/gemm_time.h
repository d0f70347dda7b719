// The time of a linear layer on the GPU, for the cost model: from the measured curve of its
// (k, n) where the profile made one, else from the roofline of the constants.
#pragma once

#include <cstdint>

#include "plan/plan.h"
#include "util/dtype.h"

namespace hs {

// Milliseconds of out[rows, n] = x[rows, k] w[n, k]^T (elements of dtype t):
//  - with a curve for (k, n): linear interpolation in rows between its points; below the first
//    point the first point's time (reading w dominates there); past the last, the last point's
//    time scaled by rows (the FLOP rate has settled by then);
//  - without: max(2 rows k n / gemm_tflops, (rows k + k n + rows n) elem / mem_gbps).
double gemm_ms(const CostConstants& c, DType t, double rows, int64_t k, int64_t n);

// The curve for (k, n), or nullptr.
const GemmCurve* find_gemm_curve(const CostConstants& c, int64_t k, int64_t n);

}  // namespace hs

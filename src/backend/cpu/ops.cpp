#include "backend/cpu/ops.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

namespace hs::cpu {

void embed(float* out, const float* table, const int32_t* ids, int64_t rows, int64_t dim) {
  for (int64_t t = 0; t < rows; ++t)
    std::memcpy(out + t * dim, table + static_cast<int64_t>(ids[t]) * dim, dim * sizeof(float));
}

void add_rows(float* x, const float* table, const int32_t* idx, int64_t rows, int64_t dim) {
  for (int64_t t = 0; t < rows; ++t) {
    const float* r = table + static_cast<int64_t>(idx[t]) * dim;
    for (int64_t i = 0; i < dim; ++i) x[t * dim + i] += r[i];
  }
}

void layernorm(float* out, const float* x, const float* w, const float* b, int64_t rows,
               int64_t dim, float eps) {
  for (int64_t t = 0; t < rows; ++t) {
    const float* xr = x + t * dim;
    float* o = out + t * dim;
    double sum = 0;
    for (int64_t i = 0; i < dim; ++i) sum += xr[i];
    const float mean = static_cast<float>(sum / dim);
    double sq = 0;
    for (int64_t i = 0; i < dim; ++i) sq += double(xr[i] - mean) * double(xr[i] - mean);
    const float inv = static_cast<float>(1.0 / std::sqrt(sq / dim + eps));
    for (int64_t i = 0; i < dim; ++i) o[i] = (xr[i] - mean) * inv * w[i] + b[i];
  }
}

void rmsnorm(float* out, const float* x, const float* w, int64_t rows, int64_t dim, float eps) {
  for (int64_t t = 0; t < rows; ++t) {
    const float* xr = x + t * dim;
    float* o = out + t * dim;
    double sq = 0;
    for (int64_t i = 0; i < dim; ++i) sq += double(xr[i]) * xr[i];
    const float inv = static_cast<float>(1.0 / std::sqrt(sq / dim + eps));
    // HF: weight * (x * rsqrt(mean(x^2) + eps)), rounded to fp32 in that order.
    for (int64_t i = 0; i < dim; ++i) o[i] = w[i] * (xr[i] * inv);
  }
}

namespace {
// Dot product with eight partial sums in a fixed order: vectorizable without -ffast-math and
// identical for a row wherever it sits in a batch.
inline float dot(const float* a, const float* b, int64_t k) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= k; i += 8)
    for (int j = 0; j < 8; ++j) acc[j] += a[i + j] * b[i + j];
  for (; i < k; ++i) acc[i & 7] += a[i] * b[i];
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}
}  // namespace

void linear(float* out, const float* x, const float* w, const float* b, int64_t rows, int64_t k,
            int64_t n) {
  // Blocks of 4 rows share each weight row while it is in cache; the sum for one output is
  // still dot(x_row, w_row), whatever the block.
  constexpr int64_t kRowBlock = 4;
  for (int64_t t0 = 0; t0 < rows; t0 += kRowBlock) {
    const int64_t t1 = std::min(rows, t0 + kRowBlock);
    for (int64_t j = 0; j < n; ++j) {
      const float* wr = w + j * k;
      const float bias = b ? b[j] : 0.f;
      for (int64_t t = t0; t < t1; ++t) out[t * n + j] = dot(x + t * k, wr, k) + bias;
    }
  }
}

void scale(float* x, float s, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] *= s;
}

void rope(float* x, const int32_t* pos, int64_t rows, int64_t heads, int64_t head_dim,
          float theta) {
  const int64_t half = head_dim / 2;
  // HF computes inv_freq = 1 / theta^(2i/d) and the angle pos * inv_freq in fp32.
  std::vector<float> inv_freq(half);
  for (int64_t i = 0; i < half; ++i)
    inv_freq[i] = static_cast<float>(1.0 / std::pow(double(theta), double(2 * i) / head_dim));
  std::vector<float> c(half), s(half);
  for (int64_t t = 0; t < rows; ++t) {
    for (int64_t i = 0; i < half; ++i) {
      const float a = static_cast<float>(pos[t]) * inv_freq[i];
      c[i] = static_cast<float>(std::cos(double(a)));
      s[i] = static_cast<float>(std::sin(double(a)));
    }
    for (int64_t h = 0; h < heads; ++h) {
      float* r = x + (t * heads + h) * head_dim;
      for (int64_t i = 0; i < half; ++i) {
        const float x0 = r[i], x1 = r[i + half];
        r[i] = x0 * c[i] - x1 * s[i];
        r[i + half] = x1 * c[i] + x0 * s[i];
      }
    }
  }
}

void attention(float* out, const float* q, const float* k, const float* v,
               const int32_t* block_table, const int32_t* seq, const int32_t* pos,
               const AttentionShape& s) {
  const int64_t d = s.head_dim, group = s.n_heads / s.n_kv_heads;
  const int64_t kv_row = s.n_kv_heads * d;
  std::vector<float> score;
  for (int64_t t = 0; t < s.rows; ++t) {
    const int64_t n_keys = static_cast<int64_t>(pos[t]) + 1;
    const int32_t* table = block_table + static_cast<int64_t>(seq[t]) * s.max_blocks;
    score.resize(n_keys);
    for (int64_t h = 0; h < s.n_heads; ++h) {
      const float* qh = q + (t * s.n_heads + h) * d;
      const int64_t kvh = h / group;
      float max_score = -INFINITY;
      for (int64_t p = 0; p < n_keys; ++p) {
        const int64_t slot = table[p / s.block_tokens];
        const float* kr = k + (slot * s.block_tokens + p % s.block_tokens) * kv_row + kvh * d;
        float dotv = 0.f;
        for (int64_t i = 0; i < d; ++i) dotv += qh[i] * kr[i];
        score[p] = dotv * s.scale;
        max_score = std::max(max_score, score[p]);
      }
      float denom = 0.f;
      for (int64_t p = 0; p < n_keys; ++p) {
        score[p] = std::exp(score[p] - max_score);
        denom += score[p];
      }
      float* o = out + (t * s.n_heads + h) * d;
      for (int64_t i = 0; i < d; ++i) o[i] = 0.f;
      for (int64_t p = 0; p < n_keys; ++p) {
        const int64_t slot = table[p / s.block_tokens];
        const float* vr = v + (slot * s.block_tokens + p % s.block_tokens) * kv_row + kvh * d;
        const float wgt = score[p] / denom;
        for (int64_t i = 0; i < d; ++i) o[i] += wgt * vr[i];
      }
    }
  }
}

void relu(float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] = x[i] > 0.f ? x[i] : 0.f;
}

void silu_mul(float* out, const float* gate, const float* up, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    out[i] = g / (1.f + std::exp(-g)) * up[i];
  }
}

void add(float* out, const float* a, const float* b, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
}

}  // namespace hs::cpu

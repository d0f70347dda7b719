#include "backend/cpu/sampling.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "util/error.h"

namespace hs {
namespace {
uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}
}  // namespace

void validate(const SamplingParams& p) {
  HS_CHECK(std::isfinite(p.temperature) && p.temperature >= 0.f,
           "--temperature must be >= 0 (0 means greedy), got ", p.temperature);
  HS_CHECK(p.top_k >= 0, "--top-k must be >= 0 (0 means no cut), got ", p.top_k);
  HS_CHECK(p.top_p > 0.f && p.top_p <= 1.f, "--top-p must be in (0, 1], got ", p.top_p);
}

uint64_t request_key(const std::string& id) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : id) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

double sample_uniform(uint64_t seed, uint64_t key, int64_t step) {
  const uint64_t r = splitmix64(seed ^ splitmix64(key + static_cast<uint64_t>(step)));
  return static_cast<double>(r >> 11) * 0x1.0p-53;
}

int32_t sample_token(const float* logits, int64_t vocab, const SamplingParams& p, uint64_t key,
                     int64_t step) {
  if (p.greedy()) {
    int64_t best = 0;
    for (int64_t i = 1; i < vocab; ++i)
      if (logits[i] > logits[best]) best = i;
    return static_cast<int32_t>(best);
  }
  std::vector<int32_t> order(vocab);
  std::iota(order.begin(), order.end(), 0);
  auto before = [&](int32_t a, int32_t b) {
    return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
  };
  int64_t keep = vocab;
  if (p.top_k > 0 && p.top_k < vocab) {
    keep = p.top_k;
    std::partial_sort(order.begin(), order.begin() + keep, order.end(), before);
  } else {
    std::sort(order.begin(), order.end(), before);
  }
  // Softmax over the kept candidates of logits / T, in double for a stable cumulative sum.
  std::vector<double> prob(keep);
  const double top = logits[order[0]] / double(p.temperature);
  double total = 0;
  for (int64_t i = 0; i < keep; ++i) {
    prob[i] = std::exp(logits[order[i]] / double(p.temperature) - top);
    total += prob[i];
  }
  if (p.top_p < 1.f) {
    double cum = 0;
    int64_t n = 0;
    while (n < keep) {
      cum += prob[n++] / total;
      if (cum >= p.top_p) break;
    }
    keep = n;
    total = 0;
    for (int64_t i = 0; i < keep; ++i) total += prob[i];
  }
  const double u = sample_uniform(p.seed, key, step) * total;
  double cum = 0;
  for (int64_t i = 0; i < keep; ++i) {
    cum += prob[i];
    if (u < cum) return order[i];
  }
  return order[keep - 1];
}

}  // namespace hs

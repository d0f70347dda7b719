// Choosing the next token from fp32 logits: greedy by default, or temperature / top-k / top-p
// sampling with a documented counter-based RNG, so that a request's tokens depend only on the
// seed, its id and the step, never on the batch or rank it ran in.
#pragma once

#include <cstdint>
#include <string>

namespace hs {

struct SamplingParams {
  float temperature = 0.f;  // 0: greedy (argmax, lowest id on ties)
  int64_t top_k = 0;        // 0: no top-k cut
  float top_p = 1.f;        // 1: no nucleus cut
  uint64_t seed = 0;

  bool greedy() const { return temperature <= 0.f; }
};

// Checks ranges (temperature >= 0, top_k >= 0, 0 < top_p <= 1); throws hs::Error otherwise.
void validate(const SamplingParams& p);

// 64-bit FNV-1a of the request id: the request's stream in the RNG.
uint64_t request_key(const std::string& id);

// The RNG: u = (splitmix64(seed ^ splitmix64(key + step)) >> 11) * 2^-53, uniform in [0, 1).
double sample_uniform(uint64_t seed, uint64_t key, int64_t step);

// Picks a token. Sampling: logits / temperature; keep the top_k largest (ties by lower id);
// softmax; keep the smallest prefix whose probability reaches top_p; draw by inverse CDF with
// sample_uniform(seed, key, step).  logits: [vocab]
int32_t sample_token(const float* logits, int64_t vocab, const SamplingParams& p, uint64_t key,
                     int64_t step);

}  // namespace hs

// Forming mini-batches: which requests run through a layer together. The engine's pipeline
// loads one mini-batch's cache while the previous one computes, so a mini-batch much heavier
// than the others stalls it; the assignment balances cache bytes and request counts.
#pragma once

#include <cstdint>
#include <vector>

namespace hs {

// Deals requests (request_bytes[i]: request i's cache bytes) into num_mini_batches mini-batches,
// heaviest first, in rounds: each round gives every mini-batch one request, the heaviest
// remaining request going to the lightest mini-batch not yet served in that round. Each
// mini-batch lists its request indices in increasing order.
//
// Guarantees (for b = request_bytes): every request in exactly one mini-batch; request counts
// differ by at most one; and the heaviest mini-batch exceeds the lightest by at most
// max(b) - min(b) when num_mini_batches divides the batch, by at most max(b) otherwise.
// (Each round pairs the k-th heaviest request of the round with the k-th lightest mini-batch,
// so a round widens the spread to at most the larger of the old spread and the round's
// range of request bytes; an unfilled last round counts its missing requests as 0 bytes.)
std::vector<std::vector<int32_t>> assign_mini_batches(const std::vector<int64_t>& request_bytes,
                                                      int64_t num_mini_batches);

// The engine's mini-batches for a plan that lists none: consecutive groups of `size` requests
// (size < 1 counts as 1), the last holding the rest.
std::vector<std::vector<int32_t>> default_mini_batches(int64_t batch, int64_t size);

}  // namespace hs

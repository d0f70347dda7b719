// The weight exchange's communicator among the GPUs of a node (--weight-exchange nccl): the
// CUDA backend's join_exchange and all_gather (backend/backend.h) go through it. Without NCCL in
// the build it says so and cannot be made.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace hs {

class NcclExchange {
 public:
  // Empty where this binary has NCCL, else why not.
  static std::string unavailable();
  // Joins as `rank` of `ranks` on the current CUDA device: rank 0 makes the id, broadcast(id)
  // hands it to every rank. Every rank of the node calls it once, together. Throws hs::Error.
  NcclExchange(int rank, int ranks,
               const std::function<std::string(const std::string&)>& broadcast);
  ~NcclExchange();
  NcclExchange(const NcclExchange&) = delete;
  NcclExchange& operator=(const NcclExchange&) = delete;

  // Backend::all_gather, on stream s.
  void all_gather(void* buf, const std::vector<int64_t>& counts, cudaStream_t s);

 private:
  void* comm_ = nullptr;  // ncclComm_t
  int ranks_ = 0;
};

}  // namespace hs

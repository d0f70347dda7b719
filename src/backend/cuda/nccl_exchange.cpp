#include "backend/cuda/nccl_exchange.h"

#include <cstring>

#include "util/error.h"
#ifdef HS_HAVE_NCCL
#include <nccl.h>
#endif

namespace hs {

#ifdef HS_HAVE_NCCL

namespace {
void check_nccl(ncclResult_t r, const char* call) {
  if (r != ncclSuccess && r != ncclInProgress)
    fail(call, " failed: ", ncclGetErrorString(r), " (NCCL_DEBUG=WARN prints NCCL's own reason)");
}
ncclComm_t comm_of(void* c) {
  return static_cast<ncclComm_t>(c);
}
}  // namespace

std::string NcclExchange::unavailable() {
  return "";
}

NcclExchange::NcclExchange(int rank, int ranks,
                           const std::function<std::string(const std::string&)>& broadcast)
    : ranks_(ranks) {
  HS_CHECK(ranks > 0 && rank >= 0 && rank < ranks, "NCCL exchange: rank ", rank, " of ", ranks);
  // Rank 0 broadcasts whether or not it made the id (nothing if not), so that no rank is left
  // in the broadcast: each then fails alike.
  ncclUniqueId id{};
  const ncclResult_t made = rank == 0 ? ncclGetUniqueId(&id) : ncclSuccess;
  const std::string got = broadcast(
      made == ncclSuccess ? std::string(reinterpret_cast<const char*>(&id), sizeof id) : "");
  check_nccl(made, "ncclGetUniqueId");
  HS_CHECK(!got.empty(), "rank 0 of the node could not make the NCCL exchange's id");
  HS_CHECK(got.size() == sizeof id, "the NCCL id from rank 0 has ", got.size(), " bytes, not ",
           sizeof id);
  std::memcpy(&id, got.data(), sizeof id);
  ncclComm_t comm = nullptr;
  check_nccl(ncclCommInitRank(&comm, ranks, id, rank), "ncclCommInitRank");
  comm_ = comm;
}

NcclExchange::~NcclExchange() {
  if (comm_) ncclCommDestroy(comm_of(comm_));
}

// One broadcast per rank with bytes, each from its owner in place, in one NCCL group: an
// all-gather whose shares may differ in size (a layer's last share is the remainder), which
// ncclAllGather's equal counts would need padded buffers for.
void NcclExchange::all_gather(void* buf, const std::vector<int64_t>& counts, cudaStream_t s) {
  HS_CHECK(static_cast<int>(counts.size()) == ranks_, "all_gather: ", counts.size(), " counts for ",
           ranks_, " ranks");
  char* p = static_cast<char*>(buf);
  check_nccl(ncclGroupStart(), "ncclGroupStart");
  int64_t at = 0;
  for (int r = 0; r < ranks_; ++r) {
    const int64_t n = counts[static_cast<size_t>(r)];
    if (n > 0)
      check_nccl(
          ncclBroadcast(p + at, p + at, static_cast<size_t>(n), ncclUint8, r, comm_of(comm_), s),
          "ncclBroadcast");
    at += n;
  }
  check_nccl(ncclGroupEnd(), "ncclGroupEnd");
}

#else

std::string NcclExchange::unavailable() {
  return "this binary was built without NCCL (nccl.h and libnccl were not found beside the CUDA "
         "toolkit)";
}

NcclExchange::NcclExchange(int, int, const std::function<std::string(const std::string&)>&) {
  fail("--weight-exchange nccl: ", unavailable());
}

NcclExchange::~NcclExchange() = default;

void NcclExchange::all_gather(void*, const std::vector<int64_t>&, cudaStream_t) {
  fail("--weight-exchange nccl: ", unavailable());
}

#endif

}  // namespace hs

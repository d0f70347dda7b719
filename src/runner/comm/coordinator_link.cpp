#include "runner/comm/coordinator_link.h"

#include <algorithm>

namespace hs {

void CoordinatorLink::send(int rank, MsgKind kind, const std::string& payload) {
  if (rank == 0)
    to_local_->push(Message{0, kind, payload});
  else
    mpi_.send(rank, kind, payload);
}

std::optional<Message> CoordinatorLink::receive_for(std::chrono::milliseconds wait) {
  using clock = std::chrono::steady_clock;
  const auto deadline = clock::now() + wait;
  if (!mpi_.active() || mpi_.size() == 1) return from_local_->pop_for(wait);
  // Both sources must be watched and MPI has no way to wake a condition variable, so look at
  // each in turn; the wait on the mailbox is the back-off (10 us doubling to 250 us), which is
  // how late a message from another rank can be seen at most.
  auto backoff = std::chrono::microseconds(10);
  for (;;) {
    if (auto m = mpi_.try_receive(-1)) return m;
    const auto left =
        std::chrono::duration_cast<std::chrono::microseconds>(deadline - clock::now());
    if (left.count() <= 0) return std::nullopt;
    if (auto m = from_local_->pop_for(std::min(backoff, left))) return m;
    backoff = std::min(backoff * 2, std::chrono::microseconds(250));
  }
}

}  // namespace hs

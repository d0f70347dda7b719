// The coordinator's side of the message exchange: rank 0's own worker through in-process
// mailboxes, the other ranks through MPI, behind one send / receive.
#pragma once

#include <chrono>
#include <memory>
#include <optional>

#include "runner/comm/mailbox.h"
#include "runner/comm/mpi_session.h"

namespace hs {

class CoordinatorLink {
 public:
  // mpi: the session (ranks 1.. are reached through it when it is active);
  // to_local / from_local: the mailboxes of rank 0's worker thread.
  CoordinatorLink(const MpiSession& mpi, std::shared_ptr<Mailbox> to_local,
                  std::shared_ptr<Mailbox> from_local)
      : mpi_(mpi), to_local_(std::move(to_local)), from_local_(std::move(from_local)) {}

  int ranks() const { return mpi_.active() ? mpi_.size() : 1; }
  void send(int rank, MsgKind kind, const std::string& payload = "");
  // The next message from any rank, or nullopt if none arrives within `wait`.
  std::optional<Message> receive_for(std::chrono::milliseconds wait);

 private:
  const MpiSession& mpi_;
  std::shared_ptr<Mailbox> to_local_, from_local_;
};

}  // namespace hs

// A worker's side of the message exchange with the coordinator: in-process mailboxes for rank
// 0's engine thread, MPI for the other ranks.
#pragma once

#include <memory>

#include "runner/comm/mailbox.h"
#include "runner/comm/mpi_session.h"

namespace hs {

class WorkerLink {
 public:
  virtual ~WorkerLink() = default;
  virtual int rank() const = 0;
  virtual void send(MsgKind kind, const std::string& payload) = 0;
  virtual Message receive() = 0;  // waits for the coordinator's next message
};

// Rank 0's engine thread: `to_coordinator` is the coordinator's from_local mailbox.
class LocalWorkerLink final : public WorkerLink {
 public:
  LocalWorkerLink(std::shared_ptr<Mailbox> to_coordinator,
                  std::shared_ptr<Mailbox> from_coordinator)
      : to_(std::move(to_coordinator)), from_(std::move(from_coordinator)) {}
  int rank() const override { return 0; }
  void send(MsgKind kind, const std::string& payload) override {
    to_->push(Message{0, kind, payload});
  }
  Message receive() override { return from_->pop(); }

 private:
  std::shared_ptr<Mailbox> to_, from_;
};

// Ranks 1.. : MPI messages to and from rank 0.
class MpiWorkerLink final : public WorkerLink {
 public:
  explicit MpiWorkerLink(const MpiSession& mpi) : mpi_(mpi) {}
  int rank() const override { return mpi_.rank(); }
  void send(MsgKind kind, const std::string& payload) override { mpi_.send(0, kind, payload); }
  Message receive() override { return mpi_.receive(0); }

 private:
  const MpiSession& mpi_;
};

}  // namespace hs

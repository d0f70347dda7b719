// A worker's side of the message exchange with the coordinator: in-process mailboxes for rank
// 0's engine thread, MPI for the other ranks.
#pragma once

#include <chrono>
#include <memory>
#include <optional>

#include "runner/comm/mailbox.h"
#include "runner/comm/mpi_session.h"

namespace hs {

class WorkerLink {
 public:
  virtual ~WorkerLink() = default;
  virtual int rank() const = 0;
  virtual void send(MsgKind kind, const std::string& payload) = 0;
  virtual Message receive() = 0;  // waits for the coordinator's next message
  // The coordinator's next message if it comes within `limit`, else nullopt.
  virtual std::optional<Message> receive_for(std::chrono::microseconds limit) = 0;
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
  std::optional<Message> receive_for(std::chrono::microseconds limit) override {
    return from_->pop_for(limit);
  }

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
  std::optional<Message> receive_for(std::chrono::microseconds limit) override {
    return mpi_.receive_for(0, limit);
  }

 private:
  const MpiSession& mpi_;
};

}  // namespace hs

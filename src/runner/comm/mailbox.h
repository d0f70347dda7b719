// A thread-safe FIFO of messages: how rank 0's engine thread and the coordinator (rank 0's main
// thread) talk, the in-process twin of MPI send/receive.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>

#include "runner/comm/message.h"

namespace hs {

class Mailbox {
 public:
  void push(Message m);
  // The oldest message, waiting until one arrives.
  Message pop();
  // The oldest message, or nullopt if none arrives within `wait`.
  std::optional<Message> pop_for(std::chrono::microseconds wait);

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Message> queue_;
};

}  // namespace hs

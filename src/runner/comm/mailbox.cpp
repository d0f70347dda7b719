#include "runner/comm/mailbox.h"

namespace hs {

void Mailbox::push(Message m) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(std::move(m));
  }
  cv_.notify_one();
}

Message Mailbox::pop() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [this] { return !queue_.empty(); });
  Message m = std::move(queue_.front());
  queue_.pop_front();
  return m;
}

std::optional<Message> Mailbox::pop_for(std::chrono::microseconds wait) {
  std::unique_lock<std::mutex> lock(mu_);
  if (!cv_.wait_for(lock, wait, [this] { return !queue_.empty(); })) return std::nullopt;
  Message m = std::move(queue_.front());
  queue_.pop_front();
  return m;
}

}  // namespace hs

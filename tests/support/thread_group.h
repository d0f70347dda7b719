// The ranks of a node as threads of one process (cache/node_group.h): every collective is an
// all-gather of strings through one shared board, one round at a time. For tests of what ranks
// do together (loading shared weights, the weight exchange) without MPI; tests/system/ runs the
// same under mpirun. And a tmpfs folder for their shared weights.
#pragma once

#include <stdlib.h>

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "cache/node_group.h"
#include "test_support.h"

namespace hs::test {

class ThreadNode {
 public:
  explicit ThreadNode(int ranks) : ranks_(ranks) {}
  std::vector<std::string> exchange(int rank, const std::string& mine) {
    std::unique_lock<std::mutex> l(m_);
    const int64_t round = round_;
    auto& board = boards_[round];
    board.resize(static_cast<size_t>(ranks_));
    board[static_cast<size_t>(rank)] = mine;
    if (++arrived_ == ranks_) {
      arrived_ = 0;
      ++round_;
      cv_.notify_all();
    } else {
      cv_.wait(l, [&] { return round_ != round; });
    }
    std::vector<std::string> out = boards_[round];
    // The last rank to read a round's board removes it.
    if (++read_[round] == ranks_) {
      boards_.erase(round);
      read_.erase(round);
    }
    return out;
  }
  int ranks() const { return ranks_; }
  int64_t rounds() {
    std::lock_guard<std::mutex> l(m_);
    return round_;
  }

 private:
  int ranks_;
  std::mutex m_;
  std::condition_variable cv_;
  int arrived_ = 0;
  int64_t round_ = 0;
  std::map<int64_t, std::vector<std::string>> boards_;
  std::map<int64_t, int> read_;
};

class ThreadRank final : public NodeGroup {
 public:
  ThreadRank(ThreadNode& node, int rank) : node_(node), rank_(rank) {}
  int rank() const override { return rank_; }
  int size() const override { return node_.ranks(); }
  std::string name() const override { return "threads"; }
  std::string broadcast(const std::string& v) override { return node_.exchange(rank_, v)[0]; }
  int64_t min(int64_t v) override {
    int64_t m = v;
    for (const auto& s : node_.exchange(rank_, std::to_string(v)))
      m = std::min<int64_t>(m, std::stoll(s));
    return m;
  }
  bool all_ok(bool ok) override {
    bool all = true;
    for (const auto& s : node_.exchange(rank_, ok ? "1" : "0")) all = all && s == "1";
    return all;
  }
  void all_gather(void* buf, const std::vector<int64_t>& counts) override {
    auto* bytes = static_cast<char*>(buf);
    int64_t mine = 0;
    for (int r = 0; r < rank_; ++r) mine += counts[static_cast<size_t>(r)];
    const std::vector<std::string> all = node_.exchange(
        rank_, std::string(bytes + mine, static_cast<size_t>(counts[static_cast<size_t>(rank_)])));
    int64_t at = 0;
    for (size_t r = 0; r < all.size(); ++r) {
      if (static_cast<int>(r) != rank_) std::memcpy(bytes + at, all[r].data(), all[r].size());
      at += counts[r];
    }
  }

 private:
  ThreadNode& node_;
  int rank_;
};

// A folder on /dev/shm (a tmpfs, as the shared weight segment's home is), removed at the end.
struct ShmDir {
  std::string path;
  ShmDir() {
    char t[] = "/dev/shm/hs-test-XXXXXX";
    const char* p = mkdtemp(t);
    path = p ? p : temp_dir();
  }
  ~ShmDir() { std::filesystem::remove_all(path); }
};

}  // namespace hs::test

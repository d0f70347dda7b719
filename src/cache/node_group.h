// The ranks that hold one host copy of the streamed weights together (the ranks of a node), as
// the engine sees them: who this rank is among them, the few collective steps that loading
// together needs, and those of the weight exchange (Plan::exchange_ranks: each rank copies its
// share of a streamed layer and all-gathers the rest). The runner implements it over MPI; a
// process alone is a group of one.
//
// Every rank of a group makes the same calls in the same order. A step that fails on one rank
// must not leave the others waiting in the next collective: together() runs a step, then the
// ranks agree whether all of them succeeded, and every rank throws if one did not.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace hs {

class NodeGroup {
 public:
  virtual ~NodeGroup() = default;
  virtual int rank() const = 0;  // 0 .. size() - 1
  virtual int size() const = 0;
  virtual std::string name() const = 0;  // the node, for messages and /meta ("gpu-node-7")
  // Rank 0's `value`, on every rank.
  virtual std::string broadcast(const std::string& value) = 0;
  // The smallest of the ranks' values, on every rank.
  virtual int64_t min(int64_t value) = 0;
  // True on every rank iff `ok` was true on every rank; returns once every rank has called it.
  virtual bool all_ok(bool ok) = 0;
  // The largest of the ranks' values, on every rank.
  int64_t max(int64_t value) { return -min(-value); }
  // In place, in host memory: rank r's counts[r] bytes start at the sum of counts[0 .. r - 1]
  // in buf; on return every rank's buf holds every rank's bytes. counts is the same on every
  // rank, one per rank.
  virtual void all_gather(void* buf, const std::vector<int64_t>& counts) = 0;
};

// Runs step() on this rank, then agrees with the rest of the group: rethrows this rank's error
// if step() threw here, throws hs::Error saying that another rank failed at `what` if it threw
// there, returns on every rank if it threw nowhere.
void together(NodeGroup& g, const std::string& what, const std::function<void()>& step);

// A group of one: this process holds its weights alone.
class LoneGroup final : public NodeGroup {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  std::string name() const override;  // the host name
  std::string broadcast(const std::string& value) override { return value; }
  int64_t min(int64_t value) override { return value; }
  bool all_ok(bool ok) override { return ok; }
  void all_gather(void*, const std::vector<int64_t>&) override {}  // its own bytes are there
};

}  // namespace hs

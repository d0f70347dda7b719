// Host memory that the ranks of a node share: one file in a tmpfs (POSIX shared memory,
// /dev/shm by default), made by the group's rank 0 and mapped by every rank. It holds the
// streamed weights once per node (docs/NODE_POOL.md says why this and not an MPI window or a
// memfd).
//
// Nobody else's, never stale:
//  - Its name, hybridserve-w-<uid>-<pid>-<128 random bits>, cannot be guessed. It is created
//    with O_CREAT | O_EXCL | O_NOFOLLOW and mode 0600: a name that exists already (a squatter's,
//    or another job's) is an error and is never opened, and no other uid can open it.
//  - The other ranks open it with O_NOFOLLOW and check that it is a regular file of this uid,
//    mode 0600, of the expected size, before they map it.
//  - Its bytes are reserved with posix_fallocate: a tmpfs too small for it fails here, with a
//    message that says what to change, instead of a SIGBUS at the first write past the end.
//  - Once every rank has it mapped, rank 0 removes the name. The memory lives while a rank
//    maps it and goes back to the system when the last one exits, however it exits (kill -9
//    included): nothing is left for the next run to find.
//  - A name left by a job killed in the moment between making and removing it is removed by
//    the next start of the same user on that node, once its pid is gone; it is never reused.
#pragma once

#include <cstddef>
#include <string>

#include "cache/node_group.h"

namespace hs {

struct SegmentOptions {
  // The tmpfs the segment lives in. HYBRIDSERVE_SHM_DIR overrides it (a node whose /dev/shm is
  // small may have another tmpfs).
  std::string dir = "/dev/shm";
  // Empty: a fresh unguessable name. HYBRIDSERVE_SHM_NAME fixes it (tests of a squatted name).
  std::string name;
  static SegmentOptions from_env();
};

class SharedSegment {
 public:
  // Collective over g: rank 0 makes the segment of `bytes` (> 0), every rank maps it read-write.
  // Throws hs::Error on every rank if it cannot be made or mapped on any.
  SharedSegment(NodeGroup& g, size_t bytes, const SegmentOptions& o = SegmentOptions::from_env());
  ~SharedSegment();
  SharedSegment(const SharedSegment&) = delete;
  SharedSegment& operator=(const SharedSegment&) = delete;

  void* base() const { return base_; }
  size_t bytes() const { return bytes_; }
  const std::string& path() const { return path_; }  // its name while it had one

  // No rank writes it after this (mprotect PROT_READ): the weights are loaded.
  void make_read_only();

 private:
  std::string path_;
  size_t bytes_ = 0;
  void* base_ = nullptr;
};

// Removes segments of this uid in `dir` whose creating process is gone (killed before it could
// remove the name). Returns how many it removed.
int remove_stale_segments(const std::string& dir);

}  // namespace hs

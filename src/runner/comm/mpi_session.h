// How this process was started, and the MPI session when an MPI launcher (mpirun, srun
// --mpi=pmix) started it. A process that no launcher started is one rank and never calls
// MPI_Init, so the same binary runs on a laptop without MPI.
//
// Threads: messages go from the main thread only (the coordinator on rank 0, the worker on the
// others); rank 0's engine thread talks to the coordinator through a Mailbox. The node group's
// collectives (loading shared weights) run on the thread that builds the engine, rank 0's
// engine thread included, beside the coordinator's polling: they need MPI_THREAD_MULTIPLE,
// which is asked for; a library that gives only MPI_THREAD_FUNNELED runs jobs whose ranks do
// not share weights.
//
// Waiting: OpenMPI's blocking receive spins a core at 100%. Rank 0 runs an engine beside the
// coordinator, so receives here poll (MPI_Iprobe) and back off between polls instead.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "cache/node_group.h"
#include "runner/comm/message.h"

namespace hs {

class MpiSession {
 public:
  // Starts MPI if the environment names a launcher (OMPI_COMM_WORLD_SIZE, PMIX_RANK, PMI_RANK);
  // throws hs::Error for launches that would run every task as a separate job (srun without
  // --mpi=pmix, or a binary built without MPI started by mpirun with several ranks).
  MpiSession();
  // MPI_Finalize, unless abandon() was called.
  ~MpiSession();
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;

  bool active() const { return active_; }
  int rank() const { return rank_; }
  int size() const { return size_; }
  // Rank among the processes on this host (MPI_Comm_split_type SHARED).
  int local_rank() const { return local_rank_; }
  int local_size() const { return local_size_; }
  // The ranks that hold one copy of the weights together: those of this host, split further by
  // the value of HYBRIDSERVE_NODE where the launcher sets it (so one machine can stand for
  // several nodes). A group of one without MPI.
  NodeGroup& node() const { return *node_; }
  // Whether the node group's collectives may run on another thread than the main one.
  bool node_collectives_any_thread() const { return thread_multiple_ || node_->size() == 1; }
  // The GPU this rank uses: its local rank, or 0 when the launcher made exactly one device
  // visible to the task (Slurm --gpus-per-task=1 sets CUDA_VISIBLE_DEVICES per task).
  int device_index() const;
  const std::string& launcher() const { return launcher_; }  // "none", "mpirun", "srun", ...

  // Leaves without MPI_Finalize: for an error exit while other ranks may still be busy (a
  // finalize would wait for them); the launcher then ends the job.
  void abandon() { abandoned_ = true; }

  // Point-to-point messages (tag = kind). Valid only when active().
  void send(int to_rank, MsgKind kind, const std::string& payload) const;
  // A message from `from_rank` (-1: any rank), or nullopt if none is waiting.
  std::optional<Message> try_receive(int from_rank) const;
  // Waits for a message from `from_rank`, polling with a back-off of up to 250 us.
  Message receive(int from_rank) const;
  // The same, for at most `limit`: nullopt if none came.
  std::optional<Message> receive_for(int from_rank, std::chrono::microseconds limit) const;

 private:
  bool active_ = false;
  bool abandoned_ = false;
  bool thread_multiple_ = false;
  int rank_ = 0, size_ = 1, local_rank_ = 0, local_size_ = 1;
  std::unique_ptr<NodeGroup> node_;
  std::string launcher_ = "none";
};

}  // namespace hs

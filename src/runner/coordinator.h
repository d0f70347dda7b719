// The coordinator (rank 0's main thread): hands out work units on demand, one at a time per
// rank, so a rank that drew long prompts simply asks less often and no rank waits on another;
// journals each unit's results as they arrive, keeps the progress line, and writes checkpoints
// of the results file.
//
// Durability: each unit's record is appended (one write()) as soon as its results arrive, so it
// survives the death of the process (kill -9, OOM, Slurm) at once; fdatasync, which makes it
// survive a machine crash, is group-committed: at most once per kSyncInterval, always before a
// checkpoint and at the end. (fdatasync costs ~5-10 ms on a network or VM disk: once per unit it
// would idle ranks whose units are short.) A rank gets its next unit before its results are
// written. A unit whose record a machine crash loses is simply computed again on resume.
//
// A rank asks for work by its hello (engine ready) and by each result. A rank that reports
// `failed` is dropped and its unit goes back to the front of the queue for the others.
#pragma once

#include <chrono>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "runner/coordinator_link.h"
#include "runner/job_results.h"
#include "runner/journal.h"
#include "runner/progress.h"
#include "runner/trace_log.h"
#include "runner/work_unit.h"

namespace hs {

struct CoordinatorOptions {
  int64_t unit_size = 16;     // requests per work unit
  double checkpoint_s = 600;  // rewrite the results file at most this often (and at the end)
  int32_t session = 0;
};

class Coordinator {
 public:
  // `checkpoint` rewrites the results file from `results` (atomically).
  Coordinator(JobResults& results, CoordinatorLink& link, Journal& journal, TraceLog& trace,
              Progress& progress, std::function<void()> checkpoint, const CoordinatorOptions& o);

  // Starts every rank, hands out the unfinished requests, returns when all have results and
  // every rank was told to stop. Throws hs::Error when no rank is left to compute, or after an
  // interrupt (InterruptGuard) once the running units are in. On any throw it first tells every
  // rank that is not busy to stop (see ranks_busy()).
  void run();

  // Ranks still holding a unit (after run() threw): they cannot be stopped before it is done.
  std::vector<int> ranks_busy() const;
  // Per rank: {"rank", "host", "cpu", "device", ...} from its hello (or its failure).
  std::string hardware_json() const;
  std::string plan_json() const;  // the first plan a rank reported ("" if none)
  int64_t units_done() const { return units_done_; }

 private:
  enum class RankState { starting, idle, busy, stopped, failed };
  struct Rank {
    RankState state = RankState::starting;
    std::optional<WorkUnit> unit;  // the unit it holds
    double dispatched_ms = 0;      // when it got it (Unix ms)
    std::string hello;             // JSON
    std::string error;
  };

  void form_units();
  void handle(const Message& m);
  void on_result(int rank, const std::string& payload);
  void record(UnitResult r);  // trace rows, journal record, results rows
  void dispatch(int rank);    // next unit, or stop
  void stop_idle_ranks();
  bool draining() const;
  int ranks_left() const;

  JobResults& results_;
  CoordinatorLink& link_;
  Journal& journal_;
  TraceLog& trace_;
  Progress& progress_;
  std::function<void()> checkpoint_;
  CoordinatorOptions opt_;

  std::deque<WorkUnit> queue_;
  std::vector<Rank> ranks_;
  int64_t units_done_ = 0;
  int64_t applied_since_checkpoint_ = 0;
  bool unsynced_ = false;  // journal records not yet fdatasync'ed
  std::chrono::steady_clock::time_point last_sync_;
  void sync_journal();
  std::chrono::steady_clock::time_point last_checkpoint_;
  bool drain_checkpoint_written_ = false;
};

}  // namespace hs

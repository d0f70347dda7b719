// The coordinator (rank 0's main thread): hands out work units on demand, one at a time per
// rank, so a rank that drew long prompts simply asks less often and no rank waits on another;
// journals each unit's results as they arrive, hands them to the results file, keeps the
// progress line, and writes checkpoints.
//
// Memory: units are read from the dataset as ranks ask for them (UnitSource), so rank 0 holds
// the units in flight and the results file's write buffer, whatever the dataset's size.
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

#include "runner/comm/coordinator_link.h"
#include "runner/io/journal.h"
#include "runner/io/results_sink.h"
#include "runner/io/trace_log.h"
#include "runner/job/progress.h"
#include "runner/job/work_unit.h"

namespace hs {

// A work unit and the input of its requests that the results file keeps but a rank does not
// need (their lines and text prompts).
struct PendingUnit {
  WorkUnit unit;
  std::vector<int64_t> lines;
  std::vector<std::optional<std::string>> prompt_texts;
  std::vector<bool> chats;  // chat rows (an OpenAI chat completion is written as one)
};

// Where units come from: the next one of the dataset's unfinished requests, in input order
// (its index is set by the coordinator), or none when the dataset is read to its end.
class UnitSource {
 public:
  virtual ~UnitSource() = default;
  virtual std::optional<PendingUnit> next(int64_t size) = 0;  // of up to `size` requests
};

struct CoordinatorOptions {
  // Requests per work unit; 0: each rank's engine batch, from its hello (--batch-size auto).
  int64_t unit_size = 0;
  double checkpoint_s = 600;  // write a checkpoint at most this often (and at the end)
  int32_t session = 0;
  int64_t to_compute = 0;  // requests this session computes (their lines read as valid)
  // The job's shape for the engines: the longest prompt and generation among them.
  int64_t max_prompt_tokens = 0, max_new_tokens = 0;
  int64_t journal_units = 0;  // unit records in the journal before this session's
};

class Coordinator {
 public:
  // `checkpoint(journal_units)` writes the results file's checkpoint (runner/io/results_sink.h).
  Coordinator(UnitSource& source, ResultsSink& sink, CoordinatorLink& link, Journal& journal,
              TraceLog& trace, Progress& progress,
              std::function<void(int64_t journal_units)> checkpoint, const CoordinatorOptions& o);

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
  // This session's results so far.
  int64_t requests_ok() const { return ok_; }
  int64_t requests_failed() const { return failed_; }
  int64_t tokens_generated() const { return tokens_; }
  int64_t journal_units() const { return opt_.journal_units + units_done_; }

 private:
  enum class RankState { starting, idle, busy, stopped, failed };
  struct Rank {
    RankState state = RankState::starting;
    std::optional<PendingUnit> unit;  // the unit it holds
    double dispatched_ms = 0;         // when it got it (Unix ms)
    std::string hello;                // JSON
    std::string host;                 // from its hello
    int64_t pid = 0;
    int64_t batch = 0;  // requests per unit it is handed
    std::string error;
  };

  void handle(const Message& m);
  void on_result(int rank, const std::string& payload);
  void record(UnitResult r);  // trace rows, journal record, results rows
  void dispatch(int rank);    // next unit, or stop
  void stop_idle_ranks();
  bool draining() const;
  int ranks_left() const;

  UnitSource& source_;
  ResultsSink& sink_;
  CoordinatorLink& link_;
  Journal& journal_;
  TraceLog& trace_;
  Progress& progress_;
  std::function<void(int64_t)> checkpoint_;
  CoordinatorOptions opt_;

  std::deque<PendingUnit> returned_;  // units of failed ranks, handed out before new ones
  bool source_done_ = false;
  int64_t units_formed_ = 0;
  std::vector<Rank> ranks_;
  int64_t units_done_ = 0;
  int64_t ok_ = 0, failed_ = 0, tokens_ = 0;
  int64_t applied_since_checkpoint_ = 0;
  bool unsynced_ = false;  // journal records not yet fdatasync'ed
  std::chrono::steady_clock::time_point last_sync_;
  void sync_journal();
  std::chrono::steady_clock::time_point last_checkpoint_;
  bool drain_checkpoint_written_ = false;
};

}  // namespace hs

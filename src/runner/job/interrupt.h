// SIGTERM, SIGINT and SIGUSR1 while a job runs (Slurm's time limit and requeue send SIGTERM;
// `#SBATCH --signal=USR1@N` without B: sends SIGUSR1 to the steps): instead of dying at once,
// the coordinator stops handing out work, writes a checkpoint, collects the units that are
// running, writes again and exits with an error that says to --resume. A second signal stops
// the wait for running units. Nothing depends on this for correctness: the journal already
// holds every finished unit if the process is killed outright.
#pragma once

namespace hs {

class InterruptGuard {
 public:
  InterruptGuard();   // installs the handlers (they only count signals)
  ~InterruptGuard();  // restores the previous ones
  InterruptGuard(const InterruptGuard&) = delete;
  InterruptGuard& operator=(const InterruptGuard&) = delete;

  static int count();        // signals received since the guard was installed
  static int last_signal();  // the latest one's number (0 if none)
};

}  // namespace hs

// The coordinator's progress report on stderr: requests done / total, generated tokens per
// second, ETA and what each rank is doing. On a terminal one line redrawn in place (at most
// twice a second); otherwise (a Slurm log) a plain line every `log_every_s` and at the end,
// so logs get no carriage-return spam.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace hs {

class Progress {
 public:
  // total: requests in the job; done_before / failed_before: finished before the first unit
  // (earlier sessions, unparseable lines; not counted in the rate). tty: redraw in place
  // (normally isatty(stderr)).
  Progress(int64_t total, int64_t done_before, int64_t failed_before, int ranks, bool tty,
           double log_every_s);

  void set_rank_state(int rank, const std::string& state);  // "loading", "u12", "done", ...
  void add_done(int64_t requests, int64_t failed, int64_t generated_tokens);
  void tick();    // prints if one is due
  void finish();  // the last line (ends the redrawn one on a terminal)

  // The line itself, for tests and the final summary.
  std::string line() const;

 private:
  using clock = std::chrono::steady_clock;
  void print();

  int64_t total_, done_, failed_, done_now_ = 0, tokens_now_ = 0;
  std::vector<std::string> ranks_;
  bool tty_;
  double log_every_s_;
  clock::time_point t0_, last_print_;
  bool printed_ = false;
};

}  // namespace hs

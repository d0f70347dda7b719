#include "runner/job/progress.h"

#include <cstdio>
#include <map>

#include "util/error.h"

namespace hs {
namespace {

std::string hms(double s) {
  if (s < 0 || s > 1e8) return "--:--:--";
  const long t = static_cast<long>(s + 0.5);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%02ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
  return buf;
}

}  // namespace

Progress::Progress(int64_t total, int64_t done_before, int64_t failed_before, int ranks, bool tty,
                   double log_every_s)
    : total_(total),
      done_(done_before),
      failed_(failed_before),
      ranks_(static_cast<size_t>(ranks), "start"),
      tty_(tty),
      log_every_s_(log_every_s),
      t0_(clock::now()),
      last_print_(t0_) {}

void Progress::set_rank_state(int rank, const std::string& state) {
  if (rank >= 0 && rank < static_cast<int>(ranks_.size())) ranks_[rank] = state;
}

void Progress::add_done(int64_t requests, int64_t failed, int64_t generated_tokens) {
  done_ += requests;
  done_now_ += requests;
  failed_ += failed;
  tokens_now_ += generated_tokens;
}

std::string Progress::line() const {
  const double s = std::chrono::duration<double>(clock::now() - t0_).count();
  const double tok_s = s > 0 ? tokens_now_ / s : 0;
  const double req_s = s > 0 ? done_now_ / s : 0;
  const double eta = req_s > 0 ? (total_ - done_) / req_s : -1;
  std::string ranks;
  if (ranks_.size() <= 8) {
    for (size_t r = 0; r < ranks_.size(); ++r) ranks += cat(r ? " " : "", "r", r, ":", ranks_[r]);
  } else {  // hundreds of ranks: counts per state
    std::map<std::string, int> n;
    for (const std::string& st : ranks_) n[st[0] == 'u' ? "running" : st]++;
    for (const auto& [st, k] : n) ranks += cat(ranks.empty() ? "" : ", ", k, " ", st);
  }
  char buf[160];
  std::snprintf(buf, sizeof buf, "%lld/%lld done (%.1f%%), %lld failed | %.1f tok/s | ETA %s",
                static_cast<long long>(done_), static_cast<long long>(total_),
                total_ ? 100.0 * done_ / total_ : 100.0, static_cast<long long>(failed_), tok_s,
                hms(eta).c_str());
  return cat("[hybridserve] ", buf, " | ", hms(s), " elapsed | ", ranks);
}

void Progress::print() {
  if (tty_)
    std::fprintf(stderr, "\r\033[K%s", line().c_str());
  else
    std::fprintf(stderr, "%s\n", line().c_str());
  std::fflush(stderr);
  last_print_ = clock::now();
  printed_ = true;
}

void Progress::tick() {
  const double since = std::chrono::duration<double>(clock::now() - last_print_).count();
  if (since >= (tty_ ? 0.5 : log_every_s_)) print();
}

void Progress::finish() {
  print();
  if (tty_) std::fprintf(stderr, "\n");
}

}  // namespace hs

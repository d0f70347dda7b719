#include "runner/coordinator.h"

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstring>

#include <nlohmann/json.hpp>

#include "runner/interrupt.h"
#include "util/error.h"

namespace hs {
namespace {

using json = nlohmann::json;

// Longest a journal record waits for fdatasync (see coordinator.h): a machine crash costs at
// most this much recomputation; a killed process costs none.
constexpr auto kSyncInterval = std::chrono::milliseconds(1000);

double unix_ms() {
  return std::chrono::duration<double, std::milli>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

Coordinator::Coordinator(JobResults& results, CoordinatorLink& link, Journal& journal,
                         TraceLog& trace, Progress& progress, std::function<void()> checkpoint,
                         const CoordinatorOptions& o)
    : results_(results),
      link_(link),
      journal_(journal),
      trace_(trace),
      progress_(progress),
      checkpoint_(std::move(checkpoint)),
      opt_(o),
      ranks_(static_cast<size_t>(link.ranks())),
      last_sync_(std::chrono::steady_clock::now()),
      last_checkpoint_(std::chrono::steady_clock::now()) {
  form_units();
}

// Units of unit_size unfinished requests, in input order. Input order keeps a checkpoint's
// finished rows mostly a prefix of the file; load balance comes from handing units out on
// demand, not from their order.
void Coordinator::form_units() {
  WorkUnit u;
  auto flush = [&] {
    if (u.rows.empty()) return;
    u.index = static_cast<int64_t>(queue_.size());
    queue_.push_back(std::move(u));
    u = WorkUnit{};
  };
  for (size_t row = 0; row < results_.rows.size(); ++row) {
    const RequestRecord& r = results_.rows[row];
    if (r.done) continue;
    u.rows.push_back(static_cast<int64_t>(row));
    u.requests.push_back({r.id, r.prompt_ids, r.max_new_tokens});
    u.options.push_back(r.options);
    if (static_cast<int64_t>(u.rows.size()) == opt_.unit_size) flush();
  }
  flush();
}

bool Coordinator::draining() const {
  return InterruptGuard::count() > 0;
}

int Coordinator::ranks_left() const {
  int n = 0;
  for (const Rank& r : ranks_)
    n += (r.state == RankState::stopped || r.state == RankState::failed) ? 0 : 1;
  return n;
}

std::vector<int> Coordinator::ranks_busy() const {
  std::vector<int> out;
  for (size_t i = 0; i < ranks_.size(); ++i)
    if (ranks_[i].state == RankState::busy) out.push_back(static_cast<int>(i));
  return out;
}

void Coordinator::run() {
  try {
    if (queue_.empty()) {  // all done in earlier sessions: no engine needs to be built
      stop_idle_ranks();
      return;
    }
    int64_t max_prompt = 0, max_new = 0;
    for (const WorkUnit& u : queue_)
      for (const GenRequest& q : u.requests) {
        max_prompt = std::max<int64_t>(max_prompt, static_cast<int64_t>(q.prompt.size()));
        max_new = std::max(max_new, q.max_new_tokens);
      }
    const std::string shape =
        json{{"max_prompt_tokens", max_prompt}, {"max_new_tokens", max_new}}.dump();
    for (int r = 0; r < link_.ranks(); ++r) {
      link_.send(r, MsgKind::start, shape);
      progress_.set_rank_state(r, "loading");
    }
    while (ranks_left() > 0) {
      if (draining() && !drain_checkpoint_written_) {
        std::fprintf(stderr,
                     "\nhybridserve: signal %d (%s): no new work units; waiting for the %zu "
                     "running ones (signal again to stop now)\n",
                     InterruptGuard::last_signal(), strsignal(InterruptGuard::last_signal()),
                     ranks_busy().size());
        sync_journal();
        checkpoint_();
        drain_checkpoint_written_ = true;
        stop_idle_ranks();
        continue;
      }
      if (InterruptGuard::count() > 1)
        fail("interrupted again by signal ", InterruptGuard::last_signal(),
             " while units were still running");
      // 200 ms bounds how late a signal, a due sync or a due checkpoint is noticed, not how
      // fast messages are taken (they are taken as soon as they arrive).
      if (auto m = link_.receive_for(std::chrono::milliseconds(200))) handle(*m);
      if (unsynced_ && std::chrono::steady_clock::now() - last_sync_ >= kSyncInterval)
        sync_journal();
      const double since =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - last_checkpoint_)
              .count();
      if (applied_since_checkpoint_ > 0 && since >= opt_.checkpoint_s) {
        sync_journal();  // a checkpoint never holds a result the journal could still lose
        checkpoint_();
        applied_since_checkpoint_ = 0;
        last_checkpoint_ = std::chrono::steady_clock::now();
      }
      progress_.tick();
    }
    sync_journal();
    size_t left = queue_.size();
    if (draining())
      fail("interrupted by signal ", InterruptGuard::last_signal(), " (",
           strsignal(InterruptGuard::last_signal()), "): ", results_.done_count(), " of ",
           results_.rows.size(),
           " requests are done and saved; run the same command with "
           "--resume to finish the other ",
           results_.rows.size() - results_.done_count());
    if (left > 0) {
      std::string why;
      for (size_t r = 0; r < ranks_.size(); ++r)
        if (ranks_[r].state == RankState::failed) why += cat("\n  rank ", r, ": ", ranks_[r].error);
      fail("no rank is left to compute the remaining ", left,
           " work units; every rank failed:", why,
           "\nNothing finished is lost: fix the cause and run the same command with --resume.");
    }
  } catch (...) {
    stop_idle_ranks();
    throw;
  }
}

void Coordinator::sync_journal() {
  if (unsynced_) journal_.sync();
  unsynced_ = false;
  last_sync_ = std::chrono::steady_clock::now();
}

void Coordinator::stop_idle_ranks() {
  for (size_t r = 0; r < ranks_.size(); ++r) {
    Rank& k = ranks_[r];
    if (k.state == RankState::starting || k.state == RankState::idle) {
      link_.send(static_cast<int>(r), MsgKind::stop);
      k.state = RankState::stopped;
      progress_.set_rank_state(static_cast<int>(r), "stopped");
    }
  }
}

void Coordinator::handle(const Message& m) {
  HS_CHECK(m.rank >= 0 && m.rank < static_cast<int>(ranks_.size()), "message from unknown rank ",
           m.rank);
  Rank& k = ranks_[m.rank];
  switch (m.kind) {
    case MsgKind::hello:
      k.hello = m.payload;
      k.state = RankState::idle;
      dispatch(m.rank);
      break;
    case MsgKind::result:
      on_result(m.rank, m.payload);
      break;
    case MsgKind::failed:
      std::fprintf(stderr, "\nhybridserve: rank %d failed and leaves the job: %s\n", m.rank,
                   m.payload.c_str());
      if (k.unit) {  // someone else computes it
        queue_.push_front(std::move(*k.unit));
        k.unit.reset();
      }
      k.error = m.payload;
      k.state = RankState::failed;
      progress_.set_rank_state(m.rank, "FAILED");
      link_.send(m.rank, MsgKind::stop);
      break;
    default:
      fail("unexpected '", msg_kind_name(m.kind), "' message from rank ", m.rank);
  }
}

void Coordinator::on_result(int rank, const std::string& payload) {
  Rank& k = ranks_[rank];
  UnitResult r = decode_unit_result(payload);
  HS_CHECK(k.unit && k.unit->index == r.unit, "rank ", rank, " sent results of unit ", r.unit,
           " it does not hold");
  r.rank = rank;
  r.session = opt_.session;
  r.start_ms = k.dispatched_ms;
  r.end_ms = unix_ms();
  k.unit.reset();
  k.state = RankState::idle;
  dispatch(rank);  // first keep the rank busy, then write
  record(std::move(r));
}

void Coordinator::record(UnitResult r) {
  // Trace rows first, then the journal record that counts them (runner/trace_log.h).
  std::vector<TraceRow> rows;
  rows.reserve(r.trace.size());
  for (const TraceEvent& e : r.trace) rows.push_back({e, r.rank, opt_.session, r.unit});
  trace_.append(rows);
  r.trace_rows_end = trace_.rows();
  results_.trace_rows = trace_.rows();
  journal_.append(JournalRecordType::unit,
                  unit_result_to_json(r, /*with_trace=*/false)
                      .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  unsynced_ = true;
  const JobResults::Applied a = results_.apply(r);
  ++units_done_;
  applied_since_checkpoint_ += a.requests;
  progress_.add_done(a.requests, a.failed, a.generated_tokens);
}

void Coordinator::dispatch(int rank) {
  Rank& k = ranks_[rank];
  if (queue_.empty() || draining()) {
    link_.send(rank, MsgKind::stop);
    k.state = RankState::stopped;
    progress_.set_rank_state(rank, "done");
    return;
  }
  k.unit = std::move(queue_.front());
  queue_.pop_front();
  k.dispatched_ms = unix_ms();
  k.state = RankState::busy;
  link_.send(rank, MsgKind::unit, encode_work_unit(*k.unit));
  progress_.set_rank_state(rank, cat("u", k.unit->index));
}

std::string Coordinator::hardware_json() const {
  json out = json::array();
  for (size_t r = 0; r < ranks_.size(); ++r) {
    json h =
        ranks_[r].hello.empty() ? json::object() : json::parse(ranks_[r].hello, nullptr, false);
    if (h.is_discarded()) h = json::object();
    h.erase("plan");
    h["rank"] = r;
    if (!ranks_[r].error.empty()) h["error"] = ranks_[r].error;
    out.push_back(h);
  }
  return out.dump();
}

std::string Coordinator::plan_json() const {
  for (const Rank& k : ranks_) {
    json h = json::parse(k.hello.empty() ? "{}" : k.hello, nullptr, false);
    if (h.is_object() && h.contains("plan") && h["plan"].is_string() &&
        !h["plan"].get<std::string>().empty())
      return h["plan"].get<std::string>();
  }
  return "";
}

}  // namespace hs

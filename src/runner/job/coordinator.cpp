#include "runner/job/coordinator.h"

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstring>

#include <nlohmann/json.hpp>

#include "runner/job/interrupt.h"
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

Coordinator::Coordinator(UnitSource& source, ResultsSink& sink, CoordinatorLink& link,
                         Journal& journal, TraceLog& trace, Progress& progress,
                         std::function<void(int64_t)> checkpoint, const CoordinatorOptions& o)
    : source_(source),
      sink_(sink),
      link_(link),
      journal_(journal),
      trace_(trace),
      progress_(progress),
      checkpoint_(std::move(checkpoint)),
      opt_(o),
      ranks_(static_cast<size_t>(link.ranks())),
      last_sync_(std::chrono::steady_clock::now()),
      last_checkpoint_(std::chrono::steady_clock::now()) {}

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
    if (opt_.to_compute == 0) {  // all done before, or no line can run: no engine is built
      stop_idle_ranks();
      return;
    }
    const int64_t per_rank = (opt_.to_compute + link_.ranks() - 1) / link_.ranks();
    const std::string shape = json{
        {"max_prompt_tokens", opt_.max_prompt_tokens},
        {"max_new_tokens", opt_.max_new_tokens},
        {"max_batch", per_rank}}.dump();
    for (int r = 0; r < link_.ranks(); ++r) {
      link_.send(r, MsgKind::start, shape);
      progress_.set_rank_state(r, "loading");
    }
    while (ranks_left() > 0) {
      if (draining() && !drain_checkpoint_written_) {
        // The units running, by rank: when the launcher sent the signal because a rank died,
        // that rank is among them.
        std::string running;
        for (int r : ranks_busy())
          running += cat(running.empty() ? "" : "; ", "rank ", r, " (host ", ranks_[r].host,
                         "): unit ", ranks_[r].unit->unit.index, ", lines ",
                         ranks_[r].unit->lines.front(), "-", ranks_[r].unit->lines.back());
        std::fprintf(stderr,
                     "\nhybridserve: signal %d (%s): no new work units; waiting for the %zu "
                     "running ones (signal again to stop now): %s\n",
                     InterruptGuard::last_signal(), strsignal(InterruptGuard::last_signal()),
                     ranks_busy().size(), running.c_str());
        sync_journal();
        checkpoint_(journal_units());
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
        checkpoint_(journal_units());
        applied_since_checkpoint_ = 0;
        last_checkpoint_ = std::chrono::steady_clock::now();
      }
      progress_.tick();
    }
    sync_journal();
    const int64_t left = opt_.to_compute - ok_ - failed_;
    if (draining())
      fail("interrupted by signal ", InterruptGuard::last_signal(), " (",
           strsignal(InterruptGuard::last_signal()), "): ", ok_ + failed_, " of the ",
           opt_.to_compute,
           " requests of this run are done and saved; run the same command with "
           "--resume to finish the other ",
           left);
    if (left > 0) {
      std::string why;
      for (size_t r = 0; r < ranks_.size(); ++r)
        if (ranks_[r].state == RankState::failed) why += cat("\n  rank ", r, ": ", ranks_[r].error);
      fail("no rank is left to compute the remaining ", left, " requests; every rank failed:", why,
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
    case MsgKind::hello: {
      k.hello = m.payload;
      const json h = json::parse(m.payload, nullptr, false);
      if (h.is_object()) {
        k.host = h.value("host", "");
        k.pid = h.value("pid", int64_t{0});
        k.batch = h.value("batch", int64_t{0});
      }
      if (opt_.unit_size > 0 || k.batch <= 0) k.batch = std::max<int64_t>(opt_.unit_size, 1);
      k.state = RankState::idle;
      dispatch(m.rank);
      break;
    }
    case MsgKind::result:
      on_result(m.rank, m.payload);
      break;
    case MsgKind::failed:
      std::fprintf(stderr, "\nhybridserve: rank %d failed and leaves the job: %s\n", m.rank,
                   m.payload.c_str());
      if (k.unit) {  // someone else computes it
        returned_.push_front(std::move(*k.unit));
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
  HS_CHECK(k.unit && k.unit->unit.index == r.unit, "rank ", rank, " sent results of unit ", r.unit,
           " it does not hold");
  r.rank = rank;
  r.session = opt_.session;
  r.start_ms = k.dispatched_ms;
  r.end_ms = unix_ms();
  // The journal record carries each request's input, so that it alone rebuilds the row.
  const PendingUnit& u = *k.unit;
  for (RequestResult& q : r.results) {
    // A unit's rows are in input order (the reader forms units in order).
    const auto at = std::lower_bound(u.unit.rows.begin(), u.unit.rows.end(), q.row);
    HS_CHECK(at != u.unit.rows.end() && *at == q.row, "rank ", rank, " sent a result for row ",
             q.row, " that unit ", r.unit, " does not hold");
    const size_t i = static_cast<size_t>(at - u.unit.rows.begin());
    q.line = u.lines[i];
    q.prompt_ids = u.unit.requests[i].prompt;
    q.prompt_text = u.prompt_texts[i];
    q.chat = u.chats[i];
  }
  k.unit.reset();
  k.state = RankState::idle;
  dispatch(rank);  // first keep the rank busy, then write
  record(std::move(r));
}

void Coordinator::record(UnitResult r) {
  // Trace rows first, then the journal record that counts them (runner/io/trace_log.h).
  std::vector<TraceRow> rows;
  rows.reserve(r.trace.size());
  for (const TraceEvent& e : r.trace) rows.push_back({e, r.rank, opt_.session, r.unit});
  trace_.append(rows);
  r.trace_rows_end = trace_.rows();
  journal_.append(JournalRecordType::unit,
                  unit_result_to_json(r, /*with_trace=*/false)
                      .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  unsynced_ = true;
  int64_t failed = 0, tokens = 0;
  for (const RequestResult& q : r.results) {
    failed += q.ok ? 0 : 1;
    tokens += static_cast<int64_t>(q.output_ids.size());
    sink_.add(record_of(r, q));
  }
  const int64_t n = static_cast<int64_t>(r.results.size());
  ok_ += n - failed;
  failed_ += failed;
  tokens_ += tokens;
  ++units_done_;
  applied_since_checkpoint_ += n;
  progress_.add_done(n, failed, tokens);
}

void Coordinator::dispatch(int rank) {
  Rank& k = ranks_[rank];
  if (!draining()) {
    if (!returned_.empty()) {
      k.unit = std::move(returned_.front());
      returned_.pop_front();
    } else if (!source_done_) {
      k.unit = source_.next(k.batch);
      source_done_ = !k.unit;
      if (k.unit) k.unit->unit.index = units_formed_++;
    }
  }
  if (!k.unit) {
    link_.send(rank, MsgKind::stop);
    k.state = RankState::stopped;
    progress_.set_rank_state(rank, "done");
    return;
  }
  k.dispatched_ms = unix_ms();
  k.state = RankState::busy;
  link_.send(rank, MsgKind::unit, encode_work_unit(k.unit->unit));
  // A unit handed out is journaled too, so that if the rank dies with it (mpirun then ends
  // the job, often before rank 0 can say anything), the resume names the rank, host and unit.
  const PendingUnit& u = *k.unit;
  journal_.append(JournalRecordType::dispatch,
                  json{{"session", opt_.session},
                       {"unit", u.unit.index},
                       {"rank", rank},
                       {"host", k.host},
                       {"pid", k.pid},
                       {"first_line", u.lines.front()},
                       {"last_line", u.lines.back()},
                       {"requests", u.unit.rows.size()}}
                      .dump(-1, ' ', false, json::error_handler_t::replace));
  unsynced_ = true;
  progress_.set_rank_state(rank, cat("u", k.unit->unit.index));
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

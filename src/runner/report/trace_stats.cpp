#include "runner/report/trace_stats.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>

#include "util/error.h"

namespace hs {
namespace {

bool parse_step(const std::string& s, int64_t& out) {
  if (s.empty() || s.find_first_not_of("0123456789") != std::string::npos) return false;
  errno = 0;
  const long long v = std::strtoll(s.c_str(), nullptr, 10);
  if (errno != 0) return false;
  out = v;
  return true;
}

}  // namespace

StepRange parse_step_range(const std::string& text) {
  const auto bad = [&](const char* why) {
    fail("--steps '", text, "': ", why,
         " (expected A:B, A:, :B or A, with steps numbered from 0 = prefill, e.g. 1:31)");
  };
  StepRange r;
  const size_t colon = text.find(':');
  if (colon == std::string::npos) {
    if (!parse_step(text, r.first)) bad("not a step number");
    r.last = r.first;
    return r;
  }
  const std::string a = text.substr(0, colon), b = text.substr(colon + 1);
  if (a.empty() && b.empty()) bad("no step on either side of ':'");
  if (!a.empty() && !parse_step(a, r.first)) bad("the first step is not a step number");
  if (!b.empty() && !parse_step(b, r.last)) bad("the last step is not a step number");
  if (r.last < r.first) bad("the last step is before the first");
  return r;
}

const char* LayerStats::bound() const {
  if (load_ms > compute_ms) return "PCIe";
  if (compute_ms > load_ms) return "compute";
  return "-";
}

void TimeBins::spread(std::vector<double>& into, double start, double end, double amount) {
  const int bins = static_cast<int>(into.size());
  const double from = (start - origin_ms_) / bin_ms_, to = (end - origin_ms_) / bin_ms_;
  if (to <= from) {
    into[size_t(std::clamp(static_cast<int>(from), 0, bins - 1))] += amount;
    return;
  }
  const double per_bin = amount / (to - from);
  for (int i = std::max(0, static_cast<int>(from)); i < bins && i < to; ++i) {
    const double overlap = std::min(to, double(i + 1)) - std::max(from, double(i));
    if (overlap > 0) into[size_t(i)] += per_bin * overlap;
  }
}

void TimeBins::add(const TraceEvent& e) {
  if (!started_) {
    origin_ms_ = e.start_ms;
    started_ = true;
  }
  // An event that starts before the first one (streams file their events in their own order)
  // counts from the origin.
  const double start = std::max(e.start_ms, origin_ms_), end = std::max(e.end_ms, start);
  const int bins = static_cast<int>(h2d_.size());
  // Widen until the event ends inside the last bin: merge neighbours, halving the bins used.
  while (end - origin_ms_ > bin_ms_ * bins) {
    for (std::vector<double>* v : {&h2d_, &d2h_, &busy_}) {
      for (int i = 0; i < bins / 2; ++i)
        (*v)[size_t(i)] = (*v)[size_t(2 * i)] + (*v)[size_t(2 * i + 1)];
      if (bins % 2) (*v)[size_t(bins / 2)] = (*v)[size_t(bins - 1)];
      for (int i = (bins + 1) / 2; i < bins; ++i) (*v)[size_t(i)] = 0;
    }
    bin_ms_ *= 2;
    used_ = (used_ + 1) / 2;
  }
  // Bins that hold some of the lane's time: up to the one the event ends in (an end on a bin's
  // boundary is the bin before).
  const int upto = std::max(1, static_cast<int>(std::ceil((end - origin_ms_) / bin_ms_)));
  used_ = std::max(used_, std::min(bins, upto));
  if (is_h2d(e.stream)) spread(h2d_, start, end, double(e.bytes));
  if (is_d2h(e.stream)) spread(d2h_, start, end, double(e.bytes));
  if (is_device_work(e.stream)) spread(busy_, start, end, end - start);
}

int64_t LaneStats::h2d_bytes() const {
  int64_t b = 0;
  for (int s = 0; s < kNumStreams; ++s)
    if (is_h2d(s)) b += streams[s].bytes;
  return b;
}

int64_t LaneStats::d2h_bytes() const {
  int64_t b = 0;
  for (int s = 0; s < kNumStreams; ++s)
    if (is_d2h(s)) b += streams[s].bytes;
  return b;
}

TraceStats::TraceStats(StatsOptions o) : o_(std::move(o)) {
  HS_CHECK(o_.time_bins >= 2 && o_.first_bin_ms > 0, "bad time bins");
  const int64_t first = o_.selection.steps.first;
  primary_step_ = o_.timeline_step.value_or(std::max<int64_t>(1, first));
  fallback_step_ = o_.timeline_step.value_or(first);
}

void TraceStats::capture(StepRows& into, int64_t want_step, const TraceRow& r, int64_t row) {
  if (r.event.step != want_step) return;
  if (!into.found) {
    into.found = true;
    into.rank = r.rank;
    into.session = r.session;
    into.unit = r.unit;
    into.step = want_step;
  }
  if (r.rank != into.rank || r.session != into.session || r.unit != into.unit) return;
  if (into.rows.size() >= o_.max_timeline_rows) {
    into.truncated = true;
    return;
  }
  into.rows.push_back(r);
  into.row_index.push_back(row);
}

bool TraceStats::add(const TraceRow& r, int64_t row) {
  ++rows_read_;
  ranks_read_.insert(r.rank);
  max_step_read_ = std::max(max_step_read_, r.event.step);
  if (!o_.selection.contains(r)) return false;
  ++rows_selected_;
  const TraceEvent& e = r.event;
  const int k = static_cast<int>(e.kind), s = e.stream;
  HS_CHECK(k >= 0 && k < kNumTraceKinds && s >= 0 && s < kNumStreams, "trace row ", row, ": kind ",
           k, " or stream ", s, " out of range");
  const double ms = e.end_ms - e.start_ms;
  cells_[k][s].add(e);
  if (e.step >= 1) decode_streams_[s].add(e);

  LayerStats& l = layers_[e.layer];
  ++l.events;
  if (is_h2d(s)) {
    l.bytes_in += e.bytes;
    l.load_ms += ms;
  } else if (is_d2h(s)) {
    l.bytes_out += e.bytes;
    l.write_back_ms += ms;
  } else if (is_device_work(s)) {
    l.compute_ms += ms;
  }

  auto lane = lanes_.find({r.rank, r.session});
  if (lane == lanes_.end()) {
    lane =
        lanes_.emplace(std::make_pair(r.rank, r.session), LaneStats(o_.time_bins, o_.first_bin_ms))
            .first;
    lane->second.rank = r.rank;
    lane->second.session = r.session;
    lane->second.first_ms = e.start_ms;
    lane->second.last_ms = e.end_ms;
  }
  LaneStats& n = lane->second;
  n.first_ms = std::min(n.first_ms, e.start_ms);
  n.last_ms = std::max(n.last_ms, e.end_ms);
  ++n.events;
  n.streams[s].add(e);
  n.bins.add(e);

  min_step_ = std::min(min_step_, e.step);
  max_step_ = std::max(max_step_, e.step);
  capture(primary_, primary_step_, r, row);
  if (fallback_step_ != primary_step_) capture(fallback_, fallback_step_, r, row);
  return true;
}

void TraceStats::add_step(const StepSpan& s) {
  StepTimes& t = step_times_[s.step];
  const double ms = s.span_ms();
  t.min_ms = t.count ? std::min(t.min_ms, ms) : ms;
  t.max_ms = t.count ? std::max(t.max_ms, ms) : ms;
  t.sum_ms += ms;
  ++t.count;
  ++steps_counted_;
  auto lane = lanes_.find({s.rank, s.session});
  if (lane != lanes_.end()) ++lane->second.steps;
}

void TraceStats::add_unit(const UnitSpan& u) {
  if (u.has_prefill) {
    prefill_ms_ += u.prefill_ms();
    ++prefills_;
  }
  if (u.has_decode) {
    decode_ms_ += u.decode_ms();
    decode_steps_ += u.decode_steps();
  }
  auto lane = lanes_.find({u.rank, u.session});
  if (lane != lanes_.end()) ++lane->second.units;
}

Tally TraceStats::kind_total(int kind) const {
  Tally t;
  for (int s = 0; s < kNumStreams; ++s) {
    t.events += cells_[kind][s].events;
    t.bytes += cells_[kind][s].bytes;
    t.busy_ms += cells_[kind][s].busy_ms;
  }
  return t;
}

Tally TraceStats::stream_total(int stream) const {
  Tally t;
  for (int k = 0; k < kNumTraceKinds; ++k) {
    t.events += cells_[k][stream].events;
    t.bytes += cells_[k][stream].bytes;
    t.busy_ms += cells_[k][stream].busy_ms;
  }
  return t;
}

}  // namespace hs

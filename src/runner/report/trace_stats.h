// The numbers of a report, gathered in one pass over a trace's rows in bounded memory: time and
// bytes by kind and stream, per layer (bytes in, load against compute time, which one bounds
// it), per rank and session (busy time by stream, PCIe bytes over time), step and unit times
// (measured as `bench` measures them) and the rows of one step to draw.
//
// Streams are in-order queues, so the events of one stream never overlap and a stream's busy
// time is the sum of its events' durations. Times compare within one rank and session only
// (each has its own clock: docs/OUTPUT.md), so everything over time is kept per such lane.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "backend/backend.h"
#include "engine/trace.h"
#include "runner/io/trace_log.h"
#include "runner/report/step_spans.h"

namespace hs {

// --steps: an inclusive range of step numbers.
struct StepRange {
  int64_t first = 0, last = INT64_MAX;
  bool contains(int64_t step) const { return step >= first && step <= last; }
};
// "A:B" (A to B), "A:" (A on), ":B" (up to B) or "A" (step A alone). Throws hs::Error naming
// --steps and the accepted forms.
StepRange parse_step_range(const std::string& text);

struct Selection {
  std::optional<int32_t> rank;  // --rank
  StepRange steps;              // --steps
  bool contains(const TraceRow& r) const {
    return (!rank || r.rank == *rank) && steps.contains(r.event.step);
  }
};

// Host-to-device streams (the PCIe direction that bounds an offloaded run) and the device's
// own work.
inline bool is_h2d(int stream) {
  return stream == int(Stream::weights) || stream == int(Stream::cache_in);
}
inline bool is_d2h(int stream) {
  return stream == int(Stream::cache_out);
}
inline bool is_device_work(int stream) {
  return stream == int(Stream::compute) || stream == int(Stream::expand) ||
         stream == int(Stream::cache_dev);
}

// Events of one kind on one stream (or of one stream, or one kind).
struct Tally {
  int64_t events = 0, bytes = 0;
  double busy_ms = 0;
  void add(const TraceEvent& e) {
    ++events;
    bytes += e.bytes;
    busy_ms += e.end_ms - e.start_ms;
  }
  double gbps() const { return busy_ms > 0 ? double(bytes) / (busy_ms * 1e6) : 0; }
};

// One layer, summed over the selected steps and mini-batches: what crossed PCIe for it and how
// long its loads took against its compute. Layer -1 holds the model-wide phases (embedding,
// sampling).
struct LayerStats {
  int64_t bytes_in = 0, bytes_out = 0;  // host to device, device to host
  double load_ms = 0;                   // busy time of its host-to-device copies
  double compute_ms = 0;                // busy time of its device work
  double write_back_ms = 0;             // busy time of its device-to-host copies
  int64_t events = 0;
  // "PCIe" when its loads take longer than its compute, "compute" when the other way round,
  // "-" when it has neither: the resource the layer waits on when the two overlap.
  const char* bound() const;
};

// Bytes moved and device busy time of one lane over time, in a fixed number of bins whose width
// doubles (neighbours merged) whenever the lane's time outgrows them: bounded memory, exact
// sums. An event's bytes and time are spread evenly over its duration.
class TimeBins {
 public:
  TimeBins(int bins, double first_bin_ms)
      : bin_ms_(first_bin_ms), h2d_(bins), d2h_(bins), busy_(bins) {}
  void add(const TraceEvent& e);
  bool empty() const { return !started_; }
  double origin_ms() const { return origin_ms_; }  // the start of the lane's first event
  double bin_ms() const { return bin_ms_; }
  int used() const { return used_; }  // bins up to the last event's end
  const std::vector<double>& h2d_bytes() const { return h2d_; }
  const std::vector<double>& d2h_bytes() const { return d2h_; }
  const std::vector<double>& device_busy_ms() const { return busy_; }
  // Host-to-device GB/s of bin i.
  double h2d_gbps(int i) const { return h2d_[size_t(i)] / (bin_ms_ * 1e6); }

 private:
  void spread(std::vector<double>& into, double start, double end, double amount);
  bool started_ = false;
  double origin_ms_ = 0, bin_ms_;
  int used_ = 0;
  std::vector<double> h2d_, d2h_, busy_;
};

// One rank in one session: events on one clock.
struct LaneStats {
  LaneStats(int bins, double first_bin_ms) : bins(bins, first_bin_ms) {}
  int32_t rank = 0, session = 0;
  double first_ms = 0, last_ms = 0;  // earliest start, latest end
  int64_t events = 0, steps = 0, units = 0;
  Tally streams[kNumStreams];
  TimeBins bins;
  double span_ms() const { return events > 0 ? last_ms - first_ms : 0; }
  int64_t h2d_bytes() const;
  int64_t d2h_bytes() const;
};

// Measured times of one step number, over every unit and rank that ran it.
struct StepTimes {
  int64_t count = 0;
  double sum_ms = 0, min_ms = 0, max_ms = 0;
  double mean_ms() const { return count > 0 ? sum_ms / double(count) : 0; }
};

// The rows of one step of one unit on one rank, to draw.
struct StepRows {
  bool found = false;
  int32_t rank = 0, session = 0;
  int64_t unit = 0, step = 0;
  std::vector<TraceRow> rows;
  std::vector<int64_t> row_index;  // each row's place in the trace
  bool truncated = false;          // more rows than kept
};

struct StatsOptions {
  Selection selection;
  // The step drawn as a timeline; none: the first decode step in the selection (the first step
  // after its first), else its first step.
  std::optional<int64_t> timeline_step;
  int time_bins = 240;
  double first_bin_ms = 0.001;
  size_t max_timeline_rows = 200000;
};

class TraceStats {
 public:
  explicit TraceStats(StatsOptions o);

  // Adds a trace row (`row`: its index in the file) when the selection holds it; returns
  // whether it did. The caller feeds the rows it added to a StepTracker whose steps and units
  // come back through add_step and add_unit.
  bool add(const TraceRow& r, int64_t row);
  void add_step(const StepSpan& s);
  void add_unit(const UnitSpan& u);

  const StatsOptions& options() const { return o_; }
  int64_t rows_read() const { return rows_read_; }
  int64_t rows_selected() const { return rows_selected_; }
  const Tally& cell(int kind, int stream) const { return cells_[kind][stream]; }
  Tally kind_total(int kind) const;
  Tally stream_total(int stream) const;
  // A stream's events in decode steps (step >= 1) only.
  const Tally& decode_stream(int stream) const { return decode_streams_[stream]; }
  const std::map<int32_t, LayerStats>& layers() const { return layers_; }
  const std::map<std::pair<int32_t, int32_t>, LaneStats>& lanes() const { return lanes_; }
  const std::map<int64_t, StepTimes>& step_times() const { return step_times_; }
  // Steps seen: one per step of each unit on each rank.
  int64_t steps_counted() const { return steps_counted_; }
  int64_t max_step() const { return max_step_; }  // of the selected rows; -1 none
  int64_t min_step() const { return min_step_; }
  // Of every row read, selected or not: to say what a selection that matched nothing could ask.
  const std::set<int32_t>& ranks_read() const { return ranks_read_; }
  int64_t max_step_read() const { return max_step_read_; }

  // As `bench` reports them: a unit's prefill is the span of its step-0 events; its decode, the
  // span of its later steps' events over their number. Means over units (and ranks).
  int64_t prefills() const { return prefills_; }
  int64_t decode_steps() const { return decode_steps_; }
  double measured_prefill_ms() const { return prefills_ ? prefill_ms_ / double(prefills_) : 0; }
  double measured_step_ms() const { return decode_steps_ ? decode_ms_ / double(decode_steps_) : 0; }
  double prefill_ms_total() const { return prefill_ms_; }
  double decode_ms_total() const { return decode_ms_; }

  // The step drawn: the requested (or first decode) step if the selection has it, else the
  // selection's first step.
  const StepRows& timeline() const { return primary_.found ? primary_ : fallback_; }

 private:
  void capture(StepRows& into, int64_t want_step, const TraceRow& r, int64_t row);

  StatsOptions o_;
  int64_t rows_read_ = 0, rows_selected_ = 0;
  Tally cells_[kNumTraceKinds][kNumStreams];
  Tally decode_streams_[kNumStreams];
  std::map<int32_t, LayerStats> layers_;
  std::map<std::pair<int32_t, int32_t>, LaneStats> lanes_;
  std::map<int64_t, StepTimes> step_times_;
  int64_t steps_counted_ = 0;
  int64_t min_step_ = INT64_MAX, max_step_ = -1;
  std::set<int32_t> ranks_read_;
  int64_t max_step_read_ = -1;
  int64_t prefills_ = 0, decode_steps_ = 0;
  double prefill_ms_ = 0, decode_ms_ = 0;
  int64_t primary_step_, fallback_step_;
  StepRows primary_, fallback_;
};

}  // namespace hs

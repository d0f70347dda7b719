// hybridserve report's numbers on a small synthetic trace whose answers are worked out by hand
// below (time by kind and stream, per-layer bytes and bound, host-to-device GB/s over time,
// step and unit times, the per-rank split), read back through each input the command takes
// (an HDF5 trace in chunks, a CSV) and through the Perfetto writer; and its refusals of bad input.
#include <gtest/gtest.h>
#include <hdf5.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "runner/io/trace_h5.h"
#include "runner/report/perfetto_trace.h"
#include "runner/report/report.h"
#include "test_support.h"
#include "util/error.h"

namespace hs {
namespace {

using json = nlohmann::json;

TraceRow row(int64_t step, int32_t layer, int32_t mb, TraceKind kind, int64_t bytes, double start,
             double end, Stream stream, int32_t rank, int64_t unit) {
  TraceRow r;
  r.event = {step, layer, mb, kind, bytes, start, end, static_cast<int32_t>(stream)};
  r.rank = rank;
  r.unit = unit;
  return r;
}

// Rank 0 runs unit 0 (prefill, then one decode step); rank 1 runs unit 1 (a prefill) on its own
// clock. Times in ms.
std::vector<TraceRow> synthetic() {
  using K = TraceKind;
  using S = Stream;
  return {
      row(0, 0, -1, K::weights, 200'000'000, 0, 10, S::weights, 0, 0),     // 0
      row(0, 0, 0, K::projections, 0, 10, 14, S::compute, 0, 0),           // 1
      row(0, 0, 0, K::attention, 0, 14, 16, S::compute, 0, 0),             // 2
      row(0, 1, -1, K::weights, 100'000'000, 10, 20, S::weights, 0, 0),    // 3
      row(0, 0, 0, K::write_back, 1'000'000, 16, 17, S::cache_out, 0, 0),  // 4
      row(0, 1, 0, K::ffn, 0, 20, 26, S::compute, 0, 0),                   // 5
      row(0, -1, 0, K::sampling, 0, 26, 28, S::compute, 0, 0),             // 6
      row(1, 0, 0, K::kv, 50'000'000, 28, 30, S::cache_in, 0, 0),          // 7
      row(1, 0, 0, K::attention, 0, 30, 31, S::compute, 0, 0),             // 8
      row(1, 1, 0, K::act, 30'000'000, 30, 33, S::cache_in, 0, 0),         // 9
      row(1, 1, 0, K::recompute, 0, 33, 35, S::compute, 0, 0),             // 10
      row(1, -1, 0, K::sampling, 0, 35, 36, S::compute, 0, 0),             // 11
      row(0, 0, -1, K::weights, 100'000'000, 100, 105, S::weights, 1, 1),  // 12
      row(0, 0, 0, K::ffn, 0, 105, 125, S::compute, 1, 1),                 // 13
  };
}

// What build_report does, over rows in memory.
struct Gathered {
  explicit Gathered(StatsOptions o)
      : stats(std::move(o)),
        steps([this](const StepSpan& s) { stats.add_step(s); },
              [this](const UnitSpan& u) { stats.add_unit(u); }) {}
  void add(const std::vector<TraceRow>& rows) {
    for (size_t i = 0; i < rows.size(); ++i)
      if (stats.add(rows[i], static_cast<int64_t>(i))) steps.add(rows[i]);
    steps.finish();
  }
  TraceStats stats;
  StepTracker steps;
};

StatsOptions four_bins_of(double ms) {
  StatsOptions o;
  o.time_bins = 4;
  o.first_bin_ms = ms;
  return o;
}

void expect_tally(const Tally& t, int64_t events, int64_t bytes, double busy_ms) {
  EXPECT_EQ(t.events, events);
  EXPECT_EQ(t.bytes, bytes);
  EXPECT_DOUBLE_EQ(t.busy_ms, busy_ms);
}

// The hand-worked answers for synthetic(), whole.
void expect_synthetic_numbers(const TraceStats& s) {
  const int weights = int(Stream::weights), compute = int(Stream::compute),
            cache_in = int(Stream::cache_in), cache_out = int(Stream::cache_out);
  EXPECT_EQ(s.rows_selected(), 14);
  // By kind on its stream: weights 10 + 10 + 5 ms for 400 MB (16 GB/s); attention 2 + 1 ms;
  // ffn 6 + 20 ms; sampling 2 + 1 ms.
  expect_tally(s.cell(int(TraceKind::weights), weights), 3, 400'000'000, 25);
  EXPECT_DOUBLE_EQ(s.cell(int(TraceKind::weights), weights).gbps(), 16);
  expect_tally(s.cell(int(TraceKind::projections), compute), 1, 0, 4);
  expect_tally(s.cell(int(TraceKind::attention), compute), 2, 0, 3);
  expect_tally(s.cell(int(TraceKind::ffn), compute), 2, 0, 26);
  expect_tally(s.cell(int(TraceKind::sampling), compute), 2, 0, 3);
  expect_tally(s.cell(int(TraceKind::recompute), compute), 1, 0, 2);
  expect_tally(s.cell(int(TraceKind::kv), cache_in), 1, 50'000'000, 2);
  expect_tally(s.cell(int(TraceKind::act), cache_in), 1, 30'000'000, 3);
  expect_tally(s.cell(int(TraceKind::write_back), cache_out), 1, 1'000'000, 1);
  expect_tally(s.cell(int(TraceKind::kv), compute), 0, 0, 0);
  // By stream: compute 4 + 3 + 26 + 3 + 2 ms.
  expect_tally(s.stream_total(compute), 8, 0, 38);
  expect_tally(s.stream_total(weights), 3, 400'000'000, 25);
  expect_tally(s.stream_total(cache_in), 2, 80'000'000, 5);
  expect_tally(s.stream_total(cache_out), 1, 1'000'000, 1);
  expect_tally(s.kind_total(int(TraceKind::attention)), 2, 0, 3);

  // Layer 0: loads 10 (weights) + 2 (kv) + 5 (rank 1's weights) = 17 ms of 350 MB against
  // 4 + 2 + 1 + 20 = 27 ms of compute: compute-bound. Layer 1: 10 + 3 = 13 ms of 130 MB against
  // 6 + 2 = 8 ms: PCIe-bound. Layer -1 (sampling): compute only.
  ASSERT_EQ(s.layers().size(), 3u);
  const LayerStats& l0 = s.layers().at(0);
  EXPECT_EQ(l0.bytes_in, 350'000'000);
  EXPECT_EQ(l0.bytes_out, 1'000'000);
  EXPECT_DOUBLE_EQ(l0.load_ms, 17);
  EXPECT_DOUBLE_EQ(l0.compute_ms, 27);
  EXPECT_DOUBLE_EQ(l0.write_back_ms, 1);
  EXPECT_STREQ(l0.bound(), "compute");
  const LayerStats& l1 = s.layers().at(1);
  EXPECT_EQ(l1.bytes_in, 130'000'000);
  EXPECT_DOUBLE_EQ(l1.load_ms, 13);
  EXPECT_DOUBLE_EQ(l1.compute_ms, 8);
  EXPECT_STREQ(l1.bound(), "PCIe");
  EXPECT_DOUBLE_EQ(s.layers().at(-1).compute_ms, 3);
  EXPECT_EQ(s.layers().at(-1).bytes_in, 0);

  // Ranks: rank 0 from 0 to 36 ms, 380 MB in, 1 MB out; rank 1 from 100 to 125 ms, 100 MB in.
  ASSERT_EQ(s.lanes().size(), 2u);
  const LaneStats& r0 = s.lanes().at({0, 0});
  EXPECT_DOUBLE_EQ(r0.span_ms(), 36);
  EXPECT_EQ(r0.events, 12);
  EXPECT_EQ(r0.h2d_bytes(), 380'000'000);
  EXPECT_EQ(r0.d2h_bytes(), 1'000'000);
  EXPECT_EQ(r0.units, 1);
  EXPECT_EQ(r0.steps, 2);
  const LaneStats& r1 = s.lanes().at({1, 0});
  EXPECT_DOUBLE_EQ(r1.span_ms(), 25);
  EXPECT_EQ(r1.h2d_bytes(), 100'000'000);
  EXPECT_EQ(r1.units, 1);
  EXPECT_EQ(r1.steps, 1);
  // Over the traced time (36 + 25 ms): 480 MB in, 7.87 GB/s; the device busy 38 of 61 ms.
  const TraceTotals t = trace_totals(s);
  EXPECT_EQ(t.h2d_bytes, 480'000'000);
  EXPECT_EQ(t.d2h_bytes, 1'000'000);
  EXPECT_DOUBLE_EQ(t.traced_ms, 61);
  EXPECT_DOUBLE_EQ(t.h2d_gbps(), 480e6 / 61e6);
  EXPECT_DOUBLE_EQ(t.device_busy_ms, 38);

  // Steps: rank 0's prefill spans 0-28 ms and its step 1 28-36 ms; rank 1's prefill 100-125.
  const auto& steps = s.step_times();
  ASSERT_EQ(steps.size(), 2u);
  EXPECT_EQ(steps.at(0).count, 2);
  EXPECT_DOUBLE_EQ(steps.at(0).mean_ms(), (28 + 25) / 2.0);
  EXPECT_DOUBLE_EQ(steps.at(0).min_ms, 25);
  EXPECT_DOUBLE_EQ(steps.at(0).max_ms, 28);
  EXPECT_DOUBLE_EQ(steps.at(1).mean_ms(), 8);
  EXPECT_EQ(s.steps_counted(), 3);
  EXPECT_EQ(s.prefills(), 2);
  EXPECT_DOUBLE_EQ(s.measured_prefill_ms(), 26.5);
  EXPECT_EQ(s.decode_steps(), 1);
  EXPECT_DOUBLE_EQ(s.measured_step_ms(), 8);

  // The step drawn: the first decode step, rows 7-11.
  const StepRows& tl = s.timeline();
  ASSERT_TRUE(tl.found);
  EXPECT_EQ(tl.step, 1);
  EXPECT_EQ(tl.rank, 0);
  EXPECT_EQ(tl.row_index, (std::vector<int64_t>{7, 8, 9, 10, 11}));
}

TEST(ReportStats, TimeBytesLayersRanksAndStepsOfASyntheticTrace) {
  Gathered g(four_bins_of(10));
  g.add(synthetic());
  expect_synthetic_numbers(g.stats);
}

TEST(ReportStats, HostToDeviceRateAndDeviceBusyByTimeBin) {
  // Rank 0 over 4 bins of 10 ms from its first event (0 ms): host-to-device bytes 200 MB (rows
  // 0), 100 MB (3), 50 MB (7), 30 MB (9): 20, 10, 5 and 3 GB/s. Device busy: 0; 4 + 2; 6 + 2;
  // 1 + 2 + 1 ms. Device-to-host: 1 MB in bin 1.
  for (double first_bin_ms : {10.0, 5.0, 2.5}) {  // the narrower bins double up to 10 ms
    Gathered g(four_bins_of(first_bin_ms));
    g.add(synthetic());
    const TimeBins& b = g.stats.lanes().at({0, 0}).bins;
    EXPECT_DOUBLE_EQ(b.bin_ms(), 10) << first_bin_ms;
    EXPECT_DOUBLE_EQ(b.origin_ms(), 0);
    EXPECT_EQ(b.used(), 4);
    EXPECT_EQ(b.h2d_bytes(), (std::vector<double>{200e6, 100e6, 50e6, 30e6}));
    EXPECT_DOUBLE_EQ(b.h2d_gbps(0), 20);
    EXPECT_DOUBLE_EQ(b.h2d_gbps(3), 3);
    EXPECT_EQ(b.device_busy_ms(), (std::vector<double>{0, 6, 8, 4}));
    EXPECT_EQ(b.d2h_bytes(), (std::vector<double>{0, 1e6, 0, 0}));
    // Rank 1: 100 MB over 100-105 ms, its first bin.
    const TimeBins& b1 = g.stats.lanes().at({1, 0}).bins;
    EXPECT_DOUBLE_EQ(b1.origin_ms(), 100);
    EXPECT_DOUBLE_EQ(b1.h2d_gbps(0), 100e6 / (b1.bin_ms() * 1e6));
  }
}

TEST(ReportStats, AnEventIsSpreadOverTheBinsItCovers) {
  TimeBins b(4, 10);
  TraceEvent first{0, 0, -1, TraceKind::weights, 0, 0, 1, int(Stream::weights)};
  b.add(first);
  // 300 bytes over 5-20 ms: 5 ms in bin 0, 10 ms in bin 1.
  TraceEvent e{0, 0, -1, TraceKind::weights, 300, 5, 20, int(Stream::weights)};
  b.add(e);
  EXPECT_EQ(b.h2d_bytes(), (std::vector<double>{100, 200, 0, 0}));
  EXPECT_EQ(b.used(), 2);
  // An event ending at 70 ms doubles the bins to 20 ms: [0-20) holds all 300 bytes.
  TraceEvent late{0, 0, -1, TraceKind::kv, 0, 60, 70, int(Stream::cache_in)};
  b.add(late);
  EXPECT_DOUBLE_EQ(b.bin_ms(), 20);
  EXPECT_EQ(b.h2d_bytes(), (std::vector<double>{300, 0, 0, 0}));
  EXPECT_EQ(b.used(), 4);
}

TEST(ReportStats, RankAndStepsSelectRows) {
  StatsOptions by_rank = four_bins_of(10);
  by_rank.selection.rank = 1;
  Gathered r1(by_rank);
  r1.add(synthetic());
  EXPECT_EQ(r1.stats.rows_read(), 14);
  EXPECT_EQ(r1.stats.rows_selected(), 2);
  EXPECT_EQ(r1.stats.lanes().size(), 1u);
  EXPECT_DOUBLE_EQ(r1.stats.layers().at(0).load_ms, 5);
  EXPECT_EQ(r1.stats.decode_steps(), 0);
  // No decode step: the timeline falls back to the first step selected.
  EXPECT_EQ(r1.stats.timeline().step, 0);
  EXPECT_EQ(r1.stats.timeline().rank, 1);

  StatsOptions decode = four_bins_of(10);
  decode.selection.steps = parse_step_range("1:");
  Gathered d(decode);
  d.add(synthetic());
  EXPECT_EQ(d.stats.rows_selected(), 5);
  expect_tally(d.stats.stream_total(int(Stream::cache_in)), 2, 80'000'000, 5);
  EXPECT_EQ(d.stats.prefills(), 0);
  EXPECT_DOUBLE_EQ(d.stats.measured_step_ms(), 8);
}

TEST(ReportStats, StepRangesParseAndBadOnesAreRefusedByName) {
  using Range = std::pair<int64_t, int64_t>;
  auto range = [](const char* s) {
    const StepRange r = parse_step_range(s);
    return Range(r.first, r.last);
  };
  EXPECT_EQ(range("1:31"), Range(1, 31));
  EXPECT_EQ(range("5:"), Range(5, INT64_MAX));
  EXPECT_EQ(range(":10"), Range(0, 10));
  EXPECT_EQ(range("7"), Range(7, 7));
  for (const char* bad : {"", ":", "a:b", "3:1", "-1", "1:2:3", "1-3", " 1"}) {
    try {
      parse_step_range(bad);
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("--steps '" + std::string(bad) + "'"), std::string::npos)
          << e.what();
    }
  }
}

// The plan a results file would carry: a predicted step and the link rate it measured.
const char* kPlan =
    R"({"policy": "hybrid", "predicted_step_ms": 6.0, "predicted_prefill_ms": 20.0,
        "predicted_pcie_ms": 5.0, "predicted_gpu_ms": 4.0, "constants": {"h2d_gbps": 10.0}})";

std::string write_h5(const std::vector<TraceRow>& rows) {
  const std::string path = test::temp_dir() + "/trace.h5";
  write_trace_file(path, rows, {{"plan", kPlan}, {"model_shape", "synthetic"}});
  return path;
}

TEST(ReportInput, AnHdf5TraceReadInChunksGivesTheSameNumbers) {
  ReportOptions o;
  o.input = write_h5(synthetic());
  o.chunk_rows = 3;  // the rows of a unit and of a step cross chunks
  o.perfetto = test::temp_dir() + "/t.json";
  const Report r = build_report(o, four_bins_of(10));
  EXPECT_EQ(r.info.format, "bench-h5");
  EXPECT_EQ(r.info.trace_rows, 14);
  EXPECT_DOUBLE_EQ(link_h2d_gbps(r.info), 10);
  EXPECT_DOUBLE_EQ(predicted_step_ms(r.info), 6);
  expect_synthetic_numbers(r.stats);
  // The summary puts 7.87 GB/s against the plan's 10 GB/s link: 78.7%.
  bool found = false;
  for (const auto& line : summary_table(r).rows)
    if (line[0] == "PCIe") {
      found = true;
      EXPECT_NE(line[1].find("7.87 GB/s host to device"), std::string::npos) << line[1];
      EXPECT_NE(line[1].find("78.7% of the 10.0 GB/s"), std::string::npos) << line[1];
    }
  EXPECT_TRUE(found);
  // The layers table says which bound each layer, in layer order.
  const ReportTable layers = layers_table(r);
  ASSERT_EQ(layers.rows.size(), 3u);
  EXPECT_EQ(layers.rows[0].front(), "head");
  EXPECT_EQ(layers.rows[1].back(), "compute");
  EXPECT_EQ(layers.rows[2].back(), "PCIe");
}

TEST(ReportInput, ACsvTraceGivesTheSameNumbers) {
  const std::string path = test::temp_dir() + "/trace.csv";
  {
    std::ofstream f(path);
    // rank and unit columns added to bench's eight (the reader takes them in any order).
    f << "step,layer,mini_batch,kind,bytes,start_ms,end_ms,stream,rank,unit\n";
    for (const TraceRow& r : synthetic()) {
      const TraceEvent& e = r.event;
      f << e.step << ',' << e.layer << ',' << e.mini_batch << ',' << trace_kind_name(e.kind) << ','
        << e.bytes << ',' << e.start_ms << ',' << e.end_ms << ',' << e.stream << ',' << r.rank
        << ',' << r.unit << "\n";
    }
  }
  ReportOptions o;
  o.input = path;
  o.chunk_rows = 4;
  const Report r = build_report(o, four_bins_of(10));
  EXPECT_EQ(r.info.format, "bench-csv");
  EXPECT_EQ(r.info.trace_rows, 14);
  EXPECT_FALSE(r.requests.has_value());
  expect_synthetic_numbers(r.stats);
}

TEST(ReportPerfetto, OneCompleteEventPerRowOnItsRankAndStream) {
  ReportOptions o;
  o.input = write_h5(synthetic());
  o.perfetto = test::temp_dir() + "/t.json";
  const Report r = build_report(o, StatsOptions{});
  EXPECT_EQ(r.perfetto_events, 14);
  EXPECT_EQ(r.perfetto_adjusted, 0);
  const json j = json::parse(test::read_file(o.perfetto));
  std::map<std::pair<int, int>, int> per_track;
  std::map<int, std::string> process;
  std::map<std::pair<int, int>, std::string> thread;
  std::vector<int64_t> rows;
  int instants = 0, counters = 0;
  for (const json& e : j["traceEvents"]) {
    const std::string ph = e["ph"];
    if (ph == "X") {
      per_track[{e["pid"], e["tid"]}]++;
      rows.push_back(e["args"]["row"]);
      EXPECT_EQ(e["name"], e["args"]["kind"]);
    } else if (ph == "i") {
      ++instants;
    } else if (ph == "C") {
      ++counters;
      EXPECT_DOUBLE_EQ(e["args"]["predicted"].get<double>(),
                       e["name"] == "step ms" && e["ts"].get<double>() == 28000 ? 6.0 : 20.0);
    } else if (ph == "M" && e["name"] == "process_name") {
      process[e["pid"]] = e["args"]["name"];
    } else if (ph == "M" && e["name"] == "thread_name") {
      thread[{e["pid"], e["tid"]}] = e["args"]["name"];
    }
  }
  // Rows 0..13 once each; rank 0: 7 compute, 2 weights, 2 cache_in, 1 cache_out; rank 1: one
  // weights, one compute.
  std::sort(rows.begin(), rows.end());
  for (int64_t i = 0; i < 14; ++i) EXPECT_EQ(rows[size_t(i)], i);
  std::map<std::string, int> named;
  for (const auto& [track, n] : per_track) named[process[track.first] + "/" + thread[track]] = n;
  EXPECT_EQ(named, (std::map<std::string, int>{{"rank 0/compute", 7},
                                               {"rank 0/weights", 2},
                                               {"rank 0/cache_in", 2},
                                               {"rank 0/cache_out", 1},
                                               {"rank 1/weights", 1},
                                               {"rank 1/compute", 1}}));
  EXPECT_EQ(instants, 3);  // rank 0's steps 0 and 1, rank 1's step 0
  EXPECT_EQ(counters, 3);
  // Microseconds to the nanosecond: row 1 (10-14 ms) starts at 10000 us and lasts 4000 us.
  for (const json& e : j["traceEvents"])
    if (e["ph"] == "X" && e["args"]["row"] == 1) {
      EXPECT_DOUBLE_EQ(e["ts"].get<double>(), 10000);
      EXPECT_DOUBLE_EQ(e["dur"].get<double>(), 4000);
      EXPECT_DOUBLE_EQ(e["args"]["gbps"].get<double>(), 0);
    } else if (e["ph"] == "X" && e["args"]["row"] == 0) {
      EXPECT_DOUBLE_EQ(e["args"]["gbps"].get<double>(), 20);
      EXPECT_EQ(e["args"]["bytes"], 200'000'000);
    }
}

TEST(ReportPerfetto, AnEventStartingInsideTheOneBeforeIsDrawnFromItsEnd) {
  // Two events on one stream overlapping by 1 us: a viewer would drop the second.
  std::vector<TraceRow> rows = {row(0, 0, 0, TraceKind::ffn, 0, 0, 1.001, Stream::compute, 0, 0),
                                row(0, 1, 0, TraceKind::ffn, 0, 1, 2, Stream::compute, 0, 0)};
  ReportOptions o;
  o.input = write_h5(rows);
  o.perfetto = test::temp_dir() + "/t.json";
  const Report r = build_report(o, StatsOptions{});
  EXPECT_EQ(r.perfetto_adjusted, 1);
  const json j = json::parse(test::read_file(o.perfetto));
  for (const json& e : j["traceEvents"])
    if (e["ph"] == "X" && e["args"]["row"] == 1) {
      EXPECT_DOUBLE_EQ(e["ts"].get<double>(), 1001);
      EXPECT_DOUBLE_EQ(e["dur"].get<double>(), 999);
      EXPECT_DOUBLE_EQ(e["args"]["start_us_in_trace"].get<double>(), 1000);
    }
}

std::string report_error(const std::string& input, const std::string& steps = "",
                         std::optional<int32_t> rank = std::nullopt) {
  ReportOptions o;
  o.input = input;
  o.steps = steps;
  o.rank = rank;
  testing::internal::CaptureStdout();
  try {
    run_report(o);
  } catch (const Error& e) {
    testing::internal::GetCapturedStdout();
    return e.what();
  }
  testing::internal::GetCapturedStdout();
  return "";
}

TEST(ReportInput, BadInputIsRefusedNamingTheFileAndPlace) {
  const std::string dir = test::temp_dir();
  EXPECT_NE(report_error(dir + "/missing.h5").find("cannot open '" + dir + "/missing.h5'"),
            std::string::npos);

  test::write_file(dir + "/notes.txt", "hello\n");
  EXPECT_NE(report_error(dir + "/notes.txt").find("is neither an HDF5 file"), std::string::npos);

  // An HDF5 file without /trace (a job run with --no-trace has an empty one; this has none).
  const std::string bare = dir + "/bare.h5";
  H5Fclose(H5Fcreate(bare.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT));
  EXPECT_NE(report_error(bare).find("find /trace in '" + bare + "'"), std::string::npos)
      << report_error(bare);

  // A truncated HDF5 file.
  const std::string good = write_h5(synthetic());
  const std::string head = test::read_file(good).substr(0, 100);
  test::write_file(dir + "/cut.h5", head);
  EXPECT_NE(report_error(dir + "/cut.h5").find("cannot open '" + dir + "/cut.h5' as HDF5"),
            std::string::npos)
      << report_error(dir + "/cut.h5");

  const std::string header = "step,layer,mini_batch,kind,bytes,start_ms,end_ms,stream\n";
  test::write_file(dir + "/a.csv", header + "0,0,-1,weights,100,0,1,1\n0,0,0,ffn,0,1,x,0\n");
  EXPECT_NE(report_error(dir + "/a.csv").find("line 3, column 'end_ms': 'x' is not a number"),
            std::string::npos)
      << report_error(dir + "/a.csv");
  test::write_file(dir + "/b.csv", header + "0,0,-1,teleport,100,0,1,1\n");
  EXPECT_NE(
      report_error(dir + "/b.csv").find("line 2, column 'kind': 'teleport' is not a trace kind"),
      std::string::npos);
  test::write_file(dir + "/c.csv", header + "0,0,-1,weights,100\n");
  EXPECT_NE(report_error(dir + "/c.csv").find("line 2: 5 fields, the header names 8"),
            std::string::npos);
  test::write_file(dir + "/d.csv", header + "0,0,-1,weights,100,5,1,1\n");
  EXPECT_NE(report_error(dir + "/d.csv").find("line 2: end_ms 1 is before start_ms 5"),
            std::string::npos);
  test::write_file(dir + "/e.csv", "step,layer,kind\n");
  EXPECT_NE(report_error(dir + "/e.csv").find("is neither an HDF5 file"), std::string::npos);

  EXPECT_NE(report_error(good, "9:2").find("--steps '9:2': the last step is before the first"),
            std::string::npos);
  EXPECT_NE(report_error(good, "", 7)
                .find("no trace row of '" + good +
                      "' is of rank 7 (its rows are of rank 0, 1, steps 0 "
                      "to 1)"),
            std::string::npos)
      << report_error(good, "", 7);
}

}  // namespace
}  // namespace hs

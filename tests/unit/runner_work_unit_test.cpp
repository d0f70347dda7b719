// Work units and their results survive the trip through MPI messages (CBOR) and the journal
// (JSON text) unchanged, trace included, the journal text with each request's input; and record_of.
#include <gtest/gtest.h>

#include "runner/io/job_results.h"
#include "runner/job/work_unit.h"
#include "util/error.h"

namespace hs {
namespace {

UnitResult sample_result() {
  UnitResult r;
  r.unit = 7;
  r.rank = 3;
  r.session = 2;
  r.compute_ms = 12.5;
  r.start_ms = 1.7e12;
  r.end_ms = 1.7e12 + 13;
  r.trace_rows_end = 99;
  RequestResult ok;
  ok.row = 4;
  ok.id = "x\"y\n";
  ok.output_ids = {1, 2, 2147483647};
  ok.finish_reason = "eos";
  ok.text = "caf\xc3\xa9";
  RequestResult bad;
  bad.row = 5;
  bad.id = "z";
  bad.ok = false;
  bad.error = "generation failed: boom";
  r.results = {ok, bad};
  TraceEvent e;
  e.step = 3;
  e.layer = 1;
  e.mini_batch = 0;
  e.kind = TraceKind::attention;
  e.bytes = 1ll << 40;
  e.start_ms = 0.25;
  e.end_ms = 0.5;
  e.stream = 2;
  r.trace = {e, e};
  return r;
}

void expect_same(const UnitResult& a, const UnitResult& b, bool with_trace) {
  EXPECT_EQ(a.unit, b.unit);
  EXPECT_EQ(a.rank, b.rank);
  EXPECT_EQ(a.session, b.session);
  EXPECT_EQ(a.compute_ms, b.compute_ms);
  EXPECT_EQ(a.start_ms, b.start_ms);
  EXPECT_EQ(a.end_ms, b.end_ms);
  EXPECT_EQ(a.trace_rows_end, b.trace_rows_end);
  ASSERT_EQ(a.results.size(), b.results.size());
  for (size_t i = 0; i < a.results.size(); ++i) {
    EXPECT_EQ(a.results[i].row, b.results[i].row);
    EXPECT_EQ(a.results[i].id, b.results[i].id);
    EXPECT_EQ(a.results[i].ok, b.results[i].ok);
    EXPECT_EQ(a.results[i].error, b.results[i].error);
    EXPECT_EQ(a.results[i].output_ids, b.results[i].output_ids);
    EXPECT_EQ(a.results[i].finish_reason, b.results[i].finish_reason);
    EXPECT_EQ(a.results[i].text, b.results[i].text);
  }
  ASSERT_EQ(b.trace.size(), with_trace ? a.trace.size() : 0u);
  for (size_t i = 0; i < b.trace.size(); ++i) {
    EXPECT_EQ(a.trace[i].bytes, b.trace[i].bytes);
    EXPECT_EQ(a.trace[i].kind, b.trace[i].kind);
    EXPECT_EQ(a.trace[i].end_ms, b.trace[i].end_ms);
  }
}

TEST(WorkUnit, RoundTrip) {
  WorkUnit u;
  u.index = 11;
  u.rows = {0, 9};
  u.requests = {{"a", {1, 2, 3}, 16, {}}, {"b", {4}, 0, {}}};
  const WorkUnit v = decode_work_unit(encode_work_unit(u));
  EXPECT_EQ(v.index, 11);
  EXPECT_EQ(v.rows, u.rows);
  ASSERT_EQ(v.requests.size(), 2u);
  EXPECT_EQ(v.requests[0].prompt, u.requests[0].prompt);
  EXPECT_EQ(v.requests[1].id, "b");
  EXPECT_EQ(v.requests[0].max_new_tokens, 16);
  // A request's own options travel with it, a chat row's end-of-turn token included.
  u.options.resize(2);
  u.options[1].seed = 5;
  u.options[1].stop = {"\n\n"};
  u.options[1].stop_ids = {7};
  const WorkUnit w = decode_work_unit(encode_work_unit(u));
  ASSERT_EQ(w.options.size(), 2u);
  EXPECT_TRUE(w.options[0].empty());
  EXPECT_EQ(w.options[1].seed, 5u);
  EXPECT_EQ(w.options[1].stop, (std::vector<std::string>{"\n\n"}));
  EXPECT_EQ(w.options[1].stop_ids, (std::vector<int32_t>{7}));
}

TEST(UnitResult, RoundTripAsMessageAndJournalText) {
  const UnitResult r = sample_result();
  expect_same(r, decode_unit_result(encode_unit_result(r, true)), true);
  expect_same(r, decode_unit_result(encode_unit_result(r, false)), false);
  const std::string text = unit_result_to_json(r, false).dump();
  expect_same(r, unit_result_from_json(nlohmann::json::parse(text)), false);
}

TEST(UnitResult, CorruptMessageIsAnError) {
  EXPECT_THROW(decode_unit_result("not cbor"), Error);
  EXPECT_THROW(decode_work_unit(std::string(3, '\0')), Error);
}

TEST(UnitResult, JournalTextKeepsTheRequestsInput) {
  UnitResult r = sample_result();
  r.results[0].line = 12;
  r.results[0].prompt_ids = {5, 6};
  r.results[0].prompt_text = "hi";
  const UnitResult back =
      unit_result_from_json(nlohmann::json::parse(unit_result_to_json(r, false).dump()));
  EXPECT_EQ(back.results[0].line, 12);
  EXPECT_EQ(back.results[0].prompt_ids, (std::vector<int32_t>{5, 6}));
  EXPECT_EQ(back.results[0].prompt_text, "hi");
  EXPECT_EQ(back.results[1].line, 0);  // a rank's message has no input: none is invented
  EXPECT_FALSE(back.results[1].prompt_text);
}

TEST(JobResults, RecordOfAResultTakesTheUnitsTimesAndRank) {
  UnitResult u = sample_result();
  u.results[0].line = 12;
  const RequestRecord r = record_of(u, u.results[0]);
  EXPECT_EQ(r.row, 4);
  EXPECT_EQ(r.line, 12);
  EXPECT_TRUE(r.ok);
  EXPECT_EQ(r.rank, 3);
  EXPECT_EQ(r.unit, 7);
  EXPECT_EQ(r.session, 2);
  EXPECT_EQ(r.end_ms, 1.7e12 + 13);
  const RequestRecord bad = record_of(u, u.results[1]);
  EXPECT_FALSE(bad.ok);
  EXPECT_EQ(bad.error, "generation failed: boom");
}

}  // namespace
}  // namespace hs

// Inputs that broke a parser (most found by the fuzz targets of fuzz/, docs/FUZZING.md), each
// kept here as it was found: every one must now end in an hs::Error that names the file and the
// place, never a crash, a hang or an allocation the input's size does not bound.
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/gguf.h"
#include "model/tokenizer.h"
#include "runner/io/dataset.h"
#include "runner/io/journal.h"
#include "runner/job/job_output.h"
#include "test_support.h"
#include "util/error.h"

namespace hs {
namespace {

// Runs fn, which must throw hs::Error with every one of `parts` in its message.
template <typename Fn>
void expect_error(Fn&& fn, const std::vector<std::string>& parts) {
  try {
    fn();
    ADD_FAILURE() << "no hs::Error thrown";
  } catch (const Error& e) {
    for (const std::string& p : parts)
      EXPECT_NE(std::string(e.what()).find(p), std::string::npos)
          << "'" << p << "' missing from: " << e.what();
  }
}

// A journal of the given unit record payloads, after a header.
std::string journal_with_units(const std::vector<std::string>& units) {
  const std::string path = test::temp_dir() + "/out.h5.journal";
  Journal j = Journal::create(path);
  j.append(JournalRecordType::header, R"({"format": 2, "fingerprint": {}})");
  for (const std::string& u : units) j.append(JournalRecordType::unit, u);
  j.sync();
  return path;
}

std::string unit_with_row(const std::string& row) {
  return R"({"unit": 3, "rank": 1, "session": 0, "compute_ms": 1, "start_ms": 0, "end_ms": 1,
             "trace_rows_end": 0, "results": [{"row": )" +
         row + R"(, "id": "a", "ok": false, "error": "x"}]})";
}

// A unit record with a valid checksum naming row 10^15: the rows done were a bit vector sized
// to the largest row, so resuming from such a journal asked for 125 TB before it compared the
// row with the input's.
TEST(HostileJournal, AResultRowPastTheInputIsRefusedBeforeAnyAllocation) {
  const std::string path = journal_with_units({unit_with_row("1000000000000000")});
  expect_error([&] { replay_done_rows(path, false, 100); },
               {path, "unit 3", "row 1000000000000000", "at most 100"});
  expect_error([&] { replay_done_rows(path, true, 100); }, {path, "row 1000000000000000"});
  const DoneRows d = replay_done_rows(journal_with_units({unit_with_row("99")}), false, 100);
  EXPECT_EQ(d.done.size(), 100u);
  EXPECT_EQ(d.results, 1);
  EXPECT_EQ(d.failed, 1);
}

// open_job_output(--resume) on a journal of these records, in this order after the magic.
JobOutput resume_from(const std::vector<std::pair<JournalRecordType, std::string>>& records,
                      std::string* journal_path) {
  const std::string dir = test::temp_dir();
  *journal_path = dir + "/out.jsonl.journal";
  Journal j = Journal::create(*journal_path);
  for (const auto& [type, payload] : records) j.append(type, payload);
  j.sync();
  JobOutputRequest req{
      dir + "/out.jsonl",     true, false, nlohmann::json::object(), "hybridserve run",
      "2025-01-01T00:00:00Z", 1};
  return open_job_output(req);
}

const std::pair<JournalRecordType, std::string> kHeader{
    JournalRecordType::header, R"({"format": 2, "created": "x", "fingerprint": {}})"};

// Records whose checksums hold but whose fields have other JSON types than this version
// writes (found by fuzz_journal): nlohmann's type_error escaped the resume as an "internal
// error" naming no file. Each is now refused naming the journal and the record's offset.
TEST(HostileJournal, RecordsWithFieldsOfTheWrongTypeAreRefusedNamingTheRecord) {
  using T = JournalRecordType;
  const std::vector<std::vector<std::pair<T, std::string>>> cases = {
      // the fuzzer's input: a session record whose "session" is given twice, the last a string
      {kHeader, {T::session, R"({"session": 0, "session": "2025-01-01T00:00:00Z", "ranks": 2})"}},
      {{T::header, R"("just a string")"}},
      {{T::header, R"({"format": "2", "fingerprint": {}})"}},
      {{T::header, R"({"format": 2, "created": 7, "fingerprint": {}})"}},
      {kHeader, {T::session, R"({"ranks": 2})"}},
      {kHeader, {T::session, R"({"session": 1e300})"}},
      {kHeader, {T::session, R"({"session": 0})"}, {T::dispatch, R"({"session": 0, "host": 3})"}},
      {kHeader, {T::session, R"({"session": 0})"}, {T::unit, R"({"trace_rows_end": "9"})"}},
      {kHeader, {T::session, R"({"session": 0})"}, {T::unit, R"([1, 2])"}},
  };
  for (const auto& records : cases) {
    std::string path;
    expect_error([&] { resume_from(records, &path); },
                 {"journal '", "out.jsonl.journal", "is malformed"});
  }
}

// A unit record whose row, token ids or trace hold floats out of an integer's range: nlohmann
// converts them with a cast, undefined behaviour (UBSan's float-cast-overflow) before any check.
TEST(HostileJournal, UnitResultsWithFloatsWhereIntegersBelongAreRefused) {
  for (const std::string& bad :
       {unit_with_row("1e300"), unit_with_row("-1.5"),
        std::string(R"({"unit": 3, "rank": 1, "session": 0, "compute_ms": 1, "start_ms": 0,
            "end_ms": 1, "trace_rows_end": 0, "results": [{"row": 0, "id": "a", "ok": true,
            "output_ids": [1, 1e300], "finish_reason": "length"}]})"),
        std::string(R"({"unit": 3, "rank": 1, "session": 0, "compute_ms": 1, "start_ms": 0,
            "end_ms": 1, "trace_rows_end": 0, "results": [], "trace": {"step": [1e300],
            "layer": [0], "mini_batch": [0], "kind": [0], "bytes": [0], "start_ms": [0],
            "end_ms": [0], "stream": [0]}})"),
        std::string(R"({"unit": 3, "rank": 1, "session": 0, "compute_ms": 1, "start_ms": 0,
            "end_ms": 1, "trace_rows_end": 0, "results": [], "trace": {"step": [1],
            "layer": [0], "mini_batch": [0], "kind": [99], "bytes": [0], "start_ms": [0],
            "end_ms": [0], "stream": [0]}})")}) {
    const std::string path = journal_with_units({bad});
    expect_error([&] { replay_done_rows(path, false, 100); },
                 {path, "the unit record at byte", "is malformed"});
  }
}

// A number beyond a double's range is valid JSON text that nlohmann refuses with out_of_range,
// not parse_error (found by fuzz_dataset: "temperature": -1e400 in an OpenAI batch line). The
// dataset reader caught only parse_error, so one such line ended the whole job with an internal
// error instead of becoming an error row; the tokenizer.json reader had the same gap.
TEST(HostileJson, ANumberOutOfRangeIsABadLineNotAnEscapedException) {
  DatasetOptions opt;
  const DatasetEntry e =
      parse_dataset_line(R"({"custom_id": "b1", "method": "POST", "url": "/v1/completions", )"
                         R"("body": {"prompt": [1, 2], "temperature":-1e400 0.8}})",
                         7, opt);
  EXPECT_EQ(e.error, "line 7: not valid JSON: a number is out of range");
  EXPECT_EQ(parse_dataset_line(R"({"id": "a", "input_ids": [1e400]})", 8, opt).error,
            "line 8: not valid JSON: a number is out of range");
  const std::string path = test::temp_dir() + "/tokenizer.json";
  test::write_file(path, R"({"model": {"type": "BPE", "vocab": {"a": 1e999}}})");
  expect_error([&] { Tokenizer::from_file(path); }, {path, "invalid JSON", "number overflow"});
}

// A BPE vocab id far past the vocab's entries (found by fuzz_tokenizer_json): the reader sized its
// token table by the largest id, so a two-entry vocab with an id of 2^31 - 2 asked for 10.9 GB.
// An id more than 65,536 past the entries is now an error naming it; one within stays a sparse
// vocab, as real files have gaps.
TEST(HostileJson, AVocabIdFarBeyondItsEntriesIsAnErrorNotAHugeTable) {
  const std::string path = test::temp_dir() + "/tokenizer.json";
  test::write_file(path,
                   R"({"decoder": {"type": "ByteLevel"}, "pre_tokenizer": {"type": "ByteLevel"}, )"
                   R"("model": {"type": "BPE", "vocab": {"a": 0, "b": 2147483646}, )"
                   R"("merges": []}})");
  expect_error([&] { Tokenizer::from_file(path); },
               {path, "id 2147483646 of 'b' is far beyond the vocabulary's 2 entries"});
}

// A GGUF metadata key holding a NUL byte (found by fuzz_gguf): the error quoted the key, and
// what() ended at the NUL, so the message lost the key and what was wrong with it. Control bytes
// in any hs::Error are now written as \xNN.
TEST(HostileGguf, AKeyWithANulByteIsQuotedWholeInTheError) {
  std::string b = "GGUF";
  auto put = [&](auto v) { b.append(reinterpret_cast<const char*>(&v), sizeof v); };
  put(uint32_t{3});
  put(uint64_t{0});  // tensors
  put(uint64_t{1});  // metadata
  const std::string key("\0okenizer.ggml.merges", 21);
  put(uint64_t{key.size()});
  b += key;
  put(uint32_t{99});  // no such value type
  const std::string path = test::temp_dir() + "/model.gguf";
  test::write_file(path, b);
  expect_error([&] { GgufFile f(path); },
               {path, "metadata key '\\x00okenizer.ggml.merges'", "value type 99"});
}

}  // namespace
}  // namespace hs

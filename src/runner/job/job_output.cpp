#include "runner/job/job_output.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <type_traits>

#include "runner/job/fingerprint.h"
#include "util/error.h"

namespace hs {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

std::string to_text(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

bool exists(const std::string& p) {
  std::error_code ec;
  return fs::exists(p, ec);
}

void remove_if_there(const std::string& p) {
  std::error_code ec;
  fs::remove(p, ec);
  HS_CHECK(!ec, "cannot remove '", p, "': ", ec.message());
}

std::string join(const std::vector<std::string>& v, const std::string& sep) {
  std::string out;
  for (const std::string& s : v) out += (out.empty() ? "" : sep) + s;
  return out;
}

// What the journal holds, read in one pass.
struct Replay {
  JournalScan scan;
  bool has_header = false;
  int64_t format = 0;   // of the header record
  std::string created;  // of the header record (ISO 8601)
  json fingerprint;     // of the header record
  int32_t last_session = -1;
  int64_t units = 0;
  int64_t trace_rows_end = 0;  // the largest of the unit records
  // Dispatch records without a unit record after them, by (session, unit): the log line that
  // names what was lost.
  std::map<std::pair<int64_t, int64_t>, std::string> in_flight;
};

// Field `key` of a record, of json type T, or `dflt` when absent; a field of another type
// throws (json::type_error), which replay() reports with the record's place.
template <typename T>
T field(const json& j, const char* key, T dflt) {
  const auto it = j.find(key);
  if (it == j.end()) return dflt;
  if constexpr (std::is_integral_v<T>) {
    // nlohmann converts a float to an integer with a cast, undefined out of range: refused.
    HS_CHECK(it->is_number_integer(), "field '", key, "' is not an integer: ", it->dump());
    HS_CHECK(!it->is_number_unsigned() || it->template get<uint64_t>() <= INT64_MAX, "field '", key,
             "' is out of range");
  }
  return it->template get<T>();
}

std::string lost_unit_line(const json& d) {
  return cat("session ", field<int64_t>(d, "session", -1), ": unit ", field<int64_t>(d, "unit", -1),
             " (lines ", field<int64_t>(d, "first_line", 0), "-", field<int64_t>(d, "last_line", 0),
             ", ", field<int64_t>(d, "requests", 0), " requests) was handed to rank ",
             field<int64_t>(d, "rank", -1), " (host ", field<std::string>(d, "host", "?"), ", pid ",
             field<int64_t>(d, "pid", 0), ") and its results never came back");
}

// The journal format this version writes; a journal of format 1 lacks the requests' input that
// rebuilding a results file from the journal needs.
constexpr int kJournalFormat = 2;

// Reads the journal's records. A record whose checksum holds but whose contents are not what
// this version writes (a journal damaged in a way the checksum missed, or written by hand) is
// refused with an hs::Error naming the journal and the record's byte offset.
Replay replay(const std::string& path) {
  Replay r;
  bool first = true;
  r.scan = scan_journal(path, [&](const JournalRecord& rec) {
    json j = json::parse(rec.payload, nullptr, /*allow_exceptions=*/false);
    HS_CHECK(!j.is_discarded(), "journal '", path, "': record at byte ", rec.offset,
             " has a valid checksum but unreadable contents");
    try {
      HS_CHECK(j.is_object(), "not a JSON object");
      if (first) {
        HS_CHECK(rec.type == JournalRecordType::header, "journal '", path,
                 "' does not start with a header record");
        r.format = field<int64_t>(j, "format", 0);
        r.created = field<std::string>(j, "created", "");
        r.fingerprint = field<json>(j, "fingerprint", json::object());
        r.has_header = true;
        first = false;
        return;
      }
      const int64_t session = field<int64_t>(j, "session", -1);
      const int64_t unit = field<int64_t>(j, "unit", -1);
      if (rec.type == JournalRecordType::session) {
        HS_CHECK(j.contains("session") && session >= 0 && session < INT32_MAX,
                 "a session record needs its session number");
        r.last_session = std::max(r.last_session, static_cast<int32_t>(session));
      } else if (rec.type == JournalRecordType::unit) {
        ++r.units;
        r.trace_rows_end = std::max(r.trace_rows_end, field<int64_t>(j, "trace_rows_end", 0));
        r.in_flight.erase({session, unit});
      } else if (rec.type == JournalRecordType::dispatch) {
        r.in_flight[{session, unit}] = lost_unit_line(j);
      }
    } catch (const json::exception& e) {
      fail("journal '", path, "': the record at byte ", rec.offset, " is malformed: ", e.what());
    } catch (const Error& e) {
      if (std::string(e.what()).rfind("journal '", 0) == 0) throw;
      fail("journal '", path, "': the record at byte ", rec.offset, " is malformed: ", e.what());
    }
  });
  return r;
}

}  // namespace

void check_output_location(const std::string& output) {
  const fs::path p(output);
  const fs::path dir = p.parent_path().empty() ? fs::path(".") : p.parent_path();
  std::error_code ec;
  HS_CHECK(fs::exists(dir, ec), "cannot write --output '", output, "': directory '", dir.string(),
           "' does not exist");
  HS_CHECK(fs::is_directory(dir, ec), "cannot write --output '", output, "': '", dir.string(),
           "' is not a directory");
  HS_CHECK(::access(dir.c_str(), W_OK | X_OK) == 0, "cannot write --output '", output,
           "': directory '", dir.string(), "' is not writable (", std::strerror(errno), ")");
  HS_CHECK(!fs::is_directory(p, ec), "cannot write --output '", output, "': it is a directory");
}

void check_output_rules(const std::string& output, bool resume, bool overwrite) {
  const OutputPaths p = output_paths(output);
  check_output_location(output);
  HS_CHECK(!(resume && overwrite),
           "--resume and --overwrite contradict each other: give one of them");
  const bool have_output = exists(p.output), have_journal = exists(p.journal);
  if (!resume && !overwrite && (have_output || have_journal))
    fail("'", have_output ? p.output : p.journal,
         "' already exists: refusing to overwrite it. Give --resume to continue the job that "
         "wrote it, or --overwrite to start again (discarding its results)");
  if (resume && have_output && !have_journal)
    fail("--resume: '", p.output, "' exists but its journal '", p.journal,
         "' does not, so it can be neither checked against this job nor continued; refusing to "
         "touch it (use --overwrite to start again)");
}

JobOutput open_job_output(const JobOutputRequest& req) {
  check_output_rules(req.output, req.resume, req.overwrite);
  JobOutput out;
  out.paths = output_paths(req.output);
  const OutputPaths& p = out.paths;
  const bool have_output = exists(p.output), have_journal = exists(p.journal);
  if (req.overwrite) {
    remove_if_there(p.journal);
    remove_if_there(p.trace);
  }
  int64_t keep_trace_rows = 0;
  bool fresh = true;
  if (req.resume && have_journal) {
    Replay r = replay(p.journal);
    if (r.scan.foreign)
      fail("--resume: '", p.journal, "' is not a HybridServe journal; refusing to touch it or '",
           p.output, "' (move them away, or use --overwrite to discard them)");
    if (r.has_header) {
      if (r.format != kJournalFormat)
        fail("--resume: the journal '", p.journal, "' is of format ", r.format,
             ", written by an older version; this one (format ", kJournalFormat,
             ") cannot continue it. Finish the job with the version that started it, or use "
             "--overwrite to start again.");
      const std::vector<std::string> diffs =
          fingerprint_differences(r.fingerprint, req.fingerprint);
      if (!diffs.empty())
        fail("--resume: the journal '", p.journal, "' belongs to a different job:\n  ",
             join(diffs, "\n  "),
             "\nNothing was changed. Use another --output for this job, or --overwrite to "
             "discard the old results.");
      if (!r.scan.stop_reason.empty())
        out.journal_note = cat("journal '", p.journal, "': ", r.scan.stop_reason, "; dropped its ",
                               r.scan.file_bytes - r.scan.valid_bytes,
                               " bytes (those requests are computed again)");
      out.journal = std::make_unique<Journal>(Journal::reopen(p.journal, r.scan.valid_bytes));
      out.session = r.last_session + 1;
      out.first_start_time = r.created;
      keep_trace_rows = r.trace_rows_end;
      out.replayed_units = r.units;
      // The last session's: earlier ones' were reported (and computed again) by the next.
      for (const auto& [key, line] : r.in_flight)
        if (key.first == r.last_session) out.lost_units.push_back(line);
      fresh = false;
    } else if (have_output) {
      fail("--resume: the journal '", p.journal, "' holds no job header (",
           r.scan.stop_reason.empty() ? "empty" : r.scan.stop_reason, "), so '", p.output,
           "' cannot be matched to this job; refusing to touch it (use --overwrite to start "
           "again)");
    }
  }
  if (fresh) {
    out.journal = std::make_unique<Journal>(Journal::create(p.journal));
    out.first_start_time = req.start_time;
    out.journal->append(JournalRecordType::header, to_text({{"format", kJournalFormat},
                                                            {"created", req.start_time},
                                                            {"fingerprint", req.fingerprint},
                                                            {"command_line", req.command_line}}));
  }
  out.trace = std::make_unique<TraceLog>(p.trace, keep_trace_rows);
  out.journal->append(JournalRecordType::session, to_text({{"session", out.session},
                                                           {"started", req.start_time},
                                                           {"ranks", req.ranks},
                                                           {"replayed_units", out.replayed_units},
                                                           {"command_line", req.command_line}}));
  out.journal->sync();
  return out;
}

void replay_units(const std::string& path, const std::function<void(UnitResult&&)>& fn) {
  scan_journal(path, [&](const JournalRecord& rec) {
    if (rec.type != JournalRecordType::unit) return;
    const json j = json::parse(rec.payload, nullptr, /*allow_exceptions=*/false);
    HS_CHECK(!j.is_discarded(), "journal '", path, "': record at byte ", rec.offset,
             " has a valid checksum but unreadable contents");
    UnitResult u;
    try {
      u = unit_result_from_json(j);
    } catch (const json::exception& e) {
      fail("journal '", path, "': the unit record at byte ", rec.offset,
           " is malformed: ", e.what());
    } catch (const Error& e) {
      fail("journal '", path, "': the unit record at byte ", rec.offset,
           " is malformed: ", e.what());
    }
    fn(std::move(u));
  });
}

DoneRows replay_done_rows(const std::string& journal, bool retry_failed, int64_t max_rows) {
  DoneRows d;
  replay_units(journal, [&](UnitResult&& u) {
    for (const RequestResult& q : u.results) {
      HS_CHECK(q.row >= 0 && q.row < max_rows, "journal '", journal, "': unit ", u.unit,
               " holds a result for row ", q.row, ", outside the input's rows (at most ", max_rows,
               "): the journal belongs to another input or is corrupt");
      if (retry_failed && !q.ok) {
        d.first_retried = d.first_retried < 0 ? q.row : std::min(d.first_retried, q.row);
        continue;
      }
      if (q.row >= static_cast<int64_t>(d.done.size())) d.done.resize(q.row + 1, false);
      if (d.done[q.row]) continue;
      d.done[q.row] = true;
      ++d.results;
      (q.ok ? d.ok : d.failed) += 1;
    }
  });
  return d;
}

}  // namespace hs

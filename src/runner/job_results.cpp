#include "runner/job_results.h"

#include "util/error.h"

namespace hs {

int64_t JobResults::done_count() const {
  int64_t n = 0;
  for (const RequestRecord& r : rows) n += r.done ? 1 : 0;
  return n;
}

JobResults::Applied JobResults::apply(const UnitResult& u) {
  Applied a;
  for (const RequestResult& q : u.results) {
    HS_CHECK(q.row >= 0 && q.row < static_cast<int64_t>(rows.size()) && rows[q.row].id == q.id,
             "result for request '", q.id, "' (row ", q.row,
             ") does not match the input: the journal belongs to another input file");
    RequestRecord& r = rows[q.row];
    if (r.done) {
      ++a.already_done;
      continue;
    }
    r.done = true;
    r.ok = q.ok;
    r.error = q.error;
    r.output_ids = q.output_ids;
    r.finish_reason = q.finish_reason;
    r.text = q.text;
    r.start_ms = u.start_ms;
    r.end_ms = u.end_ms;
    r.compute_ms = u.compute_ms;
    r.rank = u.rank;
    r.unit = u.unit;
    r.session = u.session;
    ++a.requests;
    a.failed += q.ok ? 0 : 1;
    a.generated_tokens += static_cast<int64_t>(q.output_ids.size());
  }
  return a;
}

}  // namespace hs

#include "runner/io/job_results.h"

namespace hs {

RequestRecord record_of(const UnitResult& u, const RequestResult& q) {
  RequestRecord r;
  r.row = q.row;
  r.line = q.line;
  r.id = q.id;
  r.prompt_ids = q.prompt_ids;
  r.prompt_text = q.prompt_text;
  r.chat = q.chat;
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
  return r;
}

}  // namespace hs

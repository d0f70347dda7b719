#include "runner/job/work_unit.h"

#include <limits>

#include <nlohmann/json.hpp>

#include "util/error.h"

namespace hs {
namespace {

using json = nlohmann::json;

std::string to_bytes(const json& j) {
  const std::vector<uint8_t> v = json::to_cbor(j);
  return std::string(v.begin(), v.end());
}

json from_bytes(const std::string& bytes, const char* what) {
  json j = json::from_cbor(bytes, /*strict=*/true, /*allow_exceptions=*/false);
  HS_CHECK(!j.is_discarded() && j.is_object(), "corrupt ", what, " message (", bytes.size(),
           " bytes)");
  return j;
}

// An integer field of a result as T. A unit result is read back from the journal, a file that
// may be damaged: a float where an integer belongs (1e300 as a row) is refused here, since
// nlohmann's conversion of a float out of T's range is undefined behaviour.
template <typename T>
T integer(const json& v, const char* what) {
  HS_CHECK(v.is_number_integer(), "'", what, "' is not an integer: ", v.dump());
  if (v.is_number_unsigned()) {
    const uint64_t x = v.get<uint64_t>();
    HS_CHECK(x <= static_cast<uint64_t>(std::numeric_limits<T>::max()), "'", what,
             "' is out of range: ", x);
    return static_cast<T>(x);
  }
  const int64_t x = v.get<int64_t>();
  HS_CHECK(x >= static_cast<int64_t>(std::numeric_limits<T>::min()) &&
               x <= static_cast<int64_t>(std::numeric_limits<T>::max()),
           "'", what, "' is out of range: ", x);
  return static_cast<T>(x);
}

std::vector<int32_t> token_ids(const json& v, const char* what) {
  HS_CHECK(v.is_array(), "'", what, "' is not an array of token ids");
  std::vector<int32_t> ids;
  ids.reserve(v.size());
  for (const json& x : v) ids.push_back(integer<int32_t>(x, what));
  return ids;
}

}  // namespace

SamplingParams RequestOptions::over(const SamplingParams& job) const {
  SamplingParams p = job;
  if (temperature) p.temperature = *temperature;
  if (top_p) p.top_p = *top_p;
  if (seed) p.seed = *seed;
  return p;
}

std::string encode_work_unit(const WorkUnit& u) {
  json reqs = json::array();
  for (size_t i = 0; i < u.requests.size(); ++i) {
    const GenRequest& r = u.requests[i];
    json q = {{"id", r.id}, {"prompt", r.prompt}, {"max_new_tokens", r.max_new_tokens}};
    if (i < u.options.size() && !u.options[i].empty()) {
      const RequestOptions& o = u.options[i];
      if (o.temperature) q["temperature"] = *o.temperature;
      if (o.top_p) q["top_p"] = *o.top_p;
      if (o.seed) q["seed"] = *o.seed;
      if (!o.stop.empty()) q["stop"] = o.stop;
      if (!o.stop_ids.empty()) q["stop_ids"] = o.stop_ids;
    }
    reqs.push_back(std::move(q));
  }
  return to_bytes({{"unit", u.index}, {"rows", u.rows}, {"requests", reqs}});
}

WorkUnit decode_work_unit(const std::string& bytes) {
  const json j = from_bytes(bytes, "work unit");
  WorkUnit u;
  u.index = j.at("unit").get<int64_t>();
  u.rows = j.at("rows").get<std::vector<int64_t>>();
  for (const json& r : j.at("requests")) {
    u.requests.push_back({r.at("id").get<std::string>(), r.at("prompt").get<std::vector<int32_t>>(),
                          r.at("max_new_tokens").get<int64_t>()});
    RequestOptions o;
    if (r.contains("temperature")) o.temperature = r["temperature"].get<float>();
    if (r.contains("top_p")) o.top_p = r["top_p"].get<float>();
    if (r.contains("seed")) o.seed = r["seed"].get<uint64_t>();
    if (r.contains("stop")) o.stop = r["stop"].get<std::vector<std::string>>();
    if (r.contains("stop_ids")) o.stop_ids = r["stop_ids"].get<std::vector<int32_t>>();
    u.options.push_back(std::move(o));
  }
  HS_CHECK(u.rows.size() == u.requests.size(), "corrupt work unit message (rows != requests)");
  return u;
}

json unit_result_to_json(const UnitResult& r, bool with_trace) {
  json results = json::array();
  for (const RequestResult& q : r.results) {
    json o = {{"row", q.row}, {"id", q.id}, {"ok", q.ok}};
    if (q.line > 0) {
      o["line"] = q.line;
      o["prompt_ids"] = q.prompt_ids;
      if (q.prompt_text) o["prompt_text"] = *q.prompt_text;
      if (q.chat) o["chat"] = true;
    }
    if (q.ok) {
      o["output_ids"] = q.output_ids;
      o["finish_reason"] = q.finish_reason;
      if (q.text) o["text"] = *q.text;
    } else {
      o["error"] = q.error;
    }
    results.push_back(std::move(o));
  }
  json j = {{"unit", r.unit},
            {"rank", r.rank},
            {"session", r.session},
            {"compute_ms", r.compute_ms},
            {"start_ms", r.start_ms},
            {"end_ms", r.end_ms},
            {"trace_rows_end", r.trace_rows_end},
            {"results", results}};
  if (with_trace) {
    // Column-wise: one array per field is about half the CBOR of one object per event.
    json t = {{"step", json::array()},   {"layer", json::array()}, {"mini_batch", json::array()},
              {"kind", json::array()},   {"bytes", json::array()}, {"start_ms", json::array()},
              {"end_ms", json::array()}, {"stream", json::array()}};
    for (const TraceEvent& e : r.trace) {
      t["step"].push_back(e.step);
      t["layer"].push_back(e.layer);
      t["mini_batch"].push_back(e.mini_batch);
      t["kind"].push_back(static_cast<int>(e.kind));
      t["bytes"].push_back(e.bytes);
      t["start_ms"].push_back(e.start_ms);
      t["end_ms"].push_back(e.end_ms);
      t["stream"].push_back(e.stream);
    }
    j["trace"] = std::move(t);
  }
  return j;
}

std::string encode_unit_result(const UnitResult& r, bool with_trace) {
  return to_bytes(unit_result_to_json(r, with_trace));
}

UnitResult decode_unit_result(const std::string& bytes) {
  return unit_result_from_json(from_bytes(bytes, "unit result"));
}

UnitResult unit_result_from_json(const json& j) {
  UnitResult r;
  r.unit = integer<int64_t>(j.at("unit"), "unit");
  r.rank = integer<int32_t>(j.at("rank"), "rank");
  r.session = integer<int32_t>(j.at("session"), "session");
  r.compute_ms = j.at("compute_ms").get<double>();
  r.start_ms = j.at("start_ms").get<double>();
  r.end_ms = j.at("end_ms").get<double>();
  r.trace_rows_end = integer<int64_t>(j.at("trace_rows_end"), "trace_rows_end");
  for (const json& o : j.at("results")) {
    RequestResult q;
    q.row = integer<int64_t>(o.at("row"), "row");
    q.id = o.at("id").get<std::string>();
    q.ok = o.at("ok").get<bool>();
    if (o.contains("line")) {
      q.line = integer<int64_t>(o.at("line"), "line");
      q.prompt_ids = token_ids(o.at("prompt_ids"), "prompt_ids");
      if (o.contains("prompt_text")) q.prompt_text = o.at("prompt_text").get<std::string>();
      q.chat = o.value("chat", false);
    }
    if (q.ok) {
      q.output_ids = token_ids(o.at("output_ids"), "output_ids");
      q.finish_reason = o.at("finish_reason").get<std::string>();
      if (o.contains("text")) q.text = o.at("text").get<std::string>();
    } else {
      q.error = o.at("error").get<std::string>();
    }
    r.results.push_back(std::move(q));
  }
  if (j.contains("trace")) {
    const json& t = j.at("trace");
    const size_t n = t.at("step").size();
    for (const char* col : {"layer", "mini_batch", "kind", "bytes", "start_ms", "end_ms", "stream"})
      HS_CHECK(t.at(col).size() == n, "corrupt unit result (trace column ", col, ")");
    r.trace.resize(n);
    for (size_t i = 0; i < n; ++i) {
      TraceEvent& e = r.trace[i];
      e.step = integer<int64_t>(t["step"][i], "step");
      e.layer = integer<int32_t>(t["layer"][i], "layer");
      e.mini_batch = integer<int32_t>(t["mini_batch"][i], "mini_batch");
      const int32_t kind = integer<int32_t>(t["kind"][i], "kind");
      HS_CHECK(kind >= 0 && kind < kNumTraceKinds, "'kind' is not a trace event kind: ", kind);
      e.kind = static_cast<TraceKind>(kind);
      e.bytes = integer<int64_t>(t["bytes"][i], "bytes");
      e.start_ms = t["start_ms"][i].get<double>();
      e.end_ms = t["end_ms"][i].get<double>();
      e.stream = integer<int32_t>(t["stream"][i], "stream");
    }
  }
  return r;
}

}  // namespace hs

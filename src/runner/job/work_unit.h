// A work unit: the group of requests the coordinator hands to one rank at a time (--batch-size
// of them, so the rank's engine batch is full), and the results the rank sends back for it.
// Both cross MPI as CBOR; a UnitResult without its trace is also a journal record (JSON text).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/generator.h"
#include "engine/sampler.h"
#include "engine/trace.h"

namespace hs {

// What a dataset line may set for its own request over the job's options (an OpenAI batch
// line's body: temperature, top_p, seed, stop).
struct RequestOptions {
  std::optional<float> temperature, top_p;
  std::optional<uint64_t> seed;
  std::vector<std::string> stop;  // beside the job's --stop strings
  // Tokens that end the request beside the model's EOS (a chat template's end of turn).
  std::vector<int32_t> stop_ids;
  bool empty() const { return !temperature && !top_p && !seed && stop.empty() && stop_ids.empty(); }
  // The job's sampling with this request's settings over it.
  SamplingParams over(const SamplingParams& job) const;
};

struct WorkUnit {
  int64_t index = 0;          // within the session, in the order units were formed
  std::vector<int64_t> rows;  // each request's row (input order) in the job's results
  std::vector<GenRequest> requests;
  std::vector<RequestOptions> options;  // per request; empty: none sets any
};

// The result of one request of a unit.
struct RequestResult {
  int64_t row = 0;
  std::string id;
  // The request's input, added by the coordinator before journaling (a rank does not send it
  // back), so that the journal alone rebuilds a row of the results file. line 0: not added.
  int64_t line = 0;
  std::vector<int32_t> prompt_ids;
  std::optional<std::string> prompt_text;
  bool chat = false;  // a chat row (its OpenAI output is a chat completion)
  bool ok = true;
  std::string error;  // !ok: why generation failed for this request
  std::vector<int32_t> output_ids;
  std::string finish_reason;
  std::optional<std::string> text;  // decoded output, when the rank has a tokenizer
};

struct UnitResult {
  int64_t unit = 0;
  int32_t rank = 0;
  int32_t session = 0;         // set by the coordinator before journaling
  double compute_ms = 0;       // the rank's wall time generating the unit
  double start_ms = 0;         // coordinator clock (Unix ms): when the unit was handed out ...
  double end_ms = 0;           // ... and when its results came back (set by the coordinator)
  int64_t trace_rows_end = 0;  // trace sidecar rows after this unit's (set by the coordinator)
  std::vector<RequestResult> results;
  std::vector<TraceEvent> trace;  // the engine's events for this unit (not journaled)
};

std::string encode_work_unit(const WorkUnit& u);
WorkUnit decode_work_unit(const std::string& bytes);

// with_trace=false leaves the trace out (the journal keeps it in the trace sidecar instead).
nlohmann::json unit_result_to_json(const UnitResult& r, bool with_trace);
UnitResult unit_result_from_json(const nlohmann::json& j);
// As CBOR, for messages.
std::string encode_unit_result(const UnitResult& r, bool with_trace);
UnitResult decode_unit_result(const std::string& bytes);

}  // namespace hs

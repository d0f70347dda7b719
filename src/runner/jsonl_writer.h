// The JSONL results file: one JSON object per finished request, in input order.
//   ok:    {"id", "line", "status": "ok", "output_ids", "text"?, "finish_reason", "prompt_len",
//           "output_len", "rank", "unit", "session", "start_ms", "end_ms", "compute_ms"}
//   error: {"id" (null if the line had none), "line", "status": "error", "error", ...}
// A request from an OpenAI batch line gets a line of the batch output format instead:
//   {"id": "batch_req_<line>", "custom_id", "response": {"status_code": 200, "request_id",
//    "body": {"id", "object": "text_completion", "created", "model", "choices": [{"index": 0,
//    "text", "token_ids", "logprobs": null, "finish_reason": "stop"|"length"}], "usage":
//    {"prompt_tokens", "completion_tokens", "total_tokens"}}}, "error": null}
//   or {"id", "custom_id", "response": null, "error": {"code": "invalid_request" (the line was
//    refused) | "generation_failed", "message"}}
#pragma once

#include <string>

#include "runner/job_results.h"

namespace hs {

// Writes the finished rows of `results` to `path` (created or truncated). Not atomic by itself:
// see write_results_file() in runner/output_file.h.
void write_results_jsonl(const std::string& path, const JobResults& results);

}  // namespace hs

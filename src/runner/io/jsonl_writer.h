// The JSONL results file: one JSON object per input line, in input order, appended as the rows
// before it are there (runner/io/results_sink.h).
//   ok:    {"id", "line", "status": "ok", "output_ids", "text"?, "finish_reason", "prompt_len",
//           "output_len", "rank", "unit", "session", "start_ms", "end_ms", "compute_ms"}
//   error: {"id" (null if the line had none), "line", "status": "error", "error", ...}
// A request from an OpenAI batch line gets a line of the batch output format instead:
//   {"id": "batch_req_<line>", "custom_id", "response": {"status_code": 200, "request_id",
//    "body": {"id", "object": "text_completion", "created", "model", "choices": [{"index": 0,
//    "text", "token_ids", "logprobs": null, "finish_reason": "stop"|"length"}], "usage":
//    {"prompt_tokens", "completion_tokens", "total_tokens"}}}, "error": null}
//   (for a /v1/chat/completions line: "id": "chatcmpl-<line>", "object": "chat.completion", and
//    each choice has "message": {"role": "assistant", "content"} in place of "text")
//   or {"id", "custom_id", "response": null, "error": {"code": "invalid_request" (the line was
//    refused) | "generation_failed", "message"}}
#pragma once

#include <memory>
#include <string>

#include "runner/io/results_sink.h"

namespace hs {

std::unique_ptr<ResultsSink> open_jsonl_results(const OutputPaths& paths, const ResultsLayout& l,
                                                bool resume, std::string* note);

}  // namespace hs

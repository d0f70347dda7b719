#include "runner/jsonl_writer.h"

#include <cstdio>
#include <memory>

#include <nlohmann/json.hpp>

#include "util/error.h"

namespace hs {

namespace {

using json = nlohmann::json;

// A result in the OpenAI batch output format: a completion (status 200) or an error object.
json openai_line(const RequestRecord& r, const std::string& model) {
  const std::string n = std::to_string(r.line);
  json o = {{"id", "batch_req_" + n}, {"custom_id", r.id.empty() ? json(nullptr) : json(r.id)}};
  if (!r.ok) {
    o["response"] = nullptr;
    // A line that never ran was refused as input; one that ran failed in generation.
    o["error"] = {{"code", r.rank >= 0 ? "generation_failed" : "invalid_request"},
                  {"message", r.error}};
    return o;
  }
  const int64_t prompt = static_cast<int64_t>(r.prompt_ids.size()),
                completion = static_cast<int64_t>(r.output_ids.size());
  const json choice = {{"index", 0},
                       {"text", r.text.value_or("")},
                       {"token_ids", r.output_ids},
                       {"logprobs", nullptr},
                       {"finish_reason", r.finish_reason == "length" ? "length" : "stop"}};
  const json body = {{"id", "cmpl-" + n},
                     {"object", "text_completion"},
                     {"created", static_cast<int64_t>(r.end_ms / 1000)},
                     {"model", model},
                     {"choices", json::array({choice})},
                     {"usage",
                      {{"prompt_tokens", prompt},
                       {"completion_tokens", completion},
                       {"total_tokens", prompt + completion}}}};
  o["response"] = {{"status_code", 200}, {"request_id", "req_" + n}, {"body", body}};
  o["error"] = nullptr;
  return o;
}

}  // namespace

void write_results_jsonl(const std::string& path, const JobResults& results) {
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "wb"), &std::fclose);
  HS_CHECK(f != nullptr, "cannot write results file '", path, "'");
  for (const RequestRecord& r : results.rows) {
    if (!r.done) continue;
    // Decoded text is valid UTF-8 (the tokenizer replaces broken bytes), ids can come from
    // anywhere: never let one odd id abort the file.
    auto put = [&](const json& o) {
      const std::string line = o.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
      HS_CHECK(std::fwrite(line.data(), 1, line.size(), f.get()) == line.size(),
               "cannot write results file '", path, "'");
    };
    if (r.openai) {
      put(openai_line(r, results.model_name));
      continue;
    }
    json o;
    o["id"] = r.id.empty() ? json(nullptr) : json(r.id);
    o["line"] = r.line;
    o["status"] = r.ok ? "ok" : "error";
    if (r.ok) {
      o["output_ids"] = r.output_ids;
      if (r.text) o["text"] = *r.text;
      o["finish_reason"] = r.finish_reason;
    } else {
      o["error"] = r.error;
    }
    o["prompt_len"] = r.prompt_ids.size();
    o["output_len"] = r.output_ids.size();
    if (r.rank >= 0) {
      o["rank"] = r.rank;
      o["unit"] = r.unit;
      o["session"] = r.session;
      o["start_ms"] = r.start_ms;
      o["end_ms"] = r.end_ms;
      o["compute_ms"] = r.compute_ms;
    }
    put(o);
  }
  HS_CHECK(std::fflush(f.get()) == 0, "cannot write results file '", path, "'");
  FILE* raw = f.release();
  HS_CHECK(std::fclose(raw) == 0, "cannot write results file '", path, "'");
}

}  // namespace hs

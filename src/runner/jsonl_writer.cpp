#include "runner/jsonl_writer.h"

#include <cstdio>
#include <memory>

#include <nlohmann/json.hpp>

#include "util/error.h"

namespace hs {

void write_results_jsonl(const std::string& path, const JobResults& results) {
  using json = nlohmann::json;
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "wb"), &std::fclose);
  HS_CHECK(f != nullptr, "cannot write results file '", path, "'");
  for (const RequestRecord& r : results.rows) {
    if (!r.done) continue;
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
    // Decoded text is valid UTF-8 (the tokenizer replaces broken bytes), ids can come from
    // anywhere: never let one odd id abort the file.
    const std::string line = o.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
    HS_CHECK(std::fwrite(line.data(), 1, line.size(), f.get()) == line.size(),
             "cannot write results file '", path, "'");
  }
  HS_CHECK(std::fflush(f.get()) == 0, "cannot write results file '", path, "'");
  FILE* raw = f.release();
  HS_CHECK(std::fclose(raw) == 0, "cannot write results file '", path, "'");
}

}  // namespace hs

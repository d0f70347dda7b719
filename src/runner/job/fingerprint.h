// The fingerprint of a job: what must be the same for a journal's results to belong to this run.
// It covers what decides the tokens of a request: the model (config.json, generation_config.json,
// tokenizer.json contents; names and sizes of the weight files), the input file (size and
// contents) and the generation options. How the work is spread (ranks, batch size, device,
// policy) is left out: it does not change the tokens, so a job may resume on other hardware.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/sampler.h"

namespace hs {

struct FingerprintInputs {
  std::string model_dir;
  std::string input_path;
  int64_t max_new_tokens = 0;
  SamplingParams sampling;
  std::vector<std::string> stop;
  std::string system;  // --system (the default system message of chat rows)
  // --weight-format, --weight-group: in the fingerprint unless native (as journals written
  // before compressed formats existed have it).
  std::string weight_format = "native";
  int64_t weight_group = 64;
  // --cache-format, --cache-group: likewise, unless native.
  std::string cache_format = "native";
  int64_t cache_group = 64;
};

// A flat JSON object, field name -> value. Reads the whole input file once (hashing).
nlohmann::json job_fingerprint(const FingerprintInputs& in);

// Human-readable differences, one per field: "input file contents (input.fnv1a64): journal
// 1f..., this run 9a...". Empty when the two belong to the same job.
std::vector<std::string> fingerprint_differences(const nlohmann::json& journal,
                                                 const nlohmann::json& now);

}  // namespace hs

// hybridserve run: push a JSONL dataset of prompts through a model and write one result per
// request.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "engine/reference.h"
#include "runner/commands.h"
#include "runner/dataset.h"
#include "util/error.h"

namespace hs {
namespace {

using json = nlohmann::json;

struct RunOptions {
  std::string model_dir, input, output;
  int64_t max_new_tokens = 32;
  std::string device = "cpu";
  int64_t batch_size = 16;
  SamplingParams sampling;
};

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

void run(const RunOptions& o) {
  validate(o.sampling);
  HS_CHECK(o.max_new_tokens >= 0, "--max-new-tokens must be >= 0");
  HS_CHECK(o.batch_size > 0, "--batch-size must be > 0");
  HS_CHECK(!ends_with(o.output, ".h5"),
           "HDF5 output (.h5) is not available in this build yet: use a .jsonl output");
  HS_CHECK(o.device == "cpu", "--device ", o.device, " is not available in this build yet");

  auto weights = open_model_dir(o.model_dir);
  const ModelConfig& cfg = weights->config();
  ReferenceGenerator gen(*weights);

  DatasetOptions dopt;
  dopt.model = &cfg;
  std::vector<DatasetEntry> entries = read_dataset(o.input, dopt);

  const std::string tmp = o.output + ".partial";
  std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
  HS_CHECK(out.good(), "cannot write output file '", tmp, "'");

  int64_t n_ok = 0, n_err = 0, n_tokens = 0;
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<GenRequest> batch;
  std::vector<const DatasetEntry*> batch_entries;
  auto write_error = [&](const DatasetEntry& e) {
    json r = {{"id", e.id ? json(*e.id) : json(nullptr)}, {"status", "error"}, {"error", e.error}};
    out << r.dump() << '\n';
    ++n_err;
  };
  auto flush = [&] {
    if (batch.empty()) return;
    std::vector<GenResult> res = gen.generate(batch, o.sampling);
    for (size_t i = 0; i < res.size(); ++i) {
      json r = {{"id", res[i].id},
                {"status", "ok"},
                {"output_ids", res[i].output},
                {"finish_reason", res[i].finish_reason}};
      out << r.dump() << '\n';
      n_tokens += static_cast<int64_t>(res[i].output.size());
      ++n_ok;
    }
    batch.clear();
    batch_entries.clear();
  };
  for (const DatasetEntry& e : entries) {
    if (!e.ok()) {
      flush();
      write_error(e);
      continue;
    }
    batch.push_back({*e.id, e.input_ids, e.max_new_tokens.value_or(o.max_new_tokens)});
    batch_entries.push_back(&e);
    if (static_cast<int64_t>(batch.size()) == o.batch_size) flush();
  }
  flush();
  out.close();
  HS_CHECK(out.good(), "error writing output file '", tmp, "'");
  std::filesystem::rename(tmp, o.output);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::fprintf(stderr, "hybridserve run: %lld ok, %lld failed, %lld tokens in %.2f s -> %s\n",
               static_cast<long long>(n_ok), static_cast<long long>(n_err),
               static_cast<long long>(n_tokens), s, o.output.c_str());
}

}  // namespace

void add_run_command(CLI::App& app) {
  auto o = std::make_shared<RunOptions>();
  CLI::App* cmd = app.add_subcommand(
      "run",
      "Generate continuations for every request of a JSONL dataset.\n"
      "Input lines: {\"id\": ..., \"input_ids\": [..]} with optional \"max_new_tokens\".\n"
      "Output: one JSON line per request, {\"id\", \"status\": \"ok\"|\"error\", "
      "\"output_ids\" | \"error\"}.");
  cmd->add_option("--model", o->model_dir,
                  "Hugging Face model directory (config.json + *.safetensors)")
      ->required();
  cmd->add_option("--input", o->input, "Input dataset, JSONL, one request per line")->required();
  cmd->add_option("--output", o->output, "Results file (.jsonl)")->required();
  cmd->add_option("--max-new-tokens", o->max_new_tokens,
                  "Tokens to generate per request unless its line says otherwise; generation "
                  "also stops at EOS and at the end of the model's context")
      ->capture_default_str();
  cmd->add_option("--device", o->device, "Compute device: cpu or cuda")
      ->check(CLI::IsMember({"cpu", "cuda"}))
      ->capture_default_str();
  cmd->add_option("--batch-size", o->batch_size, "Requests run together")->capture_default_str();
  cmd->add_option("--temperature", o->sampling.temperature,
                  "Sampling temperature; 0 (the default) is greedy decoding")
      ->capture_default_str();
  cmd->add_option("--top-k", o->sampling.top_k, "Keep only the K most likely tokens (0: all)")
      ->capture_default_str();
  cmd->add_option("--top-p", o->sampling.top_p,
                  "Keep the smallest set of tokens whose probability reaches P (1: all)")
      ->capture_default_str();
  cmd->add_option("--seed", o->sampling.seed,
                  "Seed of the sampling RNG; a request's tokens depend only on the seed, its id "
                  "and the step")
      ->capture_default_str();
  cmd->set_config("--config", "",
                  "Job config file (TOML, CLI11 format); the command line "
                  "overrides it");
  cmd->callback([o] { run(*o); });
}

}  // namespace hs

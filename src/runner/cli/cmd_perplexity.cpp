// hybridserve perplexity: how well a model predicts real text, through the same engine and plan
// options as run, so what a weight format (or any plan choice) costs in quality can be measured
// beside what it gains in speed. Each text's tokens are scored given the tokens before them
// (engine/score.h); perplexity = exp(mean negative log-likelihood) over every scored token.
// --score-by prefill scores each token by a prefill of its prefix; decode forces each text
// through decode steps, which read the caches back, so a cache format's cost shows.
#include <cmath>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "backend/backend.h"
#include "engine/factory.h"
#include "engine/score.h"
#include "model/tokenizer.h"
#include "runner/cli/commands.h"
#include "runner/cli/shared_options.h"
#include "util/error.h"

namespace hs {
namespace {

using json = nlohmann::json;

struct PerplexityOptions {
  std::string model;
  std::string input;
  std::string device = "cpu";
  std::string dtype = "fp16";
  int64_t rows = 20;
  int64_t max_tokens = 128;
  int64_t batch = 32;
  std::string score_by = "prefill";
  bool json = false;
  PlanArgs plan;
};

// The text of each of the first `rows` lines: a JSONL row's "text" or "prompt" string.
std::vector<std::string> read_texts(const std::string& path, int64_t rows) {
  std::ifstream in(path);
  HS_CHECK(in, "cannot open '", path, "'");
  std::vector<std::string> texts;
  std::string line;
  for (int64_t n = 1; static_cast<int64_t>(texts.size()) < rows && std::getline(in, line); ++n) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    json row;
    try {
      row = json::parse(line);
    } catch (const json::exception& e) {
      throw Error(cat(path, ":", n, ": not a JSON object: ", e.what()));
    }
    const char* key = row.is_object() && row.contains("text") ? "text" : "prompt";
    HS_CHECK(row.is_object() && row.contains(key) && row[key].is_string(), path, ":", n,
             ": a row needs a \"text\" or \"prompt\" string");
    texts.push_back(row[key].get<std::string>());
  }
  HS_CHECK(!texts.empty(), "'", path, "' has no rows to score");
  return texts;
}

void run_perplexity(const PerplexityOptions& o) {
  const std::vector<std::string> texts = read_texts(o.input, o.rows);
  HS_CHECK(Tokenizer::available(o.model), "scoring text needs the model's tokenizer, and '",
           o.model, "' has none (a .gguf file, or a directory with tokenizer.json)");
  const Tokenizer tokenizer = Tokenizer::from_model_dir(o.model);
  auto weights = open_model_dir(o.model);
  const ModelConfig& cfg = weights->config();
  std::vector<std::vector<int32_t>> ids;
  int64_t longest = 0;
  for (const std::string& t : texts) {
    std::vector<int32_t> v = tokenizer.encode(t, /*add_special_tokens=*/true);
    v.resize(static_cast<size_t>(std::min<int64_t>(static_cast<int64_t>(v.size()),
                                                   std::min(o.max_tokens, cfg.max_positions))));
    longest = std::max(longest, static_cast<int64_t>(v.size()));
    ids.push_back(std::move(v));
  }

  BackendOptions bo;
  bo.dtype = parse_dtype(o.dtype);
  bo.device_mem_gib = o.plan.gpu_mem_gib;
  auto backend = make_backend(o.device, bo);
  EngineOptions eo;
  apply_plan_args(o.plan, eo);
  const bool decode = o.score_by == "decode";
  eo.workload = decode ? Workload::uniform(o.batch, 1, std::max<int64_t>(1, longest - 1))
                       : Workload::uniform(o.batch, std::max<int64_t>(1, longest - 1), 1);
  const std::unique_ptr<Generator> g = make_generator(eo, *weights, *backend);

  double total = 0;
  int64_t scored = 0;
  json rows = json::array();
  std::vector<std::vector<double>> by_text;
  if (decode) by_text = token_nll_decode(*g, ids, o.batch);
  for (size_t i = 0; i < ids.size(); ++i) {
    const std::vector<double> nll = decode ? by_text[i] : token_nll(*g, ids[i], o.batch);
    double sum = 0;
    for (double x : nll) sum += x;
    total += sum;
    scored += static_cast<int64_t>(nll.size());
    const double mean = nll.empty() ? 0 : sum / static_cast<double>(nll.size());
    rows.push_back({{"row", i + 1}, {"tokens", nll.size()}, {"mean_nll", mean}});
    if (!o.json)
      std::fprintf(stderr, "row %zu: %zu tokens scored, perplexity %.3f\n", i + 1, nll.size(),
                   std::exp(mean));
  }
  HS_CHECK(scored > 0, "no text had two or more tokens to score");
  const double mean = total / static_cast<double>(scored);
  const Plan* plan = plan_of(*g);
  const std::string format = plan ? weight_format_name(plan->weight_format) : std::string("native");
  const std::string cache = plan ? cache_format_name(plan->cache_format) : std::string("native");
  if (o.json) {
    json out = {{"model", o.model},      {"input", o.input},
                {"device", o.device},    {"weight_format", format},
                {"cache_format", cache}, {"score_by", o.score_by},
                {"texts", ids.size()},   {"tokens_scored", scored},
                {"mean_nll", mean},      {"perplexity", std::exp(mean)},
                {"rows", rows}};
    if (plan) {
      out["resident_weight_layers"] = plan->gpu_weight_layers;
      out["resident_cache_layers"] = plan->gpu_cache_layers;
      out["policy"] = policy_name(plan->policy);
    }
    std::printf("%s\n", out.dump().c_str());
  } else {
    std::printf(
        "perplexity %.4f over %lld tokens of %zu texts (mean NLL %.5f nats, scored by %s; "
        "weights %s, %lld of %lld layers' weights GPU-resident; caches %s, %lld layers' "
        "GPU-resident)\n",
        std::exp(mean), static_cast<long long>(scored), ids.size(), mean, o.score_by.c_str(),
        format.c_str(), static_cast<long long>(plan ? plan->gpu_weight_layers : cfg.n_layers),
        static_cast<long long>(cfg.n_layers), cache.c_str(),
        static_cast<long long>(plan ? plan->gpu_cache_layers : cfg.n_layers));
  }
}

}  // namespace

void add_perplexity_command(CLI::App& app) {
  auto opts = std::make_shared<PerplexityOptions>();
  CLI::App* cmd = app.add_subcommand(
      "perplexity",
      "Score real text with a model: each token's negative log-likelihood given the tokens "
      "before it, and the perplexity exp(mean) over all of them, through the same engine and "
      "plan options as run (e.g. --weight-format, to see what a compressed format costs). By "
      "default each token is scored by a prefill of its prefix, so a text of n tokens costs "
      "about n^2 / 2 tokens of prefill: meant for short texts; --score-by decode runs each "
      "text through decode steps instead (n steps, the caches read back every step: how to "
      "see what --cache-format costs).");
  add_model_option(*cmd, opts->model)->required();
  cmd->add_option("--input", opts->input,
                  "JSONL file whose rows' \"text\" (or \"prompt\") strings are scored, e.g. "
                  "datasets/python-docstrings.jsonl")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--rows", opts->rows, "Score the first N rows")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--max-tokens", opts->max_tokens,
                  "Score at most the first N tokens of each text (BOS included)")
      ->check(CLI::Range(int64_t{2}, int64_t{1} << 20))
      ->capture_default_str();
  cmd->add_option(
         "--batch", opts->batch,
         "Prefixes (--score-by prefill) or texts (decode) run together in one generate call")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--score-by", opts->score_by,
                  "prefill: token k scored by a prefill of tokens [0, k) (the caches are written, "
                  "never read); decode: a text is one request, its prompt the first token and "
                  "its generation forced to the rest, token k scored by decode step k - 1, "
                  "which reads every earlier token's cache")
      ->check(CLI::IsMember({"prefill", "decode"}))
      ->capture_default_str();
  add_device_option(*cmd, opts->device);
  add_dtype_option(*cmd, opts->dtype);
  add_plan_options(*cmd, opts->plan);
  add_plan_fixing_options(*cmd, opts->plan);
  add_json_flag(*cmd, opts->json);
  cmd->callback([opts] { run_perplexity(*opts); });
}

}  // namespace hs

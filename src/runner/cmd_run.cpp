// hybridserve run: push a JSONL dataset of prompts through a model and write one result per
// request.
#include <memory>
#include <string>
#include <vector>

#include "engine/reference.h"
#include "runner/commands.h"
#include "runner/job.h"
#include "util/error.h"

namespace hs {
namespace {

struct RunOptions {
  std::string model_dir, input, output;
  int64_t max_new_tokens = 32;
  std::string device = "cpu";
  int64_t batch_size = 16;
  SamplingParams sampling;
  std::vector<std::string> stop;
  bool resume = false, overwrite = false, retry_failed = false;
  double checkpoint_s = 600, progress_s = 30;
};

void run(const RunOptions& o, const std::string& config_toml) {
  HS_CHECK(o.device == "cpu", "--device ", o.device, " is not available in this build yet");

  JobOptions job;
  job.model_dir = o.model_dir;
  job.input = o.input;
  job.output = o.output;
  job.max_new_tokens = o.max_new_tokens;
  job.batch_size = o.batch_size;
  job.sampling = o.sampling;
  job.stop = o.stop;
  job.resume = o.resume;
  job.overwrite = o.overwrite;
  job.retry_failed = o.retry_failed;
  job.checkpoint_s = o.checkpoint_s;
  job.progress_s = o.progress_s;
  job.config_toml = config_toml;

  // One engine per rank, built on the thread that runs it; device_index is the rank's GPU.
  EngineFactory make_engine = [o](int device_index) {
    (void)device_index;
    RankEngine e;
    auto weights = open_model_dir(o.model_dir);
    e.generator = std::make_unique<ReferenceGenerator>(*weights);
    e.device_name = "cpu (reference engine)";
    return e;
  };
  run_job(job, make_engine);
}

}  // namespace

void add_run_command(CLI::App& app) {
  auto o = std::make_shared<RunOptions>();
  CLI::App* cmd = app.add_subcommand(
      "run",
      "Generate continuations for every request of a JSONL dataset, as one batch job.\n"
      "Input lines: {\"id\": ..., \"input_ids\": [..]} or {\"id\": ..., \"prompt\": \"text\"}, "
      "with optional \"max_new_tokens\".\n"
      "Output: .jsonl (one JSON line per request) or .h5 (HDF5: /requests, /trace, /meta; see "
      "docs/OUTPUT.md), in input order. Under mpirun / srun --mpi=pmix every rank runs an "
      "engine on its own GPU and rank 0 hands out work units. Finished requests go to OUT.journal "
      "as they finish, so a killed job loses nothing: run the same command with --resume.");
  cmd->add_option("--model", o->model_dir,
                  "Hugging Face model directory (config.json + *.safetensors)")
      ->required();
  cmd->add_option("--input", o->input, "Input dataset, JSONL, one request per line")->required();
  cmd->add_option("--output", o->output,
                  "Results file: .jsonl or .h5/.hdf5; OUT.journal and OUT.trace are kept beside it")
      ->required();
  cmd->add_flag("--resume", o->resume,
                "Continue the job whose journal is beside --output (same command): finished "
                "requests are kept, the rest computed. Without a journal: start the job");
  cmd->add_flag("--overwrite", o->overwrite,
                "Discard an existing --output and its journal and start again (without this or "
                "--resume an existing output is refused)");
  cmd->add_flag("--retry-failed", o->retry_failed,
                "With --resume: compute again the requests whose generation failed");
  cmd->add_option("--stop", o->stop,
                  "End a request when its decoded text contains this string (repeatable; needs "
                  "the model's tokenizer.json)");
  cmd->add_option("--checkpoint-s", o->checkpoint_s,
                  "Rewrite the results file from the journal at most this often while running "
                  "(seconds; it is always written at the end)")
      ->capture_default_str();
  cmd->add_option("--progress-s", o->progress_s,
                  "Seconds between progress lines when stderr is not a terminal (Slurm logs)")
      ->capture_default_str();
  cmd->add_option("--max-new-tokens", o->max_new_tokens,
                  "Tokens to generate per request unless its line says otherwise; generation "
                  "also stops at EOS and at the end of the model's context")
      ->capture_default_str();
  cmd->add_option("--device", o->device, "Compute device: cpu or cuda")
      ->check(CLI::IsMember({"cpu", "cuda"}))
      ->capture_default_str();
  cmd->add_option("--batch-size", o->batch_size,
                  "Requests run together: a rank's engine batch, and the work unit rank 0 hands "
                  "out")
      ->capture_default_str();
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
  cmd->callback([o, cmd] { run(*o, cmd->config_to_str(/*default_also=*/true, true)); });
}

}  // namespace hs

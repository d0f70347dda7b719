// hybridserve run: push a JSONL dataset of prompts through a model and write one result per
// request.
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "engine/engine.h"
#include "engine/factory.h"
#include "plan/batch_choice.h"
#include "plan/plan_json.h"
#include "runner/cli/commands.h"
#include "runner/cli/job_config.h"
#include "runner/cli/shared_options.h"
#include "runner/job/job.h"
#include "util/error.h"

namespace hs {
namespace {

struct RunOptions {
  std::string model_dir, input, output;
  int64_t max_new_tokens = 32;
  std::string device = "cpu";
  std::string batch_size = "auto";  // or a number
  SamplingParams sampling;
  std::vector<std::string> stop;
  bool resume = false, overwrite = false, retry_failed = false;
  double checkpoint_s = 600, progress_s = 30;
  std::string on_checkpoint;
  std::string system;
  bool no_trace = false;
  // The engine (src/engine/engine.h): its plan and memory.
  std::string engine = "hybrid";
  PlanArgs plan;
  int64_t max_prompt_tokens = 0;
  std::string share_weights = "node";
  ExchangeArgs exchange;
};

void run(const RunOptions& o, const std::string& config_toml) {
  if (o.exchange.mode == "nccl") {
    const std::string why = device_exchange_unavailable(o.device);
    HS_CHECK(why.empty(), "--weight-exchange nccl: ", why,
             o.device == "cpu" ? " (--weight-exchange host runs the same split and lockstep on "
                                 "the cpu backend)"
                               : "");
  }
  HS_CHECK(o.exchange.mode != "host" || o.device == "cpu",
           "--weight-exchange host all-gathers the weights through host memory, which is the "
           "cpu backend's device memory: it runs with --device cpu");
  JobOptions job;
  job.model_dir = o.model_dir;
  job.input = o.input;
  job.output = o.output;
  job.max_new_tokens = o.max_new_tokens;
  job.batch_size = parse_batch(o.batch_size, "--batch-size", /*allow_auto=*/true);
  job.sampling = o.sampling;
  job.stop = o.stop;
  job.resume = o.resume;
  job.overwrite = o.overwrite;
  job.retry_failed = o.retry_failed;
  job.checkpoint_s = o.checkpoint_s;
  job.on_checkpoint = o.on_checkpoint;
  job.system = o.system;
  job.weight_format = o.plan.weight_format;
  job.weight_group = o.plan.weight_group;
  job.cache_format = o.plan.cache_format;
  job.cache_group = o.plan.cache_group;
  job.progress_s = o.progress_s;
  job.trace = !o.no_trace;
  job.config_toml = config_toml;
  // --weight-exchange against the node's ranks, on every rank before any file is opened.
  job.check_place = [o](const RankPlace& place) {
    const int ranks = place.node ? place.node->size() : 1;
    check_weight_exchange(o.exchange, ranks, o.share_weights == "node" && ranks > 1,
                          /*run=*/true);
  };

  // One engine per rank, built on the thread that runs it; device_index is the rank's GPU and
  // shape the longest prompt and generation in the dataset (what the plan must hold).
  auto summary = std::make_shared<TraceSummary>();  // this rank's engine, over the whole job
  const int64_t fixed_batch = job.batch_size;
  EngineFactory make_engine = [o, summary, fixed_batch](const RankPlace& place,
                                                        const JobShape& shape) {
    RankEngine e;
    const bool share = o.share_weights == "node" && place.node && place.node->size() > 1;
    HS_CHECK(!share || place.collectives_ok,
             "the ranks of a node share the weights through MPI collectives on the engine's "
             "thread, which needs MPI_THREAD_MULTIPLE, and this MPI library does not give it: "
             "run with --share-weights none (one copy of the weights per rank)");
    // Every rank of the node takes part in the collective steps that follow, so a rank that
    // cannot open the model or its device says so to the others instead of leaving them waiting.
    std::unique_ptr<WeightSource> weights;
    std::unique_ptr<Backend> backend;
    LoneGroup alone;
    together(share ? *place.node : alone, "opening the model and its device", [&] {
      weights = open_model_dir(o.model_dir);
      BackendOptions bo;
      bo.device_index = place.device_index;
      bo.device_mem_gib = o.plan.gpu_mem_gib;
      backend = make_backend(o.device, bo);
    });
    EngineOptions eo;
    eo.engine = o.engine;
    apply_plan_args(o.plan, eo);
    // The budget is the node's: by default 80% of the machine's memory, shared by its ranks.
    if (eo.host_mem_gib <= 0)
      eo.host_mem_gib = double(default_host_mem_bytes()) * place.machine_share / kBytesPerGib;
    eo.node = place.node;
    eo.share_weights = share;
    if (o.exchange.mode != "none") {  // checked against the node by job.check_place
      eo.exchange_ranks = place.node->size();
      eo.constants.exchange_gbps = exchange_gbps(o.exchange);
    }
    const int64_t prompt = o.max_prompt_tokens > 0 ? o.max_prompt_tokens : shape.max_prompt_tokens;
    const int64_t gen = shape.max_new_tokens > 0 ? shape.max_new_tokens : o.max_new_tokens;
    if (fixed_batch > 0) {
      e.batch = fixed_batch;
      e.batch_why = cat("batch ", e.batch, " (--batch-size)");
    } else if (eo.engine != "hybrid") {
      e.batch = 16;
      e.batch_why = cat("batch 16 (the ", eo.engine, " engine has no planner to choose one)");
    } else {
      // The planner's prediction at each batch, for this rank's budgets and the dataset's
      // longest request (plan/batch_choice.h).
      const auto t0 = std::chrono::steady_clock::now();
      const BatchChoice c =
          choose_batch(shape.max_batch > 0 ? shape.max_batch : kMaxAutoBatch, [&](int64_t b) {
            EngineOptions at = eo;
            at.workload = run_workload(weights->config(), b, prompt, gen);
            return plan_run(weights->config(), at, *backend);
          });
      e.batch = c.batch;
      const double planning_s =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      char took[32];
      std::snprintf(took, sizeof took, "%.1f", planning_s);
      e.batch_why = c.why + " (--batch-size auto, " + took + " s of planning)";
    }
    eo.workload = run_workload(weights->config(), e.batch, prompt, gen);
    e.device_name = backend->device_name();
    e.generator = make_generator(eo, *weights, std::move(backend));
    if (const Plan* p = plan_of(*e.generator)) e.plan_json = plan_to_json(*p).dump();
    e.load_s = load_s_of(*e.generator);
    e.join_step = lockstep_of(*e.generator);
    Generator* g = e.generator.get();
    e.take_trace = [g, summary] {
      std::vector<TraceEvent> t = take_trace(*g);
      accumulate(*summary, t);
      return t;
    };
    return e;
  };
  run_job(job, make_engine);
  const std::string table = format_summary(*summary);
  if (table.find('\n') + 1 < table.size())  // more than the header: the engine kept a trace
    std::fprintf(stderr, "hybridserve run: time by phase (this rank)\n%s", table.c_str());
}

}  // namespace

void add_run_command(CLI::App& app, std::function<void(const std::string&)> instead) {
  auto o = std::make_shared<RunOptions>();
  CLI::App* cmd = app.add_subcommand(
      "run",
      "Generate continuations for every request of a JSONL dataset, as one batch job.\n"
      "Input lines: {\"id\": ..., \"input_ids\": [..]} or {\"id\": ..., \"prompt\": \"text\"}, "
      "with optional \"max_new_tokens\"; or OpenAI batch lines ({\"custom_id\": ..., \"url\": "
      "\"/v1/completions\", \"body\": {\"prompt\": ..., \"max_tokens\": ...}}), answered in the "
      "batch output format in a .jsonl output.\n"
      "Output: .jsonl (one JSON line per request) or .h5 (HDF5: /requests, /trace, /meta; see "
      "docs/OUTPUT.md), in input order. Under mpirun / srun --mpi=pmix every rank runs an "
      "engine on its own GPU and rank 0 hands out work units. Finished requests go to OUT.journal "
      "as they finish, so a killed job loses nothing: run the same command with --resume.\n"
      "--config JOB.toml: options from a job config file (keys are option names without "
      "dashes: model = \"...\", max-new-tokens = 64); the command line overrides it.");
  add_model_option(*cmd, o->model_dir)->required();
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
                  "Add the rows finished since the last checkpoint to the results file at most "
                  "this often (seconds; earlier rows are not rewritten; always at the end)")
      ->capture_default_str();
  cmd->add_flag("--no-trace", o->no_trace,
                "Keep no engine trace (OUT.trace, /trace): for long jobs on large models, whose "
                "trace grows by GBs");
  cmd->add_option("--system", o->system,
                  "System message of \"messages\" rows that have none (default: the chat "
                  "template's own, e.g. SmolLM2's)");
  cmd->add_option("--on-checkpoint", o->on_checkpoint,
                  "Shell command run by rank 0 after each checkpoint, when the results file is "
                  "complete and closed (e.g. to copy it off the node); it sees "
                  "HYBRIDSERVE_OUTPUT (the file) and HYBRIDSERVE_ROWS_DONE; new units wait while "
                  "it runs; a failure is logged and the job goes on");
  cmd->add_option("--progress-s", o->progress_s,
                  "Seconds between progress lines when stderr is not a terminal (Slurm logs)")
      ->capture_default_str();
  cmd->add_option("--max-new-tokens", o->max_new_tokens,
                  "Tokens to generate per request unless its line says otherwise; generation "
                  "also stops at EOS and at the end of the model's context")
      ->capture_default_str();
  add_device_option(*cmd, o->device);
  cmd->add_option("--batch-size", o->batch_size,
                  "Requests run together: a rank's engine batch, and the work unit rank 0 hands "
                  "out. auto: each rank's planner picks the batch with the best predicted "
                  "throughput that fits its GPU and host budgets for the dataset's longest "
                  "prompt and generation (the smallest within 1% of the best; never more than "
                  "the job's requests per rank); the log and /meta hardware say what it chose "
                  "and why. `plan --batch auto` shows the same choice")
      ->check([](const std::string& v) {
        try {
          parse_batch(v, "--batch-size", /*allow_auto=*/true);
        } catch (const Error& e) {
          return std::string(e.what());
        }
        return std::string();
      })
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
  add_plan_options(*cmd, o->plan);
  add_share_weights_option(*cmd, o->share_weights);
  add_weight_exchange_options(*cmd, o->exchange, /*run=*/true);
  cmd->add_option("--max-prompt-tokens", o->max_prompt_tokens,
                  "Longest prompt to plan memory for (default: the dataset's longest); longer "
                  "ones run in smaller groups");
  cmd->add_option("--engine", o->engine, "hybrid, or reference (the fp32 oracle, cpu)")
      ->check(CLI::IsMember({"hybrid", "reference"}))
      ->group("")  // advanced: for checking the engine against its oracle
      ->capture_default_str();
  add_job_config_option(app, *cmd);
  cmd->callback([o, cmd, instead] {
    const std::string config = cmd->config_to_str(/*default_also=*/true, true);
    instead ? instead(config) : run(*o, config);
  });
}

}  // namespace hs

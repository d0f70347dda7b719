// hybridserve plan: what a run of a model on a workload would do and how fast it would go, from
// the model's shape alone (config.json or a named shape; no weights are read). Prints the
// planner's choice (policy, activation share, mini-batches, resident layers), the memory it
// needs and the cost model's prediction, as a table or one JSON object.
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "backend/backend.h"
#include "model/config.h"
#include "model/shapes.h"
#include "plan/batch_choice.h"
#include "plan/constants_json.h"
#include "plan/cost_model.h"
#include "plan/footprint.h"
#include "plan/plan_json.h"
#include "plan/planner.h"
#include "plan/profile.h"
#include "runner/cli/commands.h"
#include "runner/cli/shared_options.h"
#include "util/error.h"

namespace hs {
namespace {

using json = nlohmann::json;

struct PlanCommandOptions {
  std::string model_dir, model_shape;
  WorkloadArgs workload;
  int64_t batch = 0;  // --batch as a number (auto: the batch chosen)
  PlanArgs plan;
  std::optional<double> h2d_gbps, d2h_gbps, gemm_tflops, mem_gbps;
  std::string dtype = "fp16";
  bool json = false;
  bool measure = false;
  std::string device = "cuda";
  int64_t ranks_per_node = 1;
  std::string share_weights = "node";
  ExchangeArgs exchange;
  std::string constants_file;
};

// The default host budget: 80% of this machine's physical memory, the rest left to the OS and
// the process itself (the pool is pinned on CUDA: it cannot be swapped out to make room). The
// engine takes the same default, so `plan` and `run` choose the same plan.
double default_host_mem_gib() {
  const long pages = sysconf(_SC_PHYS_PAGES), page_bytes = sysconf(_SC_PAGE_SIZE);
  if (pages <= 0 || page_bytes <= 0) return 256;
  return 0.8 * static_cast<double>(pages) * static_cast<double>(page_bytes) / kBytesPerGib;
}

std::string fmt(const char* f, double x) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, x);
  return buf;
}

void print_table(const std::string& model_name, const ModelConfig& c, const Plan& p,
                 const Footprint& fp, const PlanOptions& po, const std::string& constants_source,
                 const PlanCommandOptions& o) {
  auto row = [](const std::string& k, const std::string& v) {
    std::printf("  %-22s %s\n", k.c_str(), v.c_str());
  };
  const double W = static_cast<double>(layer_weight_bytes(c, p.dtype));
  std::printf("hybridserve plan: %s\n", model_name.c_str());
  row("model", cat(c.model_type, ", ", c.n_layers, " layers, hidden ", c.hidden, ", ", c.n_heads,
                   " heads / ", c.n_kv_heads, " K/V heads, ffn ", c.ffn_dim, ", vocab ",
                   c.vocab_size, ", ", dtype_name(p.dtype)));
  row("workload", cat(o.batch, " requests, prompt ", o.workload.prompt_len, " + gen ",
                      o.workload.gen_len, " tokens, blocks of ", p.block_tokens, " tokens"));
  row("constants",
      cat(fmt("H2D %.1f GB/s, ", p.constants.h2d_gbps),
          fmt("D2H %.1f GB/s, ", p.constants.d2h_gbps),
          fmt("GEMM %.1f TFLOP/s, ", p.constants.gemm_tflops),
          fmt("memory %.0f GB/s", p.constants.mem_gbps),
          p.constants.expand_gbps > 0 ? fmt(", expansion %.0f GB/s", p.constants.expand_gbps)
                                      : std::string(),
          p.constants.sustained_slowdown > 1
              ? fmt(", GEMMs %.2fx slower sustained", p.constants.sustained_slowdown)
              : std::string(),
          " (", constants_source, ")"));
  row("budgets", cat(fmt("GPU %.1f GiB a rank, ", po.gpu_mem_gib),
                     fmt("host %.1f GiB a node", po.host_mem_gib)));
  std::printf("\n");
  row("policy", cat(policy_name(p.policy), " (requested ", policy_name(p.requested), ")"));
  row("act fraction", fmt("%.4f of cache blocks", p.act_fraction));
  row("bytes per token/layer",
      cat("K/V ", p.kv_bytes_per_token, ", activation ", p.act_bytes_per_token,
          p.cache_format == CacheFormat::native
              ? std::string()
              : cat(" in the host cache, as ", cache_format_name(p.cache_format), " (groups of ",
                    p.cache_group, "; ", kv_bytes_per_token(c, p.dtype), " and ",
                    act_bytes_per_token(c, p.dtype), " on the GPU)")));
  row("layer weights",
      p.weight_format == WeightFormat::native
          ? fmt("%.1f MiB", W / (1 << 20))
          : cat(fmt("%.1f MiB", W / (1 << 20)), " on the GPU; streamed as ",
                weight_format_name(p.weight_format),
                p.weight_format == WeightFormat::int4 ? cat(" (groups of ", p.quant_group, ")")
                                                      : std::string(),
                fmt(": %.1f MiB", double(streamed_layer_bytes(c, p)) / (1 << 20)),
                fmt(" (%.3f of it)", double(streamed_layer_bytes(c, p)) / W)));
  row("mini-batches", cat(p.num_mini_batches, " of up to ", p.mini_batch_size, " requests"));
  row("working sets", cat(p.host_sets, " for host-cache loads in flight"));
  if (p.exchange_ranks > 1)
    row("weight exchange",
        cat(p.exchange_ranks, " ranks: each copies ",
            fmt("%.1f MiB", double(streamed_layer_share_bytes(c, p)) / (1 << 20)),
            " of a streamed layer over PCIe and all-gathers ",
            fmt("%.1f MiB",
                double(streamed_layer_bytes(c, p) - streamed_layer_share_bytes(c, p)) / (1 << 20)),
            fmt(" from its peers at %.0f GB/s", p.constants.exchange_gbps)));
  row("GPU-resident",
      cat(p.gpu_weight_layers, " / ", c.n_layers, " layers' weights",
          p.gpu_stored_weight_layers > 0 ? cat(" (and ", p.gpu_stored_weight_layers, " held as ",
                                               weight_format_name(p.weight_format), ")")
                                         : std::string(),
          ", ", p.gpu_cache_layers, " / ", c.n_layers, " layers' caches"));
  const NodeLayout& n = p.node;
  const int64_t rank_weights = fp.host_weight_bytes - fp.shared_weight_bytes;
  row("host pool, a rank", cat(fmt("%.2f GiB", to_gib(fp.host_pool_bytes)), " (",
                               rank_weights > 0 ? fmt("weights %.2f, ", to_gib(rank_weights)) : "",
                               "caches ", fmt("%.2f", to_gib(fp.host_cache_bytes)), ", staging ",
                               fmt("%.3f", to_gib(fp.host_staging_bytes)), ")"));
  if (n.device_in_host)
    row("device pool, a rank",
        cat(fmt("%.2f GiB", to_gib(fp.device_bytes)), " (host memory on the cpu backend)"));
  row("shared weights", n.shared_weights
                            ? cat(fmt("%.2f GiB", to_gib(fp.shared_weight_bytes)),
                                  " once for the node's ", n.ranks, " ranks")
                            : std::string(n.ranks > 1 ? "none: every rank holds its own copy"
                                                      : "none: one rank holds the only copy"));
  row("host, the node",
      cat(fmt("%.2f GiB", to_gib(fp.node_host_bytes)), " = ",
          n.shared_weights ? fmt("%.2f + ", to_gib(fp.shared_weight_bytes)) : "", n.ranks, " x ",
          fmt("%.2f", to_gib(fp.host_pool_bytes + (n.device_in_host ? fp.device_bytes : 0))),
          fmt(" GiB (budget %.1f GiB)", po.host_mem_gib)));
  row("GPU memory, a rank",
      cat(fmt("%.2f GiB", to_gib(fp.device_bytes)), " (model-wide weights ",
          fmt("%.2f", to_gib(fp.device_global_weight_bytes)), ", layer weights ",
          fmt("%.2f", to_gib(fp.device_layer_weight_bytes)), ", caches ",
          fmt("%.2f", to_gib(fp.device_cache_bytes)), ", working set ",
          fmt("%.2f", to_gib(fp.working_set_bytes)), ")"));
  std::printf("\n  predicted (average decode step)\n");
  row("PCIe", fmt("%.2f ms", p.predicted_pcie_ms));
  row("GPU", fmt("%.2f ms", p.predicted_gpu_ms));
  row("step", fmt("%.2f ms", p.predicted_step_ms));
  row("prefill", fmt("%.1f ms", p.predicted_prefill_ms));
  row("throughput", fmt("%.1f generated tokens/s", p.predicted_tokens_per_s));
  std::printf("\n  %s\n", p.explanation.c_str());
}

// The plan (plan/plan_json.h) with what this command adds: the model, the workload, the memory
// breakdown of its footprint and the budgets it was planned for.
json to_json(const std::string& model_name, const ModelConfig& c, const Plan& p,
             const Footprint& fp, const PlanOptions& po, const std::string& constants_source,
             const PlanCommandOptions& o) {
  json j = plan_to_json(p);
  j["constants"]["source"] = constants_source;
  j["model"] = model_name;
  j["model_type"] = c.model_type;
  j["workload"] = {
      {"batch", o.batch}, {"prompt_len", o.workload.prompt_len}, {"gen_len", o.workload.gen_len}};
  j["layer_weight_bytes"] = layer_weight_bytes(c, p.dtype);
  j["streamed_layer_bytes"] = streamed_layer_bytes(c, p);
  j["streamed_layer_share_bytes"] = streamed_layer_share_bytes(c, p);
  j["host_pool"] = {{"weight_bytes", fp.host_weight_bytes},
                    {"cache_bytes", fp.host_cache_bytes},
                    {"staging_bytes", fp.host_staging_bytes}};
  j["device"] = {{"global_weight_bytes", fp.device_global_weight_bytes},
                 {"layer_weight_bytes", fp.device_layer_weight_bytes},
                 {"cache_bytes", fp.device_cache_bytes},
                 {"working_set_bytes", fp.working_set_bytes}};
  j["budgets"] = {{"gpu_mem_gib", po.gpu_mem_gib}, {"host_mem_gib", po.host_mem_gib}};
  return j;
}

// The candidates of --batch auto, as a table.
void print_batch_choice(const BatchChoice& b) {
  std::printf("\n  --batch auto: %s\n", b.why.c_str());
  std::printf("    %8s  %14s\n", "batch", "tokens/s");
  for (const BatchCandidate& k : b.candidates)
    std::printf("    %8lld  %14s%s\n", static_cast<long long>(k.batch),
                k.fits ? fmt("%.1f", k.tokens_per_s).c_str() : "does not fit",
                k.batch == b.batch ? "  <- chosen" : "");
}

json batch_choice_json(const BatchChoice& b) {
  json candidates = json::array();
  for (const BatchCandidate& k : b.candidates) {
    json j = {{"batch", k.batch}, {"fits", k.fits}};
    if (k.fits)
      j["tokens_per_s"] = k.tokens_per_s;
    else
      j["why_not"] = k.why_not;
    candidates.push_back(j);
  }
  return {{"batch", b.batch},
          {"tokens_per_s", b.tokens_per_s},
          {"why", b.why},
          {"candidates", candidates}};
}

void plan_command(const PlanCommandOptions& options) {
  PlanCommandOptions o = options;
  o.batch = parse_batch(o.workload.batch, "--batch", /*allow_auto=*/true);
  const bool auto_batch = o.batch == 0;
  HS_CHECK(o.model_dir.empty() != o.model_shape.empty(),
           "give exactly one of --model DIR and --model-shape NAME");
  const ModelConfig c =
      o.model_dir.empty() ? model_shape(o.model_shape) : load_model_config(o.model_dir);
  const std::string model_name = o.model_dir.empty() ? o.model_shape : o.model_dir;
  HS_CHECK(o.workload.prompt_len >= 1, "--prompt-len must be at least 1, got ",
           o.workload.prompt_len);
  HS_CHECK(o.workload.gen_len >= 1, "--gen-len must be at least 1, got ", o.workload.gen_len);

  PlanOptions po;
  po.policy = parse_policy(o.plan.policy);
  po.act_fraction = o.plan.act_fraction;
  // The cpu backend computes in fp32 whatever --dtype says, and its device memory is host
  // memory: a plan for it counts both as the run will.
  const bool cpu = o.device == "cpu";
  po.dtype = cpu ? DType::f32 : parse_dtype(o.dtype);
  HS_CHECK(cpu || po.dtype == DType::f16 || po.dtype == DType::bf16,
           "--dtype must be fp16 or bf16, got ", o.dtype);
  po.node.ranks = o.ranks_per_node;
  po.node.shared_weights = o.share_weights == "node" && o.ranks_per_node > 1;
  check_weight_exchange(o.exchange, o.ranks_per_node, po.node.shared_weights, /*run=*/false);
  if (o.exchange.mode != "none") po.exchange_ranks = o.ranks_per_node;
  po.node.device_in_host = cpu;
  po.block_tokens = o.plan.block_tokens;
  po.mini_batch_size = o.plan.mini_batch_size;
  po.host_sets = o.plan.host_sets;
  po.max_gpu_cache_layers = o.plan.max_gpu_cache_layers;
  po.weight_format_auto = o.plan.weight_format == "auto-lossy";
  po.weight_format =
      po.weight_format_auto ? WeightFormat::native : parse_weight_format(o.plan.weight_format);
  po.quant_group = o.plan.weight_group;
  po.cache_format_auto = o.plan.cache_format == "auto-lossy";
  po.cache_format =
      po.cache_format_auto ? CacheFormat::native : parse_cache_format(o.plan.cache_format);
  po.cache_group = o.plan.cache_group;
  po.gpu_mem_gib = 24;
  po.host_mem_gib = o.plan.host_mem_gib > 0 ? o.plan.host_mem_gib : default_host_mem_gib();

  std::string source = "defaults";
  if (o.measure) {
    BackendOptions bo;
    bo.dtype = po.dtype;
    std::unique_ptr<Backend> b = make_backend(o.device, bo);
    po.constants = measure_constants(*b);
    measure_model_costs(*b, c, po.constants);
    po.gpu_mem_gib = static_cast<double>(b->device_capacity_bytes()) / kBytesPerGib;
    source = "measured on " + b->device_name();
  }
  if (!o.constants_file.empty()) {
    po.constants = constants_from_json_file(o.constants_file);
    source = o.constants_file;
  }
  const bool given = o.h2d_gbps || o.d2h_gbps || o.gemm_tflops || o.mem_gbps;
  if (o.h2d_gbps) po.constants.h2d_gbps = *o.h2d_gbps;
  if (o.d2h_gbps) po.constants.d2h_gbps = *o.d2h_gbps;
  if (o.gemm_tflops) po.constants.gemm_tflops = *o.gemm_tflops;
  if (o.mem_gbps) po.constants.mem_gbps = *o.mem_gbps;
  if (given)
    source = o.measure || !o.constants_file.empty() ? source + ", partly from the command line"
                                                    : "command line";
  if (o.plan.gpu_mem_gib > 0) po.gpu_mem_gib = o.plan.gpu_mem_gib;
  // The exchange's rate: --exchange-gbps, else a constants file's, else the mode's default.
  if (po.exchange_ranks > 1 && (o.exchange.gbps || po.constants.exchange_gbps <= 0))
    po.constants.exchange_gbps = exchange_gbps(o.exchange);

  std::optional<BatchChoice> choice;
  if (auto_batch) {
    choice = choose_batch(kMaxAutoBatch, [&](int64_t b) {
      return make_plan(c, Workload::uniform(b, o.workload.prompt_len, o.workload.gen_len), po);
    });
    o.batch = choice->batch;
  }
  const Workload w = Workload::uniform(o.batch, o.workload.prompt_len, o.workload.gen_len);
  const Plan p = make_plan(c, w, po);
  const Footprint fp = plan_footprint(c, p, w);
  if (o.json) {
    json j = to_json(model_name, c, p, fp, po, source, o);
    if (choice) j["batch_choice"] = batch_choice_json(*choice);
    std::printf("%s\n", j.dump(2).c_str());
  } else {
    print_table(model_name, c, p, fp, po, source, o);
    if (choice) print_batch_choice(*choice);
  }
}

}  // namespace

void add_plan_command(CLI::App& app) {
  auto o = std::make_shared<PlanCommandOptions>();
  CLI::App* cmd = app.add_subcommand(
      "plan",
      "Plan a run without running it: the cache policy and activation share, mini-batches,\n"
      "GPU-resident layers, host and GPU memory needed, and the predicted PCIe time, GPU time\n"
      "and throughput of a decode step (docs/PLANNER.md explains the cost model). Reads only\n"
      "the model's config.json, or a named shape; makes no measurement unless --measure.");
  auto* model = add_model_option(*cmd, o->model_dir);
  auto* shape = add_model_shape_option(*cmd, o->model_shape);
  model->excludes(shape);
  shape->excludes(model);
  add_workload_options(*cmd, o->workload, /*batch_auto=*/true);
  add_plan_options(*cmd, o->plan);
  add_plan_fixing_options(*cmd, o->plan);
  add_dtype_option(*cmd, o->dtype);
  cmd->add_option("--h2d-gbps", o->h2d_gbps,
                  "Host-to-device bandwidth, pinned, GB/s (default 25: PCIe 4.0 x16 as measured "
                  "on an RTX 4090, the paper's GPU)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--d2h-gbps", o->d2h_gbps, "Device-to-host bandwidth, pinned, GB/s (default 25)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--gemm-tflops", o->gemm_tflops,
                  "Dense fp16/bf16 GEMM rate, TFLOP/s (default 150: an RTX 4090)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--mem-gbps", o->mem_gbps,
                  "Device memory bandwidth, GB/s (default 2000); attention reads K/V at it")
      ->check(CLI::PositiveNumber);
  auto* measure =
      cmd->add_flag("--measure", o->measure,
                    "Measure the constants on --device (copies, a GEMM, a device copy: about a "
                    "second) instead of using the defaults; options given explicitly still win");
  auto* constants =
      cmd->add_option("--constants", o->constants_file,
                      "Read the constants from a JSON file instead of the defaults: the "
                      "\"constants\" object of `hybridserve bench --json` (or of `plan --json`), "
                      "measured on the GPU the plan is for, GEMM curves included; options given "
                      "explicitly still win")
          ->check(CLI::ExistingFile);
  add_device_option(*cmd, o->device);
  cmd->add_option("--ranks-per-node", o->ranks_per_node,
                  "GPU ranks on each node (one engine each): the node's host memory holds the "
                  "shared weights once and every rank's caches and staging")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  add_share_weights_option(*cmd, o->share_weights);
  add_weight_exchange_options(*cmd, o->exchange, /*run=*/false);
  measure->excludes(constants);
  constants->excludes(measure);
  add_json_flag(*cmd, o->json);
  cmd->callback([o] { plan_command(*o); });
}

}  // namespace hs

// The options that more than one subcommand takes, each declared here once with one help text,
// so that a flag means the same to run, plan and bench. A command takes the groups it needs;
// where one deliberately differs (plan's --batch auto, each command's default --device), the
// difference is an argument here, not a second declaration.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include "engine/factory.h"

namespace hs {

// How to plan a run: the cache policy, its budgets and what may be fixed instead of chosen.
struct PlanArgs {
  std::string policy = "auto";
  std::optional<double> act_fraction;  // empty: the planner's share
  double gpu_mem_gib = 0;              // 0: what the device has (plan: 24 unless --measure)
  double host_mem_gib = 0;             // 0: 80% of the node's memory
  int64_t block_tokens = 16;
  std::optional<int64_t> mini_batch_size;  // empty: the planner's
  std::optional<int64_t> host_sets;        // empty: the planner's
  std::string weight_format = "native";    // model/quant.h: native, int8, int4
  int64_t weight_group = kDefaultQuantGroup;
  std::optional<int64_t> max_gpu_cache_layers;  // empty: the planner's
  std::string cache_format = "native";  // model/cache_format.h: native, int8, int4, fp8, auto-lossy
  int64_t cache_group = kDefaultCacheGroup;
};

// --policy, --act-fraction, --gpu-mem-gib, --host-mem-gib, --block-tokens, --weight-format,
// --weight-group, --cache-format, --cache-group (run, plan, bench).
void add_plan_options(CLI::App& cmd, PlanArgs& a);
// --mini-batch-size, --host-sets: fix what the planner would choose (plan, bench).
void add_plan_fixing_options(CLI::App& cmd, PlanArgs& a);
// The engine options the arguments set (policy, shares, budgets, block size, fixed choices).
void apply_plan_args(const PlanArgs& a, EngineOptions& eo);

// --dtype fp16|bf16 (plan, bench).
void add_dtype_option(CLI::App& cmd, std::string& dtype);
// --device cpu|cuda, defaulting to `device`'s value (run: cpu; plan, bench: cuda).
void add_device_option(CLI::App& cmd, std::string& device);
// --share-weights node|none (run, plan).
void add_share_weights_option(CLI::App& cmd, std::string& share_weights);
// --weight-exchange none|host|nccl and --exchange-gbps (run, plan): the node's ranks split each
// streamed layer's copy and all-gather the rest (Plan::exchange_ranks).
struct ExchangeArgs {
  std::string mode = "none";
  std::optional<double> gbps;
};
void add_weight_exchange_options(CLI::App& cmd, ExchangeArgs& a, bool run);
// The all-gather rate a plan with an exchange assumes: --exchange-gbps, else the mode's.
double exchange_gbps(const ExchangeArgs& a);
// Checks --weight-exchange against the ranks of the node (throws hs::Error saying what to give:
// run starts ranks, plan takes --ranks-per-node).
void check_weight_exchange(const ExchangeArgs& a, int64_t ranks_per_node, bool shared_weights,
                           bool run);
// --model DIR|FILE.gguf (run, plan) and --model-shape NAME (plan, bench); the command adds
// ->required() or the exclusions it needs.
CLI::Option* add_model_option(CLI::App& cmd, std::string& model);
CLI::Option* add_model_shape_option(CLI::App& cmd, std::string& shape);

// The uniform workload of plan and bench: --batch, --prompt-len, --gen-len, all required.
// batch_auto: --batch also takes auto (plan: the batch with the best predicted throughput).
struct WorkloadArgs {
  std::string batch;  // a positive integer, or auto where the command takes it
  int64_t prompt_len = 0, gen_len = 0;
};
void add_workload_options(CLI::App& cmd, WorkloadArgs& w, bool batch_auto);
// A batch option's value: a positive integer, or (allow_auto) auto, returned as 0. Throws
// hs::Error naming the option otherwise.
int64_t parse_batch(const std::string& value, const std::string& option, bool allow_auto);

// --json (plan, bench).
void add_json_flag(CLI::App& cmd, bool& json);

}  // namespace hs

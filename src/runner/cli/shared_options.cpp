#include "runner/cli/shared_options.h"

#include "model/shapes.h"
#include "util/error.h"

namespace hs {
namespace {

// `run` writes its options as a config file (/meta job_config) with "" for an option that has
// no default and was not given, and reads that file back with --config: "" is not a value to
// check, so the option's check lets it through.
CLI::Validator unless_empty(CLI::Validator check) {
  return CLI::Validator(
      [check](std::string& v) mutable { return v.empty() ? std::string() : check(v); },
      check.get_description());
}

}  // namespace

void add_plan_options(CLI::App& cmd, PlanArgs& a) {
  cmd.add_option("--policy", a.policy,
                 "How caches are held: kv (K/V only), act (activation checkpoints only), hybrid "
                 "(the planner's share of both), recompute-tokens (no cache) or auto (the "
                 "fastest of these, GPU-resident layers included)")
      ->check(CLI::IsMember({"kv", "act", "hybrid", "recompute-tokens", "auto"}))
      ->capture_default_str();
  cmd.add_option("--act-fraction", a.act_fraction,
                 "Fix the share of cache blocks held as activation checkpoints (0..1) instead of "
                 "letting the planner choose it: with --policy hybrid, or auto, which it makes "
                 "hybrid")
      ->check(unless_empty(CLI::Range(0.0, 1.0)));
  cmd.add_option("--gpu-mem-gib", a.gpu_mem_gib,
                 "GPU memory the engine may allocate, GiB, beyond the backend's own workspaces "
                 "(cuBLAS, sampling buffers), which come off the device's capacity first. 0, "
                 "the default: what the device has (plan without --measure: 24, an RTX 4090)")
      ->check(unless_empty(CLI::NonNegativeNumber));
  cmd.add_option("--host-mem-gib", a.host_mem_gib,
                 "Host memory the job may take on each node, GiB: the streamed weights (once "
                 "per node when shared, else once per rank) plus every rank's caches and "
                 "staging (and, on the cpu backend, its device memory). 0, the default: 80% of "
                 "the node's memory")
      ->check(unless_empty(CLI::NonNegativeNumber));
  cmd.add_option("--block-tokens", a.block_tokens, "Tokens per cache block")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd.add_option("--weight-format", a.weight_format,
                 "How the streamed layers' weights are held in host memory and cross PCIe: "
                 "native (the element type, --dtype; fp16 and bf16 say the same), or compressed "
                 "and expanded on the GPU before the layer runs: int8 (symmetric, a scale per "
                 "output channel; about 1/2 the bytes of fp16), fp8 (e4m3 with a scale per "
                 "output channel; the bytes of int8) or int4 (4 bits with a scale and minimum per "
                 "--weight-group consecutive inputs of an output channel, FlexGen's scheme; about "
                 "0.28), or auto-lossy: the planner picks among native, int8 and int4 by "
                 "predicted throughput. Compressed "
                 "formats are lossy (docs/BENCHMARKS.md, \"Compressed weights\"); GPU-resident "
                 "layers stay in the element type")
      ->check(CLI::IsMember({"native", "fp16", "bf16", "int8", "int4", "fp8", "auto-lossy"}))
      ->capture_default_str();
  cmd.add_option(
         "--weight-group", a.weight_group,
         "int4: consecutive inputs of an output channel that share a scale and minimum. "
         "32 on a GGUF file of Q4_0 or Q4_1 tensors takes its blocks as stored: the file's own "
         "weights, nothing lost")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd.add_option("--cache-format", a.cache_format,
                 "How the caches of host-cache layers (K/V blocks and activation checkpoints) "
                 "are held in host memory and cross PCIe: native (the element type), or "
                 "compressed row by row when written back and expanded on the GPU when loaded: "
                 "int8 (8 bits with a scale and minimum per --cache-group consecutive elements "
                 "of a row; about 0.53 of fp16's bytes), int4 (4 bits, the same groups, "
                 "FlexGen's --compress-cache scheme; about 0.28) or fp8 (e4m3 with a scale per "
                 "group; about 0.52), or auto-lossy: the planner picks among native, int8 and "
                 "int4 by predicted throughput. Lossy (docs/BENCHMARKS.md, \"Compressed "
                 "weights\"); GPU-resident cache layers stay in the element type")
      ->check(CLI::IsMember({"native", "fp16", "bf16", "int8", "int4", "fp8", "auto-lossy"}))
      ->capture_default_str();
  cmd.add_option("--max-gpu-cache-layers", a.max_gpu_cache_layers,
                 "At most this many layers keep their cache on the GPU (the others on the host, "
                 "where --cache-format applies); by default as many as the budget holds and the "
                 "planner favours. 0 puts every cache on the host, e.g. to measure what a cache "
                 "format costs in quality")
      ->check(CLI::NonNegativeNumber);
  cmd.add_option("--cache-group", a.cache_group,
                 "int8/int4 caches: consecutive elements of a row (along the hidden dimension) "
                 "that share a scale and minimum; even")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
}

void add_plan_fixing_options(CLI::App& cmd, PlanArgs& a) {
  cmd.add_option("--mini-batch-size", a.mini_batch_size,
                 "Fix the requests per mini-batch instead of letting the planner choose")
      ->check(CLI::PositiveNumber);
  cmd.add_option("--host-sets", a.host_sets,
                 "Fix the working sets host-cache loads take turns on (2-4; the planner picks 2 "
                 "or 3: more let loads run further ahead of compute through GPU-resident cache "
                 "layers, for one more mini-batch's working memory each)")
      ->check(CLI::Range(2, 4));
}

void apply_plan_args(const PlanArgs& a, EngineOptions& eo) {
  eo.policy = parse_policy(a.policy);
  eo.act_fraction = a.act_fraction;
  eo.block_tokens = a.block_tokens;
  eo.mini_batch_size = a.mini_batch_size;
  eo.host_sets = a.host_sets;
  eo.max_gpu_cache_layers = a.max_gpu_cache_layers;
  eo.gpu_mem_gib = a.gpu_mem_gib;
  eo.host_mem_gib = a.host_mem_gib;
  eo.weight_format_auto = a.weight_format == "auto-lossy";
  eo.weight_format =
      eo.weight_format_auto ? WeightFormat::native : parse_weight_format(a.weight_format);
  eo.quant_group = a.weight_group;
  eo.cache_format_auto = a.cache_format == "auto-lossy";
  eo.cache_format = eo.cache_format_auto ? CacheFormat::native : parse_cache_format(a.cache_format);
  eo.cache_group = a.cache_group;
}

void add_dtype_option(CLI::App& cmd, std::string& dtype) {
  cmd.add_option("--dtype", dtype,
                 "Element type of weights, caches and compute on CUDA: fp16 or bf16 (the cpu "
                 "backend computes in fp32)")
      ->check(CLI::IsMember({"fp16", "bf16"}))
      ->capture_default_str();
}

void add_device_option(CLI::App& cmd, std::string& device) {
  cmd.add_option("--device", device,
                 "Compute device: cuda, or cpu (the fp32 reference backend: slow, and its "
                 "device memory is host memory, counted in the host budget)")
      ->check(CLI::IsMember({"cpu", "cuda"}))
      ->capture_default_str();
}

void add_share_weights_option(CLI::App& cmd, std::string& share_weights) {
  cmd.add_option("--share-weights", share_weights,
                 "node: the ranks of a node hold one copy of the streamed weights in shared "
                 "memory (a tmpfs, /dev/shm unless HYBRIDSERVE_SHM_DIR names another), each "
                 "loading its share; none: every rank holds its own copy")
      ->check(CLI::IsMember({"node", "none"}))
      ->capture_default_str();
}

void add_weight_exchange_options(CLI::App& cmd, ExchangeArgs& a, bool run) {
  cmd.add_option("--weight-exchange", a.mode,
                 std::string("The node's ranks split each streamed layer's PCIe copy: each of "
                             "its N ranks copies 1/N of the layer from the node's shared host "
                             "weights and all-gathers the rest from its peers, the ranks "
                             "walking every step's layers in lockstep. host: an MPI all-gather "
                             "through host memory (the stand-in, on the cpu backend); nccl: "
                             "NCCL between the GPUs (--device cuda), in device memory on the "
                             "expand stream (not yet run on a GPU: README, Many GPUs)") +
                     "; none, the default: each rank copies whole layers" +
                     (run ? "" : ". Needs --ranks-per-node 2 or more"))
      ->check(CLI::IsMember({"none", "host", "nccl"}))
      ->capture_default_str();
  cmd.add_option("--exchange-gbps", a.gbps,
                 "The exchange's all-gather rate the planner assumes, GB/s received by each "
                 "rank (NCCL's bus bandwidth): default 360 for nccl (NVLink on an H100 node), "
                 "10 for host")
      ->check(CLI::PositiveNumber);
}

double exchange_gbps(const ExchangeArgs& a) {
  if (a.gbps) return *a.gbps;
  // NCCL's all-gather over NVLink on an H100 node: about 360 GB/s of bus bandwidth, the figure
  // NCCL's maintainers give for DGX H100 (NVIDIA/nccl-tests#326). The host stand-in (an MPI
  // all-gather through shared memory) is taken at a tenth of a socket's memory rate.
  return a.mode == "nccl" ? 360 : 10;
}

void check_weight_exchange(const ExchangeArgs& a, int64_t ranks_per_node, bool shared_weights,
                           bool run) {
  HS_CHECK(!a.gbps || a.mode != "none",
           "--exchange-gbps is the weight exchange's rate: give --weight-exchange nccl or host");
  if (a.mode == "none") return;
  HS_CHECK(ranks_per_node > 1, "--weight-exchange ", a.mode,
           " splits each layer's copy among the node's ranks, and this node has ", ranks_per_node,
           run ? ": start 2 or more ranks on each node (mpirun -np N, srun --ntasks-per-node N)"
               : ": give --ranks-per-node 2 or more");
  HS_CHECK(shared_weights, "--weight-exchange ", a.mode,
           " copies each rank's share from the node's one copy of the weights: it needs "
           "--share-weights node");
}

CLI::Option* add_model_option(CLI::App& cmd, std::string& model) {
  return cmd.add_option("--model", model,
                        "The model: a Hugging Face model directory (config.json + "
                        "*.safetensors) or a GGUF file");
}

CLI::Option* add_model_shape_option(CLI::App& cmd, std::string& shape) {
  std::string names;
  for (const std::string& n : model_shape_names()) names += (names.empty() ? "" : ", ") + n;
  return cmd.add_option("--model-shape", shape,
                        "A named model shape (its sizes alone, no files): " + names);
}

int64_t parse_batch(const std::string& value, const std::string& option, bool allow_auto) {
  if (allow_auto && value == "auto") return 0;
  size_t used = 0;
  long long n = 0;
  try {
    n = std::stoll(value, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  HS_CHECK(used == value.size() && n > 0, option, " must be a positive integer",
           allow_auto ? " or auto" : "", ", not '", value, "'");
  return n;
}

void add_workload_options(CLI::App& cmd, WorkloadArgs& w, bool batch_auto) {
  const std::string automatic =
      ", or auto: the batch with the best predicted throughput that fits the budgets (the "
      "smallest within 1% of the best, at most 4096; what `run --batch-size auto` picks), shown "
      "with the predictions at each batch tried";
  cmd.add_option("--batch", w.batch, "Requests in the batch" + (batch_auto ? automatic : ""))
      ->type_name(batch_auto ? "INT|auto" : "INT")
      ->required();
  cmd.add_option("--prompt-len", w.prompt_len, "Prompt tokens per request")->required();
  cmd.add_option("--gen-len", w.gen_len, "Tokens generated per request")->required();
}

void add_json_flag(CLI::App& cmd, bool& json) {
  cmd.add_flag("--json", json, "Print one JSON object instead of the report");
}

}  // namespace hs

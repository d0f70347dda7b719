// hybridserve bench: the engine exactly as `run` uses it, on dummy weights of a named shape,
// timed from its own trace. Reports the paper's metric (generated tokens / (prefill + decode
// time)), bytes per direction, achieved H2D bandwidth against a bandwidth measured in the same
// process, the GPU's busy share, and the planner's predicted step time against the measured one.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>

#include <nlohmann/json.hpp>

#include "backend/backend.h"
#include "engine/engine.h"
#include "model/shapes.h"
#include "model/weights.h"
#include "plan/plan_json.h"
#include "plan/profile.h"
#include "runner/cli/commands.h"
#include "runner/cli/shared_options.h"
#include "runner/io/trace_csv.h"
#include "runner/io/trace_h5.h"
#include "runner/job/job.h"
#include "util/error.h"

namespace hs {
namespace {

using json = nlohmann::json;

struct BenchOptions {
  std::string shape;
  WorkloadArgs workload;
  PlanArgs plan;
  std::string dtype = "fp16";
  std::string device = "cuda";
  uint64_t seed = 1;
  bool json_out = false;
  std::string trace_out;
  bool burst_profile = false;
  double h2d_sample_ms = 1000;
};

// Total length of the union of [start, end) intervals: time a stream was busy.
double busy_ms(std::vector<std::pair<double, double>> iv) {
  std::sort(iv.begin(), iv.end());
  double total = 0, cur_s = -1, cur_e = -1;
  for (auto [s, e] : iv) {
    if (s > cur_e) {
      total += cur_e - cur_s;
      cur_s = s;
      cur_e = e;
    } else {
      cur_e = std::max(cur_e, e);
    }
  }
  return total + (cur_e - cur_s);
}

struct PhaseStats {
  double start_ms = 1e300, end_ms = -1e300;
  int64_t h2d_bytes = 0, d2h_bytes = 0;
  std::map<std::string, double> kind_ms;  // summed event time by stream and kind
  std::vector<std::pair<double, double>> compute, h2d;
  double span_ms() const { return end_ms > start_ms ? end_ms - start_ms : 0; }
};

void add_event(PhaseStats& p, const TraceEvent& e) {
  p.start_ms = std::min(p.start_ms, e.start_ms);
  p.end_ms = std::max(p.end_ms, e.end_ms);
  const Stream s = static_cast<Stream>(e.stream);
  p.kind_ms[std::string(stream_name(s)) + "/" + trace_kind_name(e.kind)] += e.end_ms - e.start_ms;
  if (s == Stream::weights || s == Stream::cache_in) {
    p.h2d_bytes += e.bytes;
    p.h2d.emplace_back(e.start_ms, e.end_ms);
  } else if (s == Stream::cache_out) {
    p.d2h_bytes += e.bytes;
  } else {
    p.compute.emplace_back(e.start_ms, e.end_ms);
  }
}

json per_step(const std::map<std::string, double>& ms, double steps) {
  json j = json::object();
  for (const auto& [kind, total] : ms) j[kind] = total / steps;
  return j;
}

// --trace-out: a trace CSV, or (a name ending in .h5) an HDF5 file of /trace and /meta as a job's
// results file names them (docs/OUTPUT.md), with the plan and what the run measured, so that
// `hybridserve report` can set the two beside each other.
void write_trace(const std::string& path, const std::vector<TraceEvent>& events, const json& plan,
                 const json& measured, const std::string& device) {
  if (path.size() < 3 || path.compare(path.size() - 3, 3, ".h5") != 0) {
    write_trace_csv(path, events);
    return;
  }
  std::vector<TraceRow> rows;
  rows.reserve(events.size());
  for (const TraceEvent& e : events) rows.push_back({e, 0, 0, 0});
  const json hardware = json::array({{{"rank", 0}, {"device", device}}});
  write_trace_file(path, rows,
                   {{"command_line", process_command_line()},
                    {"plan", plan.dump()},
                    {"bench", measured.dump()},
                    {"model_shape", measured["model_shape"].get<std::string>()},
                    {"hardware", hardware.dump()},
                    {"version", HS_VERSION}});
}

void bench(const BenchOptions& o) {
  const int64_t batch_size = parse_batch(o.workload.batch, "--batch", /*allow_auto=*/false);
  const int64_t prompt_len = o.workload.prompt_len, gen_len = o.workload.gen_len;
  HS_CHECK(prompt_len > 0 && gen_len > 1, "--prompt-len must be > 0 and --gen-len > 1");
  ModelConfig cfg = model_shape(o.shape);
  cfg.eos_token_ids.clear();  // a benchmark generates exactly --gen-len tokens per request
  HS_CHECK(prompt_len + gen_len <= cfg.max_positions, "--prompt-len + --gen-len (",
           prompt_len + gen_len, ") exceeds ", o.shape, "'s context of ", cfg.max_positions);

  BackendOptions bo;
  bo.dtype = parse_dtype(o.dtype);
  bo.device_mem_gib = o.plan.gpu_mem_gib;
  auto backend = make_backend(o.device, bo);
  const auto profile_start = std::chrono::steady_clock::now();
  CostConstants measured = measure_constants(*backend);
  ProfileOptions po;
  if (o.burst_profile) po.sustain_ms = 0;
  measure_model_costs(*backend, cfg, measured, po);
  const double profile_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - profile_start).count();
  // The link as a long run of loads meets it, next to the best rate the profile kept.
  const H2dSample link = sample_h2d(*backend, o.h2d_sample_ms);

  EngineOptions eo;
  apply_plan_args(o.plan, eo);
  eo.workload = Workload::uniform(batch_size, prompt_len, gen_len);
  eo.constants = measured;
  const Plan plan = plan_run(cfg, eo, *backend);
  auto weights = dummy_weights(cfg, o.seed);
  const int64_t host_budget =
      eo.host_mem_gib > 0 ? static_cast<int64_t>(eo.host_mem_gib * (1ll << 30)) : 0;
  HybridEngine engine(*weights, *backend, plan, eo.workload, host_budget);

  // Prompts of pseudo-random ids (the values do not change the work).
  std::vector<GenRequest> batch;
  uint64_t s = o.seed;
  for (int64_t r = 0; r < batch_size; ++r) {
    GenRequest q;
    q.id = "bench-" + std::to_string(r);
    q.max_new_tokens = gen_len;
    for (int64_t t = 0; t < prompt_len; ++t) {
      s = s * 6364136223846793005ull + 1442695040888963407ull;
      q.prompt.push_back(static_cast<int32_t>(3 + (s >> 33) % (cfg.vocab_size - 3)));
    }
    batch.push_back(std::move(q));
  }
  engine.generate(batch, SamplingParams{});
  backend->synchronize();

  PhaseStats prefill, decode;
  for (const TraceEvent& e : engine.trace()) add_event(e.step == 0 ? prefill : decode, e);
  const double prefill_s = prefill.span_ms() / 1e3, decode_s = decode.span_ms() / 1e3;
  const double total_s = prefill_s + decode_s;
  const double generated = double(batch_size) * gen_len;
  const double decode_steps = double(gen_len - 1);
  const double measured_step_ms = decode.span_ms() / decode_steps;
  const double all_busy = busy_ms(prefill.compute) + busy_ms(decode.compute);
  const double h2d_gbps_achieved = decode_s > 0 ? decode.h2d_bytes / decode_s / 1e9 : 0;

  // The plan (plan/plan_json.h; its host_pool_bytes and device_bytes are the engine's: plan_run
  // checks them against its layout) and what the run measured.
  json j = plan_to_json(plan);
  j.update({
      {"model_shape", o.shape},
      {"device", backend->device_name()},
      {"batch", batch_size},
      {"prompt_len", prompt_len},
      {"gen_len", gen_len},
      {"gpu_mem_gib", o.plan.gpu_mem_gib},
      {"prefill_s", prefill_s},
      {"decode_s", decode_s},
      {"prefill_tokens_per_s", prefill_s > 0 ? batch_size * prompt_len / prefill_s : 0},
      {"decode_tokens_per_s", decode_s > 0 ? batch_size * decode_steps / decode_s : 0},
      {"total_tokens_per_s", total_s > 0 ? generated / total_s : 0},
      {"h2d_bytes", prefill.h2d_bytes + decode.h2d_bytes},
      {"d2h_bytes", prefill.d2h_bytes + decode.d2h_bytes},
      {"decode_h2d_bytes_per_step", decode.h2d_bytes / decode_steps},
      {"h2d_gbps_achieved", h2d_gbps_achieved},
      {"h2d_gbps_measured", measured.h2d_gbps},
      {"h2d_fraction_of_measured", h2d_gbps_achieved / measured.h2d_gbps},
      {"h2d_gbps_sustained", link.mean_gbps},
      {"h2d_fraction_of_sustained", h2d_gbps_achieved / link.mean_gbps},
      {"h2d_sample",
       {{"copies", link.copies},
        {"copy_bytes", link.copy_bytes},
        {"best_gbps", link.best_gbps},
        {"slowest_gbps", link.slowest_gbps},
        {"half_rate_copies", link.half_rate_copies}}},
      {"decode_h2d_busy_fraction",
       decode.span_ms() > 0 ? busy_ms(decode.h2d) / decode.span_ms() : 0},
      {"gpu_busy_fraction", total_s > 0 ? all_busy / (total_s * 1e3) : 0},
      {"measured_step_ms", measured_step_ms},
      {"measured_prefill_ms", prefill.span_ms()},
      {"decode_ms_per_step_by_kind", per_step(decode.kind_ms, decode_steps)},
      {"prefill_ms_by_kind", per_step(prefill.kind_ms, 1)},
      {"profile_s", profile_s},
  });

  if (!o.trace_out.empty())
    write_trace(o.trace_out, engine.trace(), plan_to_json(plan), j, backend->device_name());
  if (o.json_out) {
    std::printf("%s\n", j.dump().c_str());
    return;
  }
  std::printf("%s", trace_summary(engine).c_str());
  std::printf("\nbench %s on %s (%s): batch %lld, prompt %lld, gen %lld\n", o.shape.c_str(),
              backend->device_name().c_str(), dtype_name(backend->dtype()), (long long)batch_size,
              (long long)prompt_len, (long long)gen_len);
  std::printf(
      "plan: %s, act share %.3f, %lld mini-batches of %lld, resident layers: %lld "
      "weights, %lld caches\n",
      policy_name(plan.policy), plan.act_fraction, (long long)plan.num_mini_batches,
      (long long)plan.mini_batch_size, (long long)plan.gpu_weight_layers,
      (long long)plan.gpu_cache_layers);
  for (const char* k : {"prefill_tokens_per_s", "decode_tokens_per_s", "total_tokens_per_s",
                        "h2d_gbps_achieved", "h2d_gbps_measured", "h2d_gbps_sustained",
                        "gpu_busy_fraction", "predicted_step_ms", "measured_step_ms"})
    std::printf("  %-24s %.3f\n", k, j[k].get<double>());
  std::printf("  %-24s %lld / %lld\n", "bytes h2d / d2h", (long long)j["h2d_bytes"].get<int64_t>(),
              (long long)j["d2h_bytes"].get<int64_t>());
}

}  // namespace

void add_bench_command(CLI::App& app) {
  auto o = std::make_shared<BenchOptions>();
  CLI::App* cmd = app.add_subcommand(
      "bench",
      "Benchmark the engine on dummy weights of a named model shape (no files needed).\n"
      "Throughput is the paper's metric: generated tokens / (prefill + decode time).");
  add_model_shape_option(*cmd, o->shape)->required();
  add_workload_options(*cmd, o->workload, /*batch_auto=*/false);
  add_plan_options(*cmd, o->plan);
  add_plan_fixing_options(*cmd, o->plan);
  add_dtype_option(*cmd, o->dtype);
  add_device_option(*cmd, o->device);
  cmd->add_option("--seed", o->seed, "Seed of the dummy weights and prompts")
      ->capture_default_str();
  cmd->add_flag("--burst-profile", o->burst_profile,
                "Plan with the GEMM curves as timed in short bursts, not scaled by how much a\n"
                "long run of GEMMs slows down under the GPU's power cap (measured each run)");
  cmd->add_option("--h2d-sample-ms", o->h2d_sample_ms,
                  "Before the run, copy 64 MiB host-to-device back to back for this long and\n"
                  "report the mean rate (h2d_gbps_sustained) beside the profile's best\n"
                  "(h2d_gbps_measured): a link can run some copies at half rate")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--trace-out", o->trace_out,
                  "Write every trace event to this file: CSV, or HDF5 (/trace and /meta with the\n"
                  "plan and the measurements) when its name ends in .h5; `hybridserve report`\n"
                  "reads either");
  add_json_flag(*cmd, o->json_out);
  cmd->callback([o] { bench(*o); });
}

}  // namespace hs

// `hybridserve plan` end to end through the binary: JSON for every named shape (checked against
// the shapes' published sizes), the table, --help, --model DIR, --measure and errors.
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <map>

#include <nlohmann/json.hpp>

#include "test_support.h"

namespace hs {
namespace {

using json = nlohmann::json;
using test::run_cli;

struct Published {
  int64_t hidden, kv_heads, head_dim, layers;
};

// From the models' config.json files.
const std::map<std::string, Published>& published() {
  static const std::map<std::string, Published> m = {
      {"opt-125m", {768, 12, 64, 12}},     {"opt-1.3b", {2048, 32, 64, 24}},
      {"opt-2.7b", {2560, 32, 80, 32}},    {"opt-6.7b", {4096, 32, 128, 32}},
      {"opt-13b", {5120, 40, 128, 40}},    {"opt-30b", {7168, 56, 128, 48}},
      {"opt-66b", {9216, 72, 128, 64}},    {"opt-175b", {12288, 96, 128, 96}},
      {"llama-2-7b", {4096, 32, 128, 32}}, {"llama-2-13b", {5120, 40, 128, 40}},
      {"llama-2-70b", {8192, 8, 128, 80}}, {"llama-3-8b", {4096, 8, 128, 32}},
      {"llama-3-70b", {8192, 8, 128, 80}}};
  return m;
}

std::vector<std::string> plan_args(const std::string& shape) {
  return {"plan",         "--model-shape", shape,       "--batch", "8",
          "--prompt-len", "128",           "--gen-len", "8",       "--host-mem-gib",
          "2048",         "--gpu-mem-gib", "80",        "--json"};
}

// --host-sets fixes the working sets host-cache loads take turns on: kept in the plan, and
// what the footprint lays out (a third set is one more working set of device memory); outside
// 2-4 it is refused with the option named.
TEST(PlanCli, HostSetsAreKeptAndChecked) {
  // opt-6.7b, 128 requests of 256 + 32 tokens in 24 GiB: some caches resident, some not.
  std::vector<std::string> args = {
      "plan", "--model-shape", "opt-6.7b", "--batch",           "128",  "--prompt-len",
      "256",  "--gen-len",     "32",       "--host-mem-gib",    "2048", "--gpu-mem-gib",
      "24",   "--policy",      "kv",       "--mini-batch-size", "22",   "--json"};
  std::vector<json> plans;
  for (const char* n : {"2", "3"}) {
    auto a = args;
    a.insert(a.end(), {"--host-sets", n});
    const auto r = run_cli(a);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    plans.push_back(json::parse(r.out));
    EXPECT_EQ(plans.back()["host_sets"].get<int64_t>(), std::stoll(n));
  }
  // Some caches on each side, so both plans lay host sets out; the third set's memory leaves
  // no more room for resident caches than two did.
  const int64_t resident = plans[0]["gpu_cache_layers"].get<int64_t>();
  EXPECT_GT(resident, 0);
  EXPECT_LT(resident, 32);
  EXPECT_LE(plans[1]["gpu_cache_layers"].get<int64_t>(), resident);
  args.insert(args.end(), {"--host-sets", "5"});
  const auto bad = run_cli(args);
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.err.find("--host-sets"), std::string::npos) << bad.err;
}

TEST(PlanCli, JsonForEveryNamedShape) {
  for (const auto& [name, s] : published()) {
    const auto r = run_cli(plan_args(name));
    ASSERT_EQ(r.exit_code, 0) << name << ": " << r.err;
    const json j = json::parse(r.out);  // one object, nothing else on stdout
    for (const char* key :
         {"act_fraction", "kv_bytes_per_token", "act_bytes_per_token", "mini_batch_size",
          "num_mini_batches", "predicted_tokens_per_s", "policy", "gpu_weight_layers",
          "gpu_cache_layers", "host_sets", "host_pool_bytes", "device_bytes", "predicted_pcie_ms",
          "predicted_gpu_ms", "predicted_step_ms", "constants", "explanation"})
      EXPECT_TRUE(j.contains(key)) << name << " lacks " << key;
    // fp16, per layer: K/V 2 * kv_heads * head_dim * 2 B, checkpoint hidden * 2 B.
    EXPECT_EQ(j["kv_bytes_per_token"].get<int64_t>(), 2 * s.kv_heads * s.head_dim * 2) << name;
    EXPECT_EQ(j["act_bytes_per_token"].get<int64_t>(), s.hidden * 2) << name;
    const double f = j["act_fraction"].get<double>();
    EXPECT_GE(f, 0) << name;
    EXPECT_LE(f, 1) << name;
    if (2 * s.kv_heads * s.head_dim < s.hidden) {
      EXPECT_EQ(f, 0) << name;  // GQA
    }
    EXPECT_GE(j["mini_batch_size"].get<int64_t>() * j["num_mini_batches"].get<int64_t>(), 8);
    EXPECT_LE(j["gpu_weight_layers"].get<int64_t>(), s.layers) << name;
    EXPECT_GT(j["predicted_tokens_per_s"].get<double>(), 0) << name;
    EXPECT_LE(j["device_bytes"].get<int64_t>(), int64_t(80) << 30) << name;
    EXPECT_EQ(j["constants"]["h2d_gbps"].get<double>(), 25) << name;  // the documented default
    EXPECT_EQ(j["constants"]["gemm_tflops"].get<double>(), 150) << name;
  }
}

TEST(PlanCli, ConstantsFromTheCommandLine) {
  auto args = plan_args("opt-13b");
  for (const char* a : {"--h2d-gbps", "55", "--d2h-gbps", "50", "--gemm-tflops", "600",
                        "--mem-gbps", "3350", "--policy", "hybrid", "--dtype", "bf16"})
    args.push_back(a);
  const auto r = run_cli(args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json j = json::parse(r.out);
  EXPECT_EQ(j["constants"]["h2d_gbps"].get<double>(), 55);
  EXPECT_EQ(j["constants"]["d2h_gbps"].get<double>(), 50);
  EXPECT_EQ(j["constants"]["gemm_tflops"].get<double>(), 600);
  EXPECT_EQ(j["constants"]["mem_gbps"].get<double>(), 3350);
  EXPECT_EQ(j["policy"], "hybrid");
  EXPECT_EQ(j["dtype"], "bf16");
}

// Constants measured elsewhere (the "constants" of bench --json) drive the plan: the GEMM
// curve's times, not the default rate, set the GPU time, and a plan's own JSON reads back.
TEST(PlanCli, ConstantsFromAFile) {
  const std::string dir = test::temp_dir();
  auto write = [&](const std::string& name, const std::string& text) {
    std::ofstream(dir + "/" + name) << text;
    return dir + "/" + name;
  };
  // A bench output: the constants under "constants", with one curve for the 5120 x 5120
  // projections (10x slower than the roofline at every row count).
  const std::string bench = write("bench.json", R"({"total_tokens_per_s": 1, "constants": {
      "h2d_gbps": 55, "d2h_gbps": 54, "gemm_tflops": 700, "mem_gbps": 3000,
      "attention_tflops": 90, "launch_us": 4, "sustained_slowdown": 1.16,
      "gemms": [{"k": 5120, "n": 5120, "rows": [1, 65536], "ms": [0.2, 40]}]}})");
  auto args = plan_args("opt-13b");
  args.insert(args.end(), {"--policy", "kv", "--constants", bench});
  auto r = run_cli(args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json j = json::parse(r.out);
  EXPECT_EQ(j["constants"]["h2d_gbps"].get<double>(), 55);
  EXPECT_EQ(j["constants"]["launch_us"].get<double>(), 4);
  EXPECT_EQ(j["constants"]["sustained_slowdown"].get<double>(), 1.16);  // reported, not reapplied
  ASSERT_EQ(j["constants"]["gemms"].size(), 1u);
  EXPECT_EQ(j["constants"]["source"].get<std::string>(), bench);
  // Without the curve, the same rates give a faster GPU.
  const std::string flat = write("flat.json", R"({"h2d_gbps": 55, "d2h_gbps": 54,
      "gemm_tflops": 700, "mem_gbps": 3000, "attention_tflops": 90, "launch_us": 4})");
  args = plan_args("opt-13b");
  args.insert(args.end(), {"--policy", "kv", "--constants", flat});
  r = run_cli(args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_LT(json::parse(r.out)["predicted_gpu_ms"].get<double>(),
            j["predicted_gpu_ms"].get<double>());
  // The plan's own JSON reads back to the same plan.
  const std::string own = write("plan.json", j.dump());
  args = plan_args("opt-13b");
  args.insert(args.end(), {"--policy", "kv", "--constants", own});
  r = run_cli(args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(json::parse(r.out)["predicted_step_ms"], j["predicted_step_ms"]);

  // Bad files: the error names the file and the key.
  const struct {
    const char* text;
    const char* want;
  } bad[] = {
      {"{\"h2d_gbps\": -1}", "h2d_gbps must be positive"},
      {"{\"sustained_slowdown\": 0}", "sustained_slowdown must be positive"},
      {"{\"constants\": {\"mem_gbps\": \"fast\"}}", "constants.mem_gbps must be a number"},
      {"{\"gemms\": [{\"k\": 1, \"n\": 1, \"rows\": [4, 2], \"ms\": [1, 1]}]}",
       "gemms[0].rows must ascend"},
      {"{\"gemms\": [{\"k\": 1, \"rows\": [1], \"ms\": [1]}]}", "gemms[0] must be an object"},
      {"[1, 2]", "expected an object"},
      {"{\"h2d_gbps\": ", "not JSON"},
  };
  for (const auto& b : bad) {
    const std::string f = write("bad.json", b.text);
    args = plan_args("opt-13b");
    args.insert(args.end(), {"--constants", f});
    r = run_cli(args);
    EXPECT_EQ(r.exit_code, 1) << b.text;
    EXPECT_NE(r.err.find(f), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(b.want), std::string::npos) << r.err;
  }
  args = plan_args("opt-13b");
  args.insert(args.end(), {"--constants", flat, "--measure"});
  EXPECT_NE(run_cli(args).exit_code, 0);
}

TEST(PlanCli, Table) {
  const auto r = run_cli({"plan", "--model-shape", "opt-13b", "--batch", "128", "--prompt-len",
                          "1024", "--gen-len", "32", "--host-mem-gib", "1024"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* s : {"policy", "act fraction", "mini-batches", "GPU-resident", "host pool",
                        "PCIe", "GPU", "throughput", "tokens/s"})
    EXPECT_NE(r.out.find(s), std::string::npos) << s << " missing from\n" << r.out;
}

TEST(PlanCli, ModelDirectoryReadsConfigOnly) {
  const auto r = run_cli({"plan", "--model", test::data_path("models/opt-tiny"), "--batch", "4",
                          "--prompt-len", "8", "--gen-len", "4", "--host-mem-gib", "1", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json j = json::parse(r.out);
  EXPECT_GT(j["kv_bytes_per_token"].get<int64_t>(), 0);
}

TEST(PlanCli, MeasureOnTheCpuBackend) {
  const auto t0 = std::chrono::steady_clock::now();
  auto args = plan_args("opt-1.3b");
  args.push_back("--measure");
  args.push_back("--device");
  args.push_back("cpu");
  const auto r = run_cli(args);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json j = json::parse(r.out);
  const json& k = j["constants"];
  for (const char* key : {"h2d_gbps", "d2h_gbps", "gemm_tflops", "mem_gbps"})
    EXPECT_GT(k[key].get<double>(), 0) << key;
  EXPECT_NE(k["source"].get<std::string>().find("measured"), std::string::npos);
  EXPECT_EQ(k["sustained_slowdown"].get<double>(), 1);  // no power cap measured on the cpu
  // The measurement takes about a second here; the bound only catches a profile that runs
  // away (it is not a benchmark: CI shares its cores with other tests).
  EXPECT_LT(s, 30.0);
}

TEST(PlanCli, HelpExplainsEveryOption) {
  const auto r = run_cli({"plan", "--help"});
  EXPECT_EQ(r.exit_code, 0);
  for (const char* o :
       {"--model",        "--model-shape", "--batch",        "--prompt-len", "--gen-len",
        "--h2d-gbps",     "--d2h-gbps",    "--gemm-tflops",  "--mem-gbps",   "--gpu-mem-gib",
        "--host-mem-gib", "--policy",      "--act-fraction", "--dtype",      "--block-tokens",
        "--json",         "--measure",     "--device",       "opt-13b",      "llama-3-70b",
        "--constants"})
    EXPECT_NE(r.out.find(o), std::string::npos) << o;
}

TEST(PlanCli, Errors) {
  auto r = run_cli(
      {"plan", "--model-shape", "gpt-5", "--batch", "1", "--prompt-len", "1", "--gen-len", "1"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("opt-13b"), std::string::npos) << r.err;

  r = run_cli({"plan", "--batch", "1", "--prompt-len", "1", "--gen-len", "1"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("--model"), std::string::npos) << r.err;

  r = run_cli({"plan", "--model-shape", "opt-30b", "--batch", "64", "--prompt-len", "1024",
               "--gen-len", "32", "--policy", "kv", "--host-mem-gib", "8"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("GiB of host memory but the budget is 8.00 GiB"), std::string::npos)
      << r.err;

  // A weight exchange needs ranks to exchange with, and its rate an exchange.
  r = run_cli({"plan", "--model-shape", "opt-6.7b", "--batch", "8", "--prompt-len", "64",
               "--gen-len", "8", "--weight-exchange", "nccl"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("--ranks-per-node 2 or more"), std::string::npos) << r.err;
  r = run_cli({"plan", "--model-shape", "opt-6.7b", "--batch", "8", "--prompt-len", "64",
               "--gen-len", "8", "--ranks-per-node", "2", "--exchange-gbps", "100"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("--weight-exchange nccl or host"), std::string::npos) << r.err;
  // With both, the plan shows the shares and the rate given.
  r = run_cli({"plan", "--model-shape",   "opt-30b", "--batch",          "8",  "--prompt-len",
               "64",   "--gen-len",       "8",       "--ranks-per-node", "4",  "--weight-exchange",
               "nccl", "--exchange-gbps", "123",     "--gpu-mem-gib",    "24", "--host-mem-gib",
               "400",  "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json j = json::parse(r.out);
  EXPECT_EQ(j["exchange_ranks"].get<int64_t>(), 4);
  EXPECT_EQ(j["constants"]["exchange_gbps"].get<double>(), 123);
  EXPECT_EQ(j["streamed_layer_share_bytes"].get<int64_t>(),
            (j["streamed_layer_bytes"].get<int64_t>() + 3) / 4);
}

}  // namespace
}  // namespace hs

namespace hs {
namespace {

json plan_json_of(std::vector<std::string> args) {
  const auto r = test::run_cli(args);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return r.exit_code == 0 ? json::parse(r.out) : json::object();
}

// --ranks-per-node N: the node holds the streamed weights once when shared and N times when
// not, each rank its own pool; the same plan either way (sharing changes memory, not the
// schedule), and a node budget the copies overrun but one copy fits is refused only without
// sharing, naming the ranks.
TEST(PlanCli, RanksPerNodeCountTheWeightsOnceWhenShared) {
  auto args = [](const char* share, const std::string& host_gib) {
    return std::vector<std::string>{"plan",
                                    "--model-shape",
                                    "opt-30b",
                                    "--batch",
                                    "8",
                                    "--prompt-len",
                                    "128",
                                    "--gen-len",
                                    "8",
                                    "--gpu-mem-gib",
                                    "24",
                                    "--host-mem-gib",
                                    host_gib,
                                    "--json",
                                    "--ranks-per-node",
                                    "8",
                                    "--share-weights",
                                    share};
  };
  const json s = plan_json_of(args("node", "2048")), c = plan_json_of(args("none", "2048"));
  ASSERT_FALSE(s.empty() || c.empty());
  const int64_t weights = c["host_pool"]["weight_bytes"].get<int64_t>();
  ASSERT_GT(weights, 0);
  EXPECT_EQ(s["host_pool"]["weight_bytes"].get<int64_t>(), weights);
  EXPECT_EQ(s["node"]["shared_weight_bytes"].get<int64_t>(), weights);
  EXPECT_EQ(c["node"]["shared_weight_bytes"].get<int64_t>(), 0);
  EXPECT_EQ(s["node"]["rank_host_bytes"].get<int64_t>() + weights,
            c["node"]["rank_host_bytes"].get<int64_t>());
  EXPECT_EQ(s["node"]["host_bytes"].get<int64_t>(),
            weights + 8 * s["node"]["rank_host_bytes"].get<int64_t>());
  EXPECT_EQ(c["node"]["host_bytes"].get<int64_t>(),
            8 * c["node"]["rank_host_bytes"].get<int64_t>());
  for (const char* k : {"policy", "gpu_weight_layers", "gpu_cache_layers", "act_fraction"})
    EXPECT_EQ(s[k], c[k]) << k;

  // A budget between the two: one copy fits, eight do not.
  const std::string between_gib = std::to_string(
      (s["node"]["host_bytes"].get<double>() + c["node"]["host_bytes"].get<double>()) / 2 /
      (1 << 30));
  EXPECT_EQ(test::run_cli(args("node", between_gib)).exit_code, 0);
  const auto refused = test::run_cli(args("none", between_gib));
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.err.find("a rank, x 8 ranks of the node"), std::string::npos) << refused.err;
  EXPECT_NE(refused.err.find("share the weights (--share-weights node)"), std::string::npos)
      << refused.err;
}

// --device cpu plans what the cpu backend runs: fp32 (twice fp16's bytes) and the device pool
// in host memory, counted in the node's total.
TEST(PlanCli, TheCpuBackendsPlanIsFp32WithItsDeviceInHostMemory) {
  auto args = plan_args("opt-1.3b");
  const json gpu = plan_json_of(args);
  args.insert(args.end(), {"--device", "cpu"});
  const json cpu = plan_json_of(args);
  ASSERT_FALSE(gpu.empty() || cpu.empty());
  EXPECT_EQ(cpu["dtype"], "fp32");
  EXPECT_EQ(cpu["layer_weight_bytes"].get<int64_t>(), 2 * gpu["layer_weight_bytes"].get<int64_t>());
  EXPECT_TRUE(cpu["node"]["device_in_host"].get<bool>());
  EXPECT_FALSE(gpu["node"]["device_in_host"].get<bool>());
  EXPECT_EQ(cpu["node"]["host_bytes"].get<int64_t>(),
            cpu["host_pool_bytes"].get<int64_t>() + cpu["device_bytes"].get<int64_t>());
  EXPECT_EQ(gpu["node"]["host_bytes"].get<int64_t>(), gpu["host_pool_bytes"].get<int64_t>());
}

}  // namespace
}  // namespace hs

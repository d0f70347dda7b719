// The engine's memory: the host pool is exactly the plan's number (plan/footprint.h), taken
// once before any work; a budget too small is refused up front with the bytes needed and what
// to lower; a batch larger than the one planned for is refused before it starts.
#include <gtest/gtest.h>

#include "backend/backend.h"
#include "backend/cpu/cpu_backend.h"
#include "engine/engine.h"
#include "goldens.h"
#include "model/weights.h"
#include "plan/footprint.h"
#include "test_support.h"
#include "util/error.h"

namespace hs {
namespace {

struct Fixture {
  test::Golden golden;
  std::unique_ptr<WeightSource> weights;
  std::vector<GenRequest> batch;
  Workload workload;
};

Fixture load(const std::string& model) {
  Fixture f{test::load_golden(model), open_model_dir(test::data_path("models/" + model)), {}, {}};
  for (size_t i = 0; i < f.golden.cases.size(); ++i) {
    f.batch.push_back(
        {"r" + std::to_string(i), f.golden.cases[i].prompt, f.golden.max_new_tokens, {}});
    f.workload.prompt_lens.push_back(static_cast<int64_t>(f.golden.cases[i].prompt.size()));
    f.workload.gen_lens.push_back(f.golden.max_new_tokens);
  }
  return f;
}

Plan hybrid_plan(int64_t gpu_cache_layers = 0) {
  Plan p;
  p.policy = Policy::hybrid;
  p.act_fraction = 0.5;
  p.block_tokens = 4;
  p.mini_batch_size = 3;
  p.gpu_cache_layers = gpu_cache_layers;
  p.dtype = DType::f32;
  return p;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(EngineMemory, HostPoolIsWhatThePlanSaid) {
  Fixture f = load("opt-tiny");
  auto backend = make_backend("cpu");
  auto* cpu = dynamic_cast<CpuBackend*>(backend.get());
  ASSERT_NE(cpu, nullptr);
  const Plan p = hybrid_plan();
  HybridEngine engine(*f.weights, *backend, p, f.workload);
  const Footprint fp = plan_footprint(f.weights->config(), engine.plan(), f.workload);
  EXPECT_EQ(engine.plan().host_pool_bytes, fp.host_pool_bytes);
  EXPECT_EQ(static_cast<int64_t>(cpu->host_allocated_bytes()), fp.host_pool_bytes);
  EXPECT_EQ(static_cast<int64_t>(cpu->device_allocated_bytes()), engine.device_bytes());
  // Generating takes nothing more from the backend.
  engine.generate(f.batch, SamplingParams{});
  EXPECT_EQ(static_cast<int64_t>(cpu->host_allocated_bytes()), fp.host_pool_bytes);
  EXPECT_EQ(static_cast<int64_t>(cpu->device_allocated_bytes()), engine.device_bytes());
}

// Through the planner, for every policy: the pool the run takes is the plan's host_pool_bytes.
TEST(EngineMemory, PlannedRunsTakeThePlannedHostPool) {
  Fixture f = load("llama-gqa");
  for (Policy pol :
       {Policy::kv, Policy::act, Policy::hybrid, Policy::recompute_tokens, Policy::automatic}) {
    auto backend = make_backend("cpu");
    auto* cpu = dynamic_cast<CpuBackend*>(backend.get());
    EngineOptions o;
    o.policy = pol;
    o.block_tokens = 4;
    o.workload = f.workload;
    o.host_mem_gib = 1;
    const Plan plan = plan_run(f.weights->config(), o, *backend);
    auto gen = make_generator(o, *f.weights, *backend);
    EXPECT_EQ(static_cast<int64_t>(cpu->host_allocated_bytes()), plan.host_pool_bytes)
        << policy_name(pol);
  }
}

TEST(EngineMemory, TooSmallHostBudgetIsRefusedWithTheNeededBytes) {
  Fixture f = load("opt-tiny");
  auto backend = make_backend("cpu");
  auto* cpu = dynamic_cast<CpuBackend*>(backend.get());
  Plan p = hybrid_plan();
  p.mini_batches = {{0, 1, 2}, {3, 4, 5}, {6, 7}};
  // On the cpu backend the device pool is host memory too: the budget holds both.
  p.node.device_in_host = true;
  const Footprint fp = plan_footprint(f.weights->config(), p, f.workload);
  const int64_t needed = fp.node_host_bytes;
  EXPECT_EQ(needed, fp.host_pool_bytes + fp.device_bytes);
  const std::string msg = error_of(
      [&] { HybridEngine engine(*f.weights, *backend, p, f.workload, MemoryLimits(needed - 1)); });
  EXPECT_NE(msg.find(std::to_string(needed) + " bytes"), std::string::npos) << msg;
  EXPECT_NE(msg.find("host"), std::string::npos) << msg;
  EXPECT_NE(msg.find("lower the batch size"), std::string::npos) << msg;
  EXPECT_EQ(cpu->host_allocated_bytes(), 0u);  // refused before allocating anything
  EXPECT_EQ(cpu->device_allocated_bytes(), 0u);
  // Exactly the needed bytes are enough.
  EXPECT_NO_THROW(HybridEngine(*f.weights, *backend, p, f.workload, MemoryLimits(needed)));
}

TEST(EngineMemory, TooSmallDeviceIsRefusedWithTheNeededBytes) {
  Fixture f = load("llama-tiny");
  BackendOptions bo;
  bo.device_mem_gib = 1e-4;  // ~100 KiB: less than the model's embedding table
  auto backend = make_backend("cpu", bo);
  auto* cpu = dynamic_cast<CpuBackend*>(backend.get());
  const std::string msg =
      error_of([&] { HybridEngine engine(*f.weights, *backend, hybrid_plan(), f.workload); });
  EXPECT_NE(msg.find("of device memory"), std::string::npos) << msg;
  EXPECT_NE(msg.find("--gpu-mem-gib"), std::string::npos) << msg;
  EXPECT_EQ(cpu->host_allocated_bytes(), 0u);
}

// Over a sweep of device budgets, run's plans either are refused up front or build an engine
// (the engine's own device layout is checked while planning), and the engines that build,
// streaming layers or not, give the goldens' tokens.
TEST(EngineMemory, PlannedDeviceBudgetsBuildOrAreRefused) {
  Fixture f = load("llama-mqa-odd");
  int built = 0;
  // ~0.5 MiB is too little for anything; ~0.86 MiB fitted with the weights streamed and 2 MiB
  // everything resident, with the planner of this writing (llama-mqa-odd's 3 layers).
  for (double gib : {0.0005, 0.00086, 0.002}) {
    BackendOptions bo;
    bo.device_mem_gib = gib;
    EngineOptions o;
    o.policy = Policy::hybrid;
    o.block_tokens = 4;
    o.workload = f.workload;
    o.host_mem_gib = 1;
    std::unique_ptr<Generator> gen;
    try {
      gen = make_generator(o, *f.weights, make_backend("cpu", bo));
    } catch (const Error& e) {
      const std::string msg = e.what();
      EXPECT_TRUE(msg.find("GPU memory") != std::string::npos ||
                  msg.find("device memory") != std::string::npos)
          << msg;
      continue;
    }
    ++built;
    const Plan& p = *plan_of(*gen);
    EXPECT_LE(p.device_bytes, static_cast<int64_t>(gib * (1ull << 30)));
    const auto got = gen->generate(f.batch, SamplingParams{});
    for (size_t i = 0; i < got.size(); ++i)
      EXPECT_EQ(got[i].output, f.golden.cases[i].greedy) << gib << " GiB, case " << i;
  }
  EXPECT_GT(built, 0);
}

TEST(EngineMemory, PlannerRefusesAHostBudgetTooSmall) {
  Fixture f = load("opt-tiny");
  auto backend = make_backend("cpu");
  EngineOptions o;
  o.policy = Policy::kv;
  o.workload = f.workload;
  o.host_mem_gib = 1e-6;  // ~1 KiB
  const std::string msg = error_of([&] { make_generator(o, *f.weights, *backend); });
  EXPECT_NE(msg.find("host memory"), std::string::npos) << msg;
}

TEST(EngineMemory, BatchLargerThanPlannedIsRefusedBeforeItRuns) {
  Fixture f = load("opt-tiny");
  auto backend = make_backend("cpu");
  Workload small;
  small.prompt_lens = {4, 4};
  small.gen_lens = {4, 4};
  HybridEngine engine(*f.weights, *backend, hybrid_plan(), small);
  const std::string msg = error_of([&] { engine.generate(f.batch, SamplingParams{}); });
  EXPECT_NE(msg.find("planned for"), std::string::npos) << msg;
  EXPECT_TRUE(engine.trace().empty());  // nothing ran
}

// Pool chunks of 4 KiB cut every layer's cache into many segments (a 4-token fp32 K block of
// opt-tiny is 1 KiB) and put large weight parts in chunks of their own; tokens do not change.
TEST(EngineMemory, SmallChunksSplitCachesIntoSegments) {
  for (const std::string model : {"opt-tiny", "llama-mqa-odd"}) {
    Fixture f = load(model);
    auto backend = make_backend("cpu");
    for (int64_t gpu_cache_layers : {0, 1}) {
      HybridEngine engine(*f.weights, *backend, hybrid_plan(gpu_cache_layers), f.workload,
                          MemoryLimits(0, 4096));
      const auto got = engine.generate(f.batch, SamplingParams{});
      for (size_t i = 0; i < got.size(); ++i)
        EXPECT_EQ(got[i].output, f.golden.cases[i].greedy) << model << " case " << i;
    }
  }
}

}  // namespace
}  // namespace hs

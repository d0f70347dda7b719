// The memory pool and the run's memory layout: chunks never above the limit (a region never
// spans two), host pools packed to exactly the sum of their regions, device regions aligned,
// allocation all-or-nothing, and the engine's host regions equal to the planner's footprint
// formula (plan/footprint.h) byte for byte.
#include <gtest/gtest.h>

#include "backend/backend.h"
#include "backend/cpu/cpu_backend.h"
#include "cache/memory_pool.h"
#include "cache/run_memory.h"
#include "model/config.h"
#include "model/shapes.h"
#include "plan/footprint.h"
#include "test_support.h"
#include "util/error.h"

namespace hs {
namespace {

TEST(MemoryPool, PacksRegionsIntoChunksBelowTheLimit) {
  MemoryPool pool(MemoryKind::host, 1, 1000);
  const int a = pool.reserve(400, "weights");
  const int b = pool.reserve(400, "weights");
  const int c = pool.reserve(400, "cache");   // does not fit beside a and b: a second chunk
  const int d = pool.reserve(2500, "cache");  // larger than the limit: a chunk of its own
  const int e = pool.reserve(100, "staging");
  EXPECT_EQ(pool.bytes(), 400u + 400 + 400 + 2500 + 100);
  EXPECT_EQ(pool.num_chunks(), 4u);  // [a b] [c] [d] [e]
  EXPECT_EQ(pool.category_bytes("cache"), 2900u);
  EXPECT_NE(pool.describe().find("weights"), std::string::npos);

  CpuBackend cpu(1 << 20);
  pool.allocate(cpu);
  EXPECT_EQ(cpu.host_allocated_bytes(), pool.bytes());
  auto* pa = static_cast<char*>(pool.ptr(a));
  EXPECT_EQ(static_cast<char*>(pool.ptr(b)) - pa, 400);  // packed: no padding on the host
  (void)c;
  (void)d;
  (void)e;
}

TEST(MemoryPool, DeviceRegionsAreAligned) {
  MemoryPool pool(MemoryKind::device, 256);
  std::vector<int> r;
  for (size_t bytes : {3u, 100u, 257u, 1u, 4096u}) r.push_back(pool.reserve(bytes, "working set"));
  CpuBackend cpu(1 << 20);
  pool.allocate(cpu);
  EXPECT_EQ(cpu.device_allocated_bytes(), pool.bytes());
  const char* base = static_cast<char*>(pool.ptr(r[0]));
  for (int id : r) EXPECT_EQ((static_cast<char*>(pool.ptr(id)) - base) % 256, 0);
}

TEST(MemoryPool, GivesEverythingBackWhenAChunkCannotBeHad) {
  CpuBackend cpu(3000);  // device capacity: the second chunk does not fit
  MemoryPool pool(MemoryKind::device, 256, 2048);
  pool.reserve(2000, "a");
  pool.reserve(2000, "b");
  try {
    pool.allocate(cpu);
    FAIL() << "allocation beyond the device's capacity succeeded";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("chunk 2 of 2"), std::string::npos) << e.what();
  }
  EXPECT_EQ(cpu.device_allocated_bytes(), 0u);
}

TEST(MemoryPool, FreesItsChunksOnDestruction) {
  CpuBackend cpu(1 << 20);
  {
    MemoryPool pool(MemoryKind::host, 1);
    pool.reserve(12345, "x");
    pool.allocate(cpu);
    EXPECT_EQ(cpu.host_allocated_bytes(), 12345u);
  }
  EXPECT_EQ(cpu.host_allocated_bytes(), 0u);
}

// The engine's host regions (streamed weights + host caches) are the planner's host weight and
// cache bytes exactly; the planner's staging is what is left of the pool.
TEST(RunMemory, HostRegionsEqualThePlannersFootprint) {
  struct Case {
    std::string shape;
    Policy policy;
    double f;
    int64_t gpu_weight_layers, gpu_cache_layers, block_tokens;
  };
  for (const Case& k : {Case{"opt-125m", Policy::kv, 0, 0, 0, 16},
                        Case{"opt-125m", Policy::hybrid, 0.375, 3, 2, 16},
                        Case{"llama-3-8b", Policy::act, 1, 0, 5, 8},
                        Case{"llama-2-7b", Policy::recompute_tokens, 0, 2, 0, 16}}) {
    const ModelConfig c = model_shape(k.shape);
    Workload w;
    w.prompt_lens = {7, 100, 33, 64, 1};
    w.gen_lens = {5, 20, 1, 64, 9};
    Plan p;
    p.policy = k.policy;
    p.act_fraction = k.f;
    p.block_tokens = k.block_tokens;
    p.gpu_weight_layers = k.gpu_weight_layers;
    p.gpu_cache_layers = k.gpu_cache_layers;
    p.dtype = DType::f16;
    p.mini_batch_size = 2;
    p.mini_batches = {{0, 1}, {2, 3}, {4}};
    const Footprint fp = plan_footprint(c, p, w);

    RunShape s;
    s.config = c;
    s.dtype = DType::f16;
    s.block_tokens = k.block_tokens;
    s.act_fraction = k.f;
    s.keep_cache = k.policy != Policy::recompute_tokens;
    s.gpu_weight_layers = k.gpu_weight_layers;
    s.gpu_cache_layers = k.gpu_cache_layers;
    s.prompt_lens = w.prompt_lens;
    s.gen_lens = w.gen_lens;
    s.mini_batches = p.mini_batches;
    const RunMemory bare(s);  // no plan number: exactly the regions
    EXPECT_EQ(static_cast<int64_t>(bare.host.category_bytes("weights")), fp.host_weight_bytes)
        << k.shape;
    EXPECT_EQ(static_cast<int64_t>(bare.host.category_bytes("cache")), fp.host_cache_bytes)
        << k.shape;
    EXPECT_EQ(static_cast<int64_t>(bare.host.bytes()), fp.host_weight_bytes + fp.host_cache_bytes);

    s.host_pool_bytes = fp.host_pool_bytes;
    const RunMemory planned(s);
    EXPECT_EQ(static_cast<int64_t>(planned.host.bytes()), fp.host_pool_bytes) << k.shape;
    // 1 GiB chunks at most, unless a single region is larger.
    EXPECT_GE(planned.host.num_chunks(), planned.host.bytes() >> 30);

    s.host_pool_bytes = fp.host_weight_bytes;  // too small for the caches
    if (fp.host_cache_bytes > 0) {
      EXPECT_THROW(RunMemory too_small(s), Error);
    }
  }
}

}  // namespace
}  // namespace hs

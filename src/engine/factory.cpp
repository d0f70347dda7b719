#include "engine/factory.h"

#include <algorithm>
#include <fstream>
#include <stdexcept>

#include "engine/engine.h"
#include "engine/reference.h"
#include "plan/footprint.h"
#include "plan/planner.h"
#include "util/error.h"

namespace hs {

int64_t default_host_mem_bytes() {
  std::ifstream f("/proc/meminfo");
  std::string key;
  int64_t kib = 0;
  while (f >> key) {
    if (key == "MemTotal:" && f >> kib) return kib * 1024 / 10 * 8;
    f.ignore(1 << 12, '\n');
  }
  fail("cannot read MemTotal from /proc/meminfo: give the host memory budget (--host-mem-gib)");
}

Workload run_workload(const ModelConfig& c, int64_t batch_size, int64_t max_prompt_tokens,
                      int64_t max_new_tokens) {
  HS_CHECK(batch_size > 0, "the batch size must be > 0, got ", batch_size);
  HS_CHECK(max_prompt_tokens >= 0 && max_new_tokens >= 0,
           "prompt and generation lengths must be >= 0");
  HS_CHECK(c.max_positions >= 2, "the model's context (", c.max_positions, ") is too short");
  const int64_t gen = std::max<int64_t>(1, std::min(max_new_tokens, c.max_positions - 1));
  const int64_t room = c.max_positions - gen;  // prompt + generation fit the context
  const int64_t prompt = max_prompt_tokens > 0 ? std::min(max_prompt_tokens, room) : room;
  return Workload::uniform(batch_size, prompt, gen);
}

Plan plan_run(const ModelConfig& c, const EngineOptions& o, const Backend& backend) {
  HS_CHECK(o.workload.batch() > 0, "planning needs at least one request");
  PlanOptions po;
  po.policy = o.policy;
  if (o.policy == Policy::hybrid || o.policy == Policy::automatic) po.act_fraction = o.act_fraction;
  po.constants = o.constants;
  po.node.ranks = o.node ? o.node->size() : 1;
  po.node.shared_weights = o.share_weights && po.node.ranks > 1;
  po.node.device_in_host = backend.device_memory_is_host();
  // The ranks sharing weights plan with the same device budget, so that they plan alike.
  const int64_t capacity = static_cast<int64_t>(backend.device_capacity_bytes());
  const double device_gib =
      double(po.node.shared_weights ? o.node->min(capacity) : capacity) / kBytesPerGib;
  po.gpu_mem_gib = o.gpu_mem_gib > 0 ? std::min(o.gpu_mem_gib, device_gib) : device_gib;
  po.host_mem_gib =
      o.host_mem_gib > 0 ? o.host_mem_gib : double(default_host_mem_bytes()) / kBytesPerGib;
  po.dtype = backend.dtype();
  po.block_tokens = o.block_tokens;
  po.mini_batch_size = o.mini_batch_size;
  po.host_sets = o.host_sets;
  po.max_gpu_cache_layers = o.max_gpu_cache_layers;
  po.weight_format = o.weight_format;
  po.weight_format_auto = o.weight_format_auto;
  po.quant_group = o.quant_group;
  po.cache_format = o.cache_format;
  po.cache_format_auto = o.cache_format_auto;
  po.cache_group = o.cache_group;
  po.exchange_ranks = o.exchange_ranks;
  // The planner sizes plans from the engine's own layout (plan/footprint.h), so the plan fits
  // the budget as built; the budget is what the engine may allocate, the backend's workspaces
  // being already taken off device_capacity_bytes(). A disagreement is a bug, not bad input.
  const Plan p = make_plan(c, o.workload, po);
  const RunMemory layout(run_shape(c, p, o.workload, backend.dtype()));
  const int64_t need = static_cast<int64_t>(layout.device.bytes());
  const int64_t budget = static_cast<int64_t>(po.gpu_mem_gib * kBytesPerGib);
  if (need != p.device_bytes || need > budget ||
      static_cast<int64_t>(layout.host.bytes()) != p.host_pool_bytes ||
      static_cast<int64_t>(layout.node.bytes()) != p.shared_weight_bytes)
    throw std::logic_error(cat("the plan says ", p.device_bytes, " bytes of device memory and ",
                               p.host_pool_bytes, " of host pool, but the engine lays out ", need,
                               " and ", layout.host.bytes(), " (", layout.device.describe(),
                               "); the device budget is ", budget, " bytes"));
  return p;
}

namespace {
MemoryLimits limits_of(const EngineOptions& o) {
  MemoryLimits limits;
  if (o.host_mem_gib > 0)
    limits.host_budget_bytes = static_cast<int64_t>(o.host_mem_gib * kBytesPerGib);
  limits.node = o.node;
  return limits;
}
void check_engine_name(const EngineOptions& o) {
  HS_CHECK(o.engine == "hybrid" || o.engine == "reference", "unknown engine '", o.engine,
           "' (choose hybrid or reference)");
}
}  // namespace

std::unique_ptr<Generator> make_generator(const EngineOptions& o, const WeightSource& weights,
                                          Backend& backend) {
  check_engine_name(o);
  if (o.engine == "reference") return std::make_unique<ReferenceGenerator>(weights);
  const Plan plan = plan_run(weights.config(), o, backend);
  return std::make_unique<HybridEngine>(weights, backend, plan, o.workload, limits_of(o));
}

std::unique_ptr<Generator> make_generator(const EngineOptions& o, const WeightSource& weights,
                                          std::unique_ptr<Backend> backend) {
  check_engine_name(o);
  if (o.engine == "reference") return std::make_unique<ReferenceGenerator>(weights);
  const Plan plan = plan_run(weights.config(), o, *backend);
  return std::make_unique<HybridEngine>(weights, std::move(backend), plan, o.workload,
                                        limits_of(o));
}

const std::vector<TraceEvent>* trace_of(const Generator& g) {
  const auto* h = dynamic_cast<const HybridEngine*>(&g);
  return h ? &h->trace() : nullptr;
}

std::vector<TraceEvent> take_trace(Generator& g) {
  auto* h = dynamic_cast<HybridEngine*>(&g);
  if (!h) return {};
  std::vector<TraceEvent> events = h->trace();
  h->clear_trace();
  return events;
}

std::string trace_summary(const Generator& g) {
  const std::vector<TraceEvent>* t = trace_of(g);
  return t ? format_summary(summarize(*t)) : std::string();
}

const Plan* plan_of(const Generator& g) {
  const auto* h = dynamic_cast<const HybridEngine*>(&g);
  return h ? &h->plan() : nullptr;
}

double load_s_of(const Generator& g) {
  const auto* h = dynamic_cast<const HybridEngine*>(&g);
  return h ? h->load_s() : 0;
}

std::function<Lockstep(bool leaving)> lockstep_of(Generator& g) {
  auto* h = dynamic_cast<HybridEngine*>(&g);
  if (!h || !h->exchanges_weights()) return nullptr;
  return [h](bool leaving) { return h->join_step(leaving); };
}

}  // namespace hs

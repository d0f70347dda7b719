#include "plan/planner.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <future>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "plan/cost_model.h"
#include "plan/footprint.h"
#include "plan/mini_batches.h"
#include "util/error.h"

namespace hs {
namespace {

// One point of the search: a policy with its activation share.
struct Choice {
  Policy policy;
  double act_fraction;
};

struct Candidate {
  Plan plan;
  RunCost cost;
  Footprint footprint;
};

// Throughputs within this relative distance count as equal, so ties resolve by search order
// (smaller activation share first, larger mini-batches first) instead of by rounding noise.
constexpr double kTie = 1e-9;
// A host set beyond two must be predicted this much faster to be taken: it trades resident caches
// for lookahead, and within the replay's error (measured / predicted step 0.93-1.13) a smaller gain
// is noise. Measured on one H100 (opt-6.7b g32, 24 GiB; docs/BENCHMARKS.md, "Working sets: device
// caches apart, and a third host set"): p256 kv, predicted 3.5% faster with three sets, ran 6.1%
// faster; p256 act and p1024 auto, predicted within 1%, ran 1.5% slower and the same.
constexpr double kExtraSetMargin = 0.02;

// Predicted throughput, less the margin for host sets beyond two: what candidates are ranked by.
double score(const Candidate& c) {
  return c.cost.tokens_per_s / (1 + kExtraSetMargin * static_cast<double>(c.plan.host_sets - 2));
}

bool better(const Candidate& a, const Candidate& b) {
  return score(a) > score(b) * (1 + kTie);
}

std::string gib(int64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", to_gib(bytes));
  return buf;
}

std::string ms(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f ms", x);
  return buf;
}

std::string tok_s(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f tok/s", x);
  return buf;
}

std::string share(double f) {
  const double k = f * kActShareSteps;
  char buf[48];
  if (std::fabs(k - std::round(k)) < 1e-9)
    std::snprintf(buf, sizeof buf, "%.3f (%d/%d)", f, static_cast<int>(std::round(k)),
                  kActShareSteps);
  else
    std::snprintf(buf, sizeof buf, "%.3f", f);
  return buf;
}

void validate(const ModelConfig& c, const Workload& w, const PlanOptions& o) {
  HS_CHECK(w.batch() >= 1, "the workload is empty: --batch must be at least 1");
  HS_CHECK(w.gen_lens.size() == w.prompt_lens.size(), "workload has ", w.prompt_lens.size(),
           " prompt lengths but ", w.gen_lens.size(), " generation lengths");
  HS_CHECK(w.batch() < (int64_t(1) << 31), "batch of ", w.batch(), " requests is too large");
  HS_CHECK(o.exchange_ranks == 1 || (o.exchange_ranks == o.node.ranks && o.exchange_ranks > 1 &&
                                     o.constants.exchange_gbps > 0),
           "a weight exchange among ", o.exchange_ranks,
           " ranks needs that many ranks on the node (", o.node.ranks, ") and an all-gather rate (",
           o.constants.exchange_gbps, " GB/s)");
  for (int64_t i = 0; i < w.batch(); ++i) {
    HS_CHECK(w.prompt_lens[i] >= 1, "request ", i, ": prompt length ", w.prompt_lens[i],
             " must be at least 1");
    HS_CHECK(w.gen_lens[i] >= 1, "request ", i, ": generation length ", w.gen_lens[i],
             " must be at least 1");
    HS_CHECK(w.prompt_lens[i] + w.gen_lens[i] <= c.max_positions, "request ", i, ": prompt ",
             w.prompt_lens[i], " + generation ", w.gen_lens[i], " tokens exceed the model's ",
             c.max_positions, " positions; lower --prompt-len or --gen-len");
  }
  HS_CHECK(o.block_tokens >= 1, "--block-tokens must be at least 1, got ", o.block_tokens);
  HS_CHECK(o.gpu_mem_gib > 0, "--gpu-mem-gib must be positive, got ", o.gpu_mem_gib);
  HS_CHECK(o.host_mem_gib > 0, "--host-mem-gib must be positive, got ", o.host_mem_gib);
  HS_CHECK(o.node.ranks >= 1, "--ranks-per-node must be at least 1, got ", o.node.ranks);
  HS_CHECK(o.cache_format == CacheFormat::native || (o.cache_group >= 2 && o.cache_group % 2 == 0 &&
                                                     c.kv_dim() % 2 == 0 && c.hidden % 2 == 0),
           "--cache-group must be even and at least 2 (two int4 codes a byte), got ",
           o.cache_group);
  if (o.max_gpu_cache_layers)
    HS_CHECK(*o.max_gpu_cache_layers >= 0, "--max-gpu-cache-layers must be at least 0, got ",
             *o.max_gpu_cache_layers);
  if (o.mini_batch_size)
    HS_CHECK(*o.mini_batch_size >= 1, "--mini-batch-size must be at least 1, got ",
             *o.mini_batch_size);
  if (o.host_sets)
    HS_CHECK(*o.host_sets >= 2 && *o.host_sets <= kMaxHostSets, "--host-sets must be in [2, ",
             kMaxHostSets, "], got ", *o.host_sets);
  if (o.act_fraction) {
    const double f = *o.act_fraction;
    HS_CHECK(f >= 0 && f <= 1, "--act-fraction must be in [0, 1], got ", f);
    HS_CHECK(o.policy != Policy::kv || f == 0, "policy kv holds no activations: --act-fraction ", f,
             " needs --policy hybrid");
    HS_CHECK(o.policy != Policy::act || f == 1,
             "policy act holds only activations: ", "--act-fraction ", f, " needs --policy hybrid");
    HS_CHECK(o.policy != Policy::recompute_tokens,
             "policy recompute-tokens keeps no cache: ", "--act-fraction does not apply");
  }
}

std::vector<Choice> choices_for(const PlanOptions& o) {
  if (o.act_fraction) {
    if (o.policy == Policy::kv || o.policy == Policy::act) return {{o.policy, *o.act_fraction}};
    return {{Policy::hybrid, *o.act_fraction}};
  }
  std::vector<Choice> v;
  auto grid = [&](int from, int to) {
    for (int k = from; k <= to; ++k)
      v.push_back({Policy::hybrid, static_cast<double>(k) / kActShareSteps});
  };
  switch (o.policy) {
    case Policy::kv:
      return {{Policy::kv, 0}};
    case Policy::act:
      return {{Policy::act, 1}};
    case Policy::recompute_tokens:
      return {{Policy::recompute_tokens, 0}};
    case Policy::hybrid:
      grid(0, kActShareSteps);
      return v;
    case Policy::automatic:
      v.push_back({Policy::kv, 0});
      grid(1, kActShareSteps - 1);
      v.push_back({Policy::act, 1});
      v.push_back({Policy::recompute_tokens, 0});
      return v;
  }
  return v;
}

// Mini-batch sizes to try, largest first: ceil(B / k) for k = 1, 2, 3, 4, 6, 8, 12, 16, ...
// (about two per doubling: the weight re-reads per pass that small mini-batches cost grow
// linearly with the count, so finer steps change little).
std::vector<int64_t> mini_batch_sizes(int64_t batch, const PlanOptions& o) {
  if (o.mini_batch_size) return {std::min(*o.mini_batch_size, batch)};
  std::vector<int64_t> sizes;
  for (int64_t p = 1;; p *= 2) {
    for (int64_t k : {p, p + p / 2}) {
      const int64_t size = (batch + std::min(k, batch) - 1) / std::min(k, batch);
      if (sizes.empty() || size < sizes.back()) sizes.push_back(size);
    }
    if (p >= batch) break;
  }
  return sizes;
}

// Balanced mini-batches for plan p, by each request's cache bytes (recompute-tokens: its
// tokens): the ones the engine will run, so the footprint is that of the real layout.
std::vector<std::vector<int32_t>> balanced_mini_batches(const ModelConfig& c, const Plan& p,
                                                        const Workload& w) {
  std::vector<int64_t> request_bytes(static_cast<size_t>(w.batch()));
  for (int64_t i = 0; i < w.batch(); ++i) {
    const int64_t tokens = w.prompt_lens[i] + w.gen_lens[i];
    request_bytes[i] =
        p.policy == Policy::recompute_tokens ? tokens : request_cache_bytes_per_layer(c, p, tokens);
  }
  return assign_mini_batches(request_bytes, p.num_mini_batches);
}

// Fills the device memory left over by plan p (no resident layers yet, footprint `base`) with
// whole layers: weights or caches first, whichever saves more PCIe milliseconds per byte over
// the run. All that fits is taken, even where the prediction is GPU-bound without it: a
// resident layer never slows a run, lowers the host pool, and covers for a cost model that
// underrates PCIe. The counts are first estimated from per-layer sizes, then checked against
// the real layout (alignment padding), giving back layers until it fits the budget. Returns
// the footprint of the result.
Footprint fill_resident_layers(const ModelConfig& c, const Workload& w, Plan& p,
                               int64_t budget_bytes, const Footprint& base,
                               int64_t max_cache_layers) {
  const int64_t L = c.n_layers;
  const int64_t W = layer_weight_bytes(c, p.dtype);  // a resident layer, expanded
  const int64_t Wc = streamed_layer_bytes(c, p);     // a streamed one, as it crosses PCIe
  // Streaming takes the two layer buffers, and with compressed weights two staging buffers.
  const int64_t stream_buffers = 2 * W + (p.weight_format == WeightFormat::native ? 0 : 2 * Wc);
  // sum_i cache_i, one layer, as the device holds it (a compressed host cache is smaller).
  const int64_t cache_layer_bytes =
      static_cast<int64_t>(static_cast<double>(base.host_cache_bytes / L) *
                           static_cast<double>(kv_bytes_per_token(c, p.dtype)) /
                           static_cast<double>(host_kv_bytes_per_token(c, p)));
  int64_t left = budget_bytes - base.device_bytes;

  const RunCost cost = predict_run(c, p, w);
  // With compressed weights, the layers that do not all fit in the element type are held on the
  // device as stored (Plan::gpu_stored_weight_layers): W / Wc times as many layers for the same
  // memory, each still expanded every phase. A resident layer's weights skip one upload per
  // phase (prefill + decode steps) of Wc bytes and take W (or, stored, Wc) bytes.
  const bool compressed = p.weight_format != WeightFormat::native;
  const int64_t resident_bytes = compressed ? Wc : W;
  const double weight_ms_per_byte =
      static_cast<double>(cost.decode_steps + 1) *
      (static_cast<double>(Wc) / static_cast<double>(resident_bytes)) /
      (p.constants.h2d_gbps * 1e6);
  // A resident cache layer skips its share of the cache loads and write-backs.
  const double cache_ms_per_byte =
      cache_layer_bytes == 0
          ? 0
          : (static_cast<double>(cost.decode_cache_h2d_bytes) / L / (p.constants.h2d_gbps * 1e6) +
             static_cast<double>(cost.write_back_bytes) / L / (p.constants.d2h_gbps * 1e6)) /
                static_cast<double>(cache_layer_bytes);

  // Where the weights resident on the device are counted: whole layers in the element type, or
  // compressed layers held as stored.
  bool stored = false;
  auto fill_weights = [&] {
    // All L layers resident also frees the streaming buffers: it fits when L W - those <= left.
    if (L * W - stream_buffers <= left) {
      p.gpu_weight_layers = L;
      left -= L * W - stream_buffers;
    } else if (compressed) {
      stored = true;
      p.gpu_stored_weight_layers = std::min(L, left / Wc);
      left -= p.gpu_stored_weight_layers * Wc;
    } else {
      p.gpu_weight_layers = std::min(L, left / W);
      left -= p.gpu_weight_layers * W;
    }
  };
  auto fill_caches = [&] {
    if (cache_layer_bytes == 0) return;
    p.gpu_cache_layers = std::min({L, left / cache_layer_bytes, max_cache_layers});
    left -= p.gpu_cache_layers * cache_layer_bytes;
  };
  const bool weights_first = weight_ms_per_byte >= cache_ms_per_byte;
  if (weights_first) {
    fill_weights();
    fill_caches();
  } else {
    fill_caches();
    fill_weights();
  }
  // The estimate leaves out alignment padding: give back the layers filled last until the
  // layout fits (base fits, so this ends).
  for (;;) {
    const Footprint fp = plan_footprint(c, p, w);
    if (fp.device_bytes <= budget_bytes) return fp;
    int64_t& weights = stored ? p.gpu_stored_weight_layers : p.gpu_weight_layers;
    int64_t& last = weights_first ? p.gpu_cache_layers : weights;
    int64_t& first = weights_first ? weights : p.gpu_cache_layers;
    if (last > 0)
      --last;
    else
      --first;
  }
}

std::string explain(const ModelConfig& c, const Candidate& best,
                    const std::map<Policy, Candidate>& best_of, const PlanOptions& o) {
  const Plan& p = best.plan;
  const RunCost& r = best.cost;
  std::string s;
  if (p.policy == Policy::recompute_tokens) {
    s += "recompute-tokens keeps no cache: every step recomputes all positions from token ids. ";
  } else if (p.act_bytes_per_token >= p.kv_bytes_per_token && p.act_fraction == 0) {
    s += cat("An activation checkpoint (", p.act_bytes_per_token,
             " B per token per layer) is not smaller than K and V (", p.kv_bytes_per_token,
             " B; grouped-query attention), so checkpoints would add PCIe bytes and recompute: ",
             "all cache blocks are K/V. ");
  } else if (p.act_fraction > 0 && p.act_fraction < 1) {
    s += cat("Holding ", share(p.act_fraction), " of the cache blocks as activation checkpoints (",
             p.act_bytes_per_token, " B per token per layer instead of ", p.kv_bytes_per_token,
             " B of K/V) balances PCIe (", ms(r.mean_pcie_ms), " per step) against GPU time (",
             ms(r.mean_gpu_ms), ", of it ", ms(r.mean_recompute_ms), " K/V recompute). ");
  } else if (p.act_fraction == 1) {
    s += cat("All cache blocks are activation checkpoints: even so PCIe (", ms(r.mean_pcie_ms),
             " per step) is ", r.mean_pcie_ms >= r.mean_gpu_ms ? "the bottleneck" : "not far",
             " beside the GPU (", ms(r.mean_gpu_ms), ", of it ", ms(r.mean_recompute_ms),
             " K/V recompute). ");
  } else {
    s += cat("All cache blocks are K/V: ",
             r.mean_pcie_ms <= r.mean_gpu_ms
                 ? cat("the step is GPU-bound (PCIe ", ms(r.mean_pcie_ms), ", GPU ",
                       ms(r.mean_gpu_ms), "), so recompute would only add time. ")
                 : cat("checkpoints would not shorten the step (PCIe ", ms(r.mean_pcie_ms),
                       ", GPU ", ms(r.mean_gpu_ms), "). "));
  }
  if (p.gpu_stored_weight_layers > 0)
    s += cat(p.gpu_stored_weight_layers, " of ", c.n_layers,
             " layers' weights are held on the GPU as ", weight_format_name(p.weight_format),
             " (expanded each step, no PCIe); ");
  s += cat(p.gpu_weight_layers, " of ", c.n_layers, " layers' weights and ", p.gpu_cache_layers,
           " layers' caches stay on the GPU; ", p.num_mini_batches, " mini-batch",
           p.num_mini_batches == 1 ? "" : "es", " of up to ", p.mini_batch_size, " requests.");
  if (o.policy == Policy::automatic && !o.act_fraction) {
    s += cat(" auto chose ", policy_name(p.policy), " by predicted throughput:");
    const char* sep = " ";
    for (Policy q : {Policy::kv, Policy::hybrid, Policy::act, Policy::recompute_tokens}) {
      auto it = best_of.find(q);
      char buf[64];
      if (it == best_of.end())
        std::snprintf(buf, sizeof buf, "%s does not fit", policy_name(q));
      else
        std::snprintf(buf, sizeof buf, "%s %.1f tok/s", policy_name(q),
                      it->second.cost.tokens_per_s);
      s += sep;
      s += buf;
      sep = ", ";
    }
    s += ".";
  }
  return s;
}

}  // namespace

namespace {
Plan make_plan_in_format(const ModelConfig& c, const Workload& w, const PlanOptions& o);
}  // namespace

// With lossy formats allowed (weights, caches or both), the plan of each combination, and the
// fastest unless a less lossy one is within kLossyMargin of it: a compressed format is taken
// only where it pays. The combinations are planned concurrently (each is independent).
Plan make_plan(const ModelConfig& c, const Workload& w, const PlanOptions& o) {
  if (!o.weight_format_auto && !o.cache_format_auto) return make_plan_in_format(c, w, o);
  constexpr double kLossyMargin = 0.02;
  const std::vector<WeightFormat> weights =
      o.weight_format_auto
          ? std::vector<WeightFormat>{WeightFormat::native, WeightFormat::int8, WeightFormat::int4}
          : std::vector<WeightFormat>{o.weight_format};
  const std::vector<CacheFormat> caches =
      o.cache_format_auto
          ? std::vector<CacheFormat>{CacheFormat::native, CacheFormat::int8, CacheFormat::int4}
          : std::vector<CacheFormat>{o.cache_format};
  // Least lossy first: every weight format with native caches, then with int8 caches, ...
  struct Try {
    WeightFormat wf;
    CacheFormat cf;
    std::future<Plan> plan;
  };
  std::vector<Try> tries;
  for (CacheFormat cf : caches)
    for (WeightFormat wf : weights) {
      PlanOptions at = o;
      at.weight_format_auto = at.cache_format_auto = false;
      at.weight_format = wf;
      at.cache_format = cf;
      tries.push_back({wf, cf, std::async(std::launch::async, [&c, &w, at] {
                         return make_plan_in_format(c, w, at);
                       })});
    }
  auto name = [&](const Try& t) {
    std::string n;
    if (o.weight_format_auto) n = cat("weights ", weight_format_name(t.wf));
    if (o.cache_format_auto) n += cat(n.empty() ? "" : " ", "caches ", cache_format_name(t.cf));
    return n;
  };
  std::optional<Plan> best;
  std::string tried, last_error;
  for (Try& t : tries) {
    try {
      Plan p = t.plan.get();
      tried += cat(tried.empty() ? "" : ", ", name(t), " ", tok_s(p.predicted_tokens_per_s));
      if (!best || p.predicted_tokens_per_s > best->predicted_tokens_per_s * (1 + kLossyMargin))
        best = std::move(p);
    } catch (const Error& e) {  // this combination does not fit; a smaller one may
      tried += cat(tried.empty() ? "" : ", ", name(t), " does not fit");
      last_error = e.what();
    }
  }
  HS_CHECK(best, last_error);
  const char* flags = o.weight_format_auto && o.cache_format_auto
                          ? "--weight-format and --cache-format"
                      : o.weight_format_auto ? "--weight-format"
                                             : "--cache-format";
  best->explanation +=
      cat(" Weights ", weight_format_name(best->weight_format), ", caches ",
          cache_format_name(best->cache_format), " (", flags, " auto-lossy: ", tried,
          "; a more compressed format is taken only when over 2% faster).");
  return *best;
}

namespace {

Plan make_plan_in_format(const ModelConfig& c, const Workload& w, const PlanOptions& o) {
  validate(c, w, o);
  const int64_t batch = w.batch();
  const int64_t gpu_budget = static_cast<int64_t>(o.gpu_mem_gib * kBytesPerGib);
  const int64_t host_budget = static_cast<int64_t>(o.host_mem_gib * kBytesPerGib);

  Plan base;
  base.requested = o.policy;
  base.block_tokens = o.block_tokens;
  base.dtype = o.dtype;
  base.weight_format = o.weight_format;
  base.quant_group = o.quant_group;
  base.cache_format = o.cache_format;
  base.cache_group = o.cache_group;
  base.exchange_ranks = o.exchange_ranks;
  base.constants = o.constants;
  base.node = o.node;
  base.kv_bytes_per_token = host_kv_bytes_per_token(c, base);
  base.act_bytes_per_token = host_act_bytes_per_token(c, base);

  std::optional<Candidate> best;
  std::map<Policy, Candidate> best_of;                // per policy, for the explanation of auto
  std::optional<Footprint> least_device, least_host;  // for the error when nothing fits
  // A third working set for host-cache items lets their loads run further ahead of compute
  // through stretches of device-cache layers (plan.h: working_set_turns), for one more item's
  // working memory; the replay weighs the two (score). It is tried only where the plan with two
  // keeps some caches on the GPU and some on the host: elsewhere there is no such stretch, and
  // trying it everywhere doubled the planning time of large models.
  for (const Choice& ch : choices_for(o)) {
    for (int64_t size : mini_batch_sizes(batch, o)) {
      Plan shared = base;  // what the host-set counts below have in common
      shared.policy = ch.policy;
      shared.act_fraction = ch.act_fraction;
      shared.num_mini_batches = (batch + size - 1) / size;
      shared.mini_batch_size = (batch + shared.num_mini_batches - 1) / shared.num_mini_batches;
      shared.mini_batches = balanced_mini_batches(c, shared, w);
      int64_t two_resident = -1;  // caches the two-set plan keeps on the GPU (-1: does not fit)
      for (int64_t host_sets :
           o.host_sets ? std::vector<int64_t>{*o.host_sets} : std::vector<int64_t>{2, 3}) {
        if (!o.host_sets && host_sets > 2 && (two_resident <= 0 || two_resident >= c.n_layers))
          continue;
        Plan p = shared;
        p.host_sets = host_sets;
        const Footprint bare = plan_footprint(c, p, w);
        if (bare.device_bytes > gpu_budget) {
          if (!least_device || bare.device_bytes < least_device->device_bytes) least_device = bare;
          continue;
        }
        const Footprint fp = fill_resident_layers(c, w, p, gpu_budget, bare,
                                                  o.max_gpu_cache_layers.value_or(c.n_layers));
        if (fp.node_host_bytes > host_budget) {
          if (!least_host || fp.node_host_bytes < least_host->node_host_bytes) least_host = fp;
          continue;
        }
        if (host_sets == 2) two_resident = p.gpu_cache_layers;
        Candidate cand{p, predict_run(c, p, w), fp};
        auto it = best_of.find(p.policy);
        if (it == best_of.end() || better(cand, it->second)) best_of[p.policy] = cand;
        if (!best || better(cand, *best)) best = cand;
      }
    }
  }

  if (!best && !least_host) {
    const Footprint& f = *least_device;
    fail("the plan needs ", gib(f.device_bytes), " GiB of GPU memory but the budget is ",
         gib(gpu_budget), " GiB (model-wide weights ", gib(f.device_global_weight_bytes),
         " GiB, two layers of weights in flight ", gib(f.device_layer_weight_bytes),
         " GiB, the working set of the smallest mini-batches ", gib(f.working_set_bytes),
         " GiB); lower --prompt-len/--gen-len, or raise --gpu-mem-gib");
  }
  if (!best) {
    const Footprint& f = *least_host;
    const NodeLayout& n = o.node;
    const std::string per_rank =
        n.ranks > 1 ? cat(" a rank, x ", n.ranks, " ranks of the node") : std::string();
    fail("the plan needs ", gib(f.node_host_bytes), " GiB of host memory but the budget is ",
         gib(host_budget), " GiB (weights not resident on the GPU ", gib(f.host_weight_bytes),
         n.shared_weights ? " GiB once for the node" : " GiB", n.shared_weights ? "" : per_rank,
         ", caches at their final size ", gib(f.host_cache_bytes), " GiB", per_rank, ", staging ",
         gib(f.host_staging_bytes), " GiB",
         n.device_in_host
             ? cat(", the cpu backend's device memory ", gib(f.device_bytes), " GiB", per_rank)
             : std::string(),
         "); lower --batch, --prompt-len/--gen-len",
         n.ranks > 1 && !n.shared_weights ? ", share the weights (--share-weights node)" : "",
         n.ranks > 1 ? ", run fewer ranks a node" : "", ", or raise --host-mem-gib");
  }

  // The footprint is that of the layout the engine allocates (plan/footprint.h).
  Plan& p = best->plan;
  p.host_pool_bytes = best->footprint.host_pool_bytes;
  p.shared_weight_bytes = best->footprint.shared_weight_bytes;
  p.node_host_bytes = best->footprint.node_host_bytes;
  p.device_bytes = best->footprint.device_bytes;
  const RunCost& r = best->cost;
  p.predicted_pcie_ms = r.mean_pcie_ms;
  p.predicted_gpu_ms = r.mean_gpu_ms;
  p.predicted_step_ms = r.mean_step_ms;
  p.predicted_prefill_ms = r.prefill.total_ms;
  p.predicted_tokens_per_s = r.tokens_per_s;
  p.explanation = explain(c, *best, best_of, o);
  return p;
}

}  // namespace

}  // namespace hs

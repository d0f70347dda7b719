#include "engine/engine.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>

#include "plan/footprint.h"
#include "plan/mini_batches.h"
#include "util/error.h"

namespace hs {
namespace {

// A failure inside a step of the weight exchange: the peers are in the step too and would wait
// in its next all-gather for ever, so the process ends and the launcher ends the job.
// The step agreement of the weight exchange: each rank says what it does, and the largest wins.
constexpr int64_t kRunsStep = 2, kIdle = 1, kLeaving = 0;

[[noreturn]] void end_in_step(const std::exception& e) {
  std::fprintf(stderr,
               "hybridserve: failed inside a step of the weight exchange, which the node's other "
               "ranks are in too: %s\nhybridserve: ending the process so that the job ends; "
               "--resume completes it\n",
               e.what());
  std::abort();
}

}  // namespace

// ---- construction: plan, memory, weights ------------------------------------------------------

HybridEngine::HybridEngine(const WeightSource& weights, Backend& backend, const Plan& plan,
                           const Workload& capacity, const MemoryLimits& limits)
    : cfg_(weights.config()), b_(backend), plan_(plan), capacity_(capacity), tracer_(backend) {
  init(weights, limits);
}

HybridEngine::HybridEngine(const WeightSource& weights, std::unique_ptr<Backend> backend,
                           const Plan& plan, const Workload& capacity, const MemoryLimits& limits)
    : owned_backend_(std::move(backend)),
      cfg_(weights.config()),
      b_(*owned_backend_),
      plan_(plan),
      capacity_(capacity),
      tracer_(*owned_backend_) {
  init(weights, limits);
}

void HybridEngine::init(const WeightSource& weights, const MemoryLimits& limits) {
  HS_CHECK(plan_.policy != Policy::automatic, "the engine needs a resolved plan (policy auto is ",
           "resolved by the planner)");
  HS_CHECK(plan_.dtype == b_.dtype(), "the plan is for ", dtype_name(plan_.dtype),
           " but the backend computes in ", dtype_name(b_.dtype()));
  HS_CHECK(capacity_.batch() > 0 && capacity_.gen_lens.size() == capacity_.prompt_lens.size(),
           "the engine's workload needs at least one request, with prompt and generation lengths");
  HS_CHECK(plan_.block_tokens > 0, "block_tokens must be > 0, got ", plan_.block_tokens);
  if (plan_.exchange_ranks > 1) {
    HS_CHECK(limits.node && limits.node->size() == plan_.exchange_ranks,
             "the plan exchanges weights among ", plan_.exchange_ranks,
             " ranks but this rank's node group has ", limits.node ? limits.node->size() : 1);
    HS_CHECK(plan_.node.shared_weights,
             "the weight exchange copies each rank's share from the node's one copy of the "
             "weights: it needs shared weights (--share-weights node)");
    exchange_ = limits.node;
    // On a GPU the shares are gathered in device memory by the backend (NCCL), on the cpu
    // backend, whose device memory is host memory, by the node group (MPI).
    if (!b_.device_memory_is_host()) {
      const std::string why = b_.device_exchange_unavailable();
      HS_CHECK(why.empty(), "--weight-exchange nccl: ", why);
      NodeGroup* node = limits.node;
      together(*node, "joining the node's NCCL exchange", [&] {
        b_.join_exchange(node->rank(), node->size(),
                         [node](const std::string& id) { return node->broadcast(id); });
      });
      device_exchange_ = true;
    }
  }
  const double f = plan_.act_fraction;
  HS_CHECK(f >= 0 && f <= 1, "the activation share must be in [0, 1], got ", f);
  HS_CHECK(plan_.policy != Policy::kv || f == 0,
           "policy kv holds no checkpoints, but the plan's activation share is ", f);
  HS_CHECK(plan_.policy != Policy::act || f == 1,
           "policy act holds only checkpoints, but the plan's activation share is ", f);
  // Where the device pool lives is the backend's fact, whatever a hand-made plan says.
  plan_.node.device_in_host = b_.device_memory_is_host();
  keep_cache_ = plan_.policy != Policy::recompute_tokens;
  if (!keep_cache_) plan_.act_fraction = 0;
  elem_ = static_cast<int64_t>(dtype_bytes(b_.dtype()));
  if (plan_.mini_batches.empty()) {
    plan_.mini_batches = default_mini_batches(capacity_.batch(), plan_.mini_batch_size);
    plan_.num_mini_batches = static_cast<int64_t>(plan_.mini_batches.size());
  }
  // A hand-made plan leaves the memory to be filled in: from the layout, as the planner does.
  if (plan_.host_pool_bytes == 0 || plan_.kv_bytes_per_token == 0) {
    const Footprint f = plan_footprint(cfg_, plan_, capacity_);
    if (plan_.host_pool_bytes == 0) plan_.host_pool_bytes = f.host_pool_bytes;
    if (plan_.device_bytes == 0) plan_.device_bytes = f.device_bytes;
    plan_.kv_bytes_per_token =
        2 * cache_row_bytes(plan_.cache_format, cfg_.kv_dim(), plan_.cache_group, elem_);
    plan_.act_bytes_per_token =
        cache_row_bytes(plan_.cache_format, cfg_.hidden, plan_.cache_group, elem_);
  }

  for (int64_t l = 0; l < cfg_.n_layers; ++l) {
    streamed_.push_back(hs::streams_weights(plan_, cfg_.n_layers, l));
    stored_on_device_.push_back(stores_weights_on_device(plan_, cfg_.n_layers, l));
    host_cache_.push_back(host_cache_layer(plan_, cfg_.n_layers, l));
  }

  const RunShape shape = run_shape(cfg_, plan_, capacity_, b_.dtype(), limits.max_chunk_bytes);
  mem_ = std::make_unique<RunMemory>(shape);
  // The turns of any step use the sets host_sets (at least two) mini-batches use, every set
  // of each cache home the plan has: exactly the sets laid out, or an item would index past
  // them.
  int sets_used = 0;
  for (const WorkingSetTurn& t : working_set_turns(plan_.host_sets, host_cache_, plan_.host_sets))
    sets_used = std::max(sets_used, t.set + 1);
  HS_CHECK(sets_used == static_cast<int>(mem_->sets.size()), "the plan's items take turns on ",
           sets_used, " working sets but ", mem_->sets.size(), " are laid out");

  // The ranks this engine shares its streamed weights with (a group of one: nobody).
  const bool shared = plan_.node.shared_weights;
  HS_CHECK(!shared || (limits.node && limits.node->size() == plan_.node.ranks),
           "the plan shares the weights among ", plan_.node.ranks,
           " ranks but this rank's node group has ", limits.node ? limits.node->size() : 1);
  LoneGroup alone;
  NodeGroup& g = shared ? *limits.node : alone;
  const auto t0 = std::chrono::steady_clock::now();

  // Both budgets, before anything big is allocated; then the rank's own pools. Every rank of
  // the node reaches the next collective step whether or not this one failed here.
  together(g, "allocating its memory", [&] {
    const int64_t host_budget =
        limits.host_budget_bytes > 0 ? limits.host_budget_bytes : default_host_mem_bytes();
    const int64_t node_need = plan_.node.host_bytes(static_cast<int64_t>(mem_->node.bytes()),
                                                    static_cast<int64_t>(mem_->host.bytes()),
                                                    static_cast<int64_t>(mem_->device.bytes()));
    HS_CHECK(node_need <= host_budget, "the run needs ", node_need, " bytes (",
             format_gib(double(node_need)), ") of host memory (",
             shared ? "weights shared by the node's ranks " +
                          format_gib(double(mem_->node.bytes())) + ", each rank's pool: "
                    : std::string(),
             mem_->host.describe(),
             plan_.node.ranks > 1 ? cat(", x ", plan_.node.ranks, " ranks") : std::string(),
             ") but the host budget is ", host_budget, " bytes (", format_gib(double(host_budget)),
             "): lower the batch size, the prompt or generation length (--max-new-tokens), or "
             "keep more layers' caches on the GPU (--gpu-mem-gib), or raise --host-mem-gib");
    const int64_t device_need = static_cast<int64_t>(mem_->device.bytes());
    const int64_t device_have = static_cast<int64_t>(b_.device_capacity_bytes());
    HS_CHECK(device_need <= device_have, "the run needs ", device_need, " bytes (",
             format_gib(double(device_need)), ") of device memory (", mem_->device.describe(),
             ") but the device has ", device_have, " bytes (", format_gib(double(device_have)),
             "): lower the batch or mini-batch size, the prompt or generation length, or the "
             "GPU-resident layers, or raise --gpu-mem-gib");
    mem_->host.allocate(b_);
    mem_->device.allocate(b_);
  });

  // The node pool: every rank must lay out the same weights in it.
  if (shared && mem_->node.bytes() > 0) {
    std::string layout = cat(dtype_name(b_.dtype()), " ", weight_format_name(plan_.weight_format),
                             ", ", mem_->node.bytes(), " bytes, layers");
    for (int64_t l = 0; l < cfg_.n_layers; ++l)
      if (streams_weights(static_cast<int>(l)) && !stored_on_device_[static_cast<size_t>(l)])
        layout += cat(" ", l);
    const std::string first = g.broadcast(layout);
    together(g, "agreeing on the shared weights' layout", [&] {
      HS_CHECK(first == layout, "this rank's plan lays out the node's shared weights as (", layout,
               ") but the node's first rank as (", first,
               "): the ranks of a node must plan alike (same options, model and budgets)");
    });
    segment_ = std::make_unique<SharedSegment>(g, mem_->node.bytes());
    together(g, "registering the shared weights", [&] { mem_->node.place(b_, segment_->base()); });
  }

  // Weights: streamed layers into the host (or node) pool, each rank of a node its share of
  // them; model-wide parts and resident layers straight to the device, one part at a time
  // through a temporary host buffer.
  const DType dt = b_.dtype();
  layer_specs_ = layer_parts(cfg_, 0);
  for (const PartSpec& spec : layer_specs_) {
    compressed_.push_back(is_compressed(spec, plan_.weight_format));
    part_bytes_.push_back(stored_part_bytes(spec, dt, plan_.weight_format, plan_.quant_group));
    streamed_bytes_ += part_bytes_.back();
  }
  share_bytes_ = (streamed_bytes_ + plan_.exchange_ranks - 1) / plan_.exchange_ranks;
  const int L = static_cast<int>(cfg_.n_layers);
  resident_.resize(static_cast<size_t>(L));
  together(g, "loading the weights", [&] {
    std::vector<char> tmp;
    std::vector<float> dense;  // a part to compress, in fp32
    // A streamed part as held (stored_part_bytes of it) into dst: compressed parts as the file
    // stores them where it does in the plan's format (e.g. a GGUF's Q4_1 blocks for int4 in
    // groups of 32), else quantised once, here, on the machine's cores; the others as read.
    auto store = [&](const PartSpec& spec, bool compressed, void* dst) {
      if (compressed && weights.read_stored(spec, plan_.weight_format, plan_.quant_group, dst))
        return;
      if (compressed) {
        dense.resize(static_cast<size_t>(spec.numel()));
        weights.read(spec, DType::f32, dense.data());
        quantize(plan_.weight_format, dense.data(), part_rows(spec), part_cols(spec),
                 plan_.quant_group, dst);
      } else {
        weights.read(spec, dt, dst);
      }
    };
    // `bytes` that fill() writes into a host buffer, copied to the device.
    auto upload = [&](void* device_dst, int64_t bytes, const std::function<void(void*)>& fill) {
      tmp.resize(static_cast<size_t>(bytes));
      fill(tmp.data());
      b_.copy_h2d(device_dst, tmp.data(), tmp.size(), Stream::weights);
      b_.synchronize();  // tmp is reused by the next part
    };
    auto upload_part = [&](const PartSpec& spec, void* device_dst) {
      upload(device_dst, spec.numel() * elem_, [&](void* to) { weights.read(spec, dt, to); });
    };
    const std::vector<PartSpec> globals = global_parts(cfg_);
    for (size_t i = 0; i < globals.size(); ++i) {
      void* d = dev(mem_->device_global_parts[i]);
      upload_part(globals[i], d);
      global_[static_cast<size_t>(globals[i].part)] = d;
    }
    // A streamed part is this rank's to read when its first byte falls in the rank's 1/N of
    // the pool: contiguous shares of about equal bytes.
    const MemoryPool& pool = mem_->weight_pool();
    const double share_bytes = double(pool.bytes()) / g.size();  // g: alone unless shared
    int64_t offset = 0;
    for (int l = 0; l < L; ++l) {
      const std::vector<PartSpec> specs = layer_parts(cfg_, l);
      for (size_t i = 0; i < specs.size(); ++i) {
        if (!streams_weights(l)) {
          void* d = dev(mem_->device_layer_parts[l][i]);
          upload_part(specs[i], d);
          resident_[static_cast<size_t>(l)][static_cast<size_t>(specs[i].part)] = d;
          continue;
        }
        if (stored_on_device_[static_cast<size_t>(l)]) {  // every rank its own, on its device
          upload(dev(mem_->device_stored_parts[l][i]), part_bytes_[i],
                 [&](void* to) { store(specs[i], compressed_[i], to); });
          continue;
        }
        if (static_cast<int>(double(offset) / share_bytes) == g.rank()) {
          store(specs[i], compressed_[i], pool.ptr(mem_->host_layer_parts[l][i]));
        }
        offset += part_bytes_[i];
      }
    }
  });
  if (segment_) segment_->make_read_only();
  load_s_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  for (int buf = 0; buf < 2; ++buf) {
    for (size_t i = 0; i < mem_->weight_buffer_parts[buf].size(); ++i)
      buffer_[buf][static_cast<size_t>(layer_specs_[i].part)] =
          dev(mem_->weight_buffer_parts[buf][i]);
    for (size_t i = 0; i < mem_->weight_staging_parts[buf].size(); ++i)
      staging_[buf][static_cast<size_t>(layer_specs_[i].part)] =
          dev(mem_->weight_staging_parts[buf][i]);
  }
}

HybridEngine::~HybridEngine() {
  // Nothing may still read or write the pools when they are given back.
  b_.synchronize();
}

const HybridEngine::LayerWeights& HybridEngine::weights_of(int layer) const {
  return streams_weights(layer) ? buffer_[weight_buffer(layer)]
                                : resident_[static_cast<size_t>(layer)];
}

int HybridEngine::weight_buffer(int layer) const {
  return static_cast<int>(
      spread_before(layer, cfg_.n_layers - plan_.gpu_weight_layers, cfg_.n_layers) % 2);
}

const SlotArray& HybridEngine::cache_array(int layer, CacheArray a) const {
  // The i-th host (device) cache layer is the i-th of its store.
  const int host_before =
      static_cast<int>(spread_before(layer, cfg_.n_layers - plan_.gpu_cache_layers, cfg_.n_layers));
  return host_cache(layer) ? mem_->host_cache.array(host_before, a)
                           : mem_->device_cache.array(layer - host_before, a);
}

void HybridEngine::norm(int l, Part w, Part b, void* out, const void* x, int64_t rows) {
  const LayerWeights& lw = weights_of(l);
  if (cfg_.norm == NormKind::layernorm)
    b_.layernorm(out, x, lw[static_cast<size_t>(w)], lw[static_cast<size_t>(b)], rows, cfg_.hidden,
                 cfg_.norm_eps);
  else
    b_.rmsnorm(out, x, lw[static_cast<size_t>(w)], rows, cfg_.hidden, cfg_.norm_eps);
}

// ---- a batch ----------------------------------------------------------------------------------

std::vector<std::vector<int32_t>> HybridEngine::form_mini_batches(size_t batch) const {
  // The plan's balanced mini-batches when this is the batch it was made for; otherwise
  // consecutive groups of its mini-batch size.
  if (static_cast<int64_t>(batch) == capacity_.batch()) return plan_.mini_batches;
  return default_mini_batches(static_cast<int64_t>(batch), plan_.mini_batch_size);
}

std::string HybridEngine::misfit(const std::vector<GenRequest>& batch,
                                 const std::vector<size_t>& group) const {
  RunShape s = mem_->shape;
  s.prompt_lens.clear();
  s.gen_lens.clear();
  std::vector<int64_t> caps;
  for (size_t i : group) {
    const GenRequest& r = batch[i];
    HS_CHECK(!r.prompt.empty(), "request '", r.id, "' has an empty prompt");
    s.prompt_lens.push_back(static_cast<int64_t>(r.prompt.size()));
    s.gen_lens.push_back(generation_budget(cfg_, r));
    caps.push_back(s.keep_cache ? cache_capacity_tokens(s.prompt_lens.back(), s.gen_lens.back())
                                : 0);
  }
  const CacheLayout need =
      make_cache_layout(cfg_, s.dtype, s.block_tokens, s.act_fraction, caps, s.max_chunk_bytes);
  const std::vector<std::vector<int32_t>> mbs = form_mini_batches(group.size());
  ItemCapacity widest;
  int64_t x_rows = 0;
  for (const auto& mb : mbs) {
    const ItemCapacity ic = item_capacity(s, mb);
    widest.widen(ic);
    x_rows += ic.tokens;
  }
  const CacheLayout& have = mem_->cache_layout;
  if (need.kv_slots <= have.kv_slots && need.act_slots <= have.act_slots &&
      widest.fits_in(mem_->item) && x_rows <= mem_->x_rows &&
      mbs.size() <= mem_->device_index.size())
    return "";
  return cat("it needs ", need.kv_slots, " K/V and ", need.act_slots, " checkpoint blocks, ",
             x_rows, " hidden-state rows and ", widest.tokens,
             " tokens in its widest mini-batch, but the engine was planned for ", have.kv_slots,
             ", ", have.act_slots, ", ", mem_->x_rows, " and ", mem_->item.tokens,
             ": plan for the longest prompt and generation the run will see");
}

std::vector<GenResult> HybridEngine::generate(const std::vector<GenRequest>& batch,
                                              const SamplingParams& sampling, const StopFn& stop) {
  validate(sampling);
  std::vector<GenResult> results(batch.size());
  // A batch larger than the one planned for runs as consecutive groups that fit, each a batch
  // of its own. A request that does not fit even alone is refused before anything runs.
  std::vector<std::vector<size_t>> groups;
  std::vector<size_t> group;
  for (size_t i = 0; i < batch.size(); ++i) {
    group.push_back(i);
    if (misfit(batch, group).empty()) continue;
    group.pop_back();
    const std::string why = misfit(batch, {i});
    HS_CHECK(why.empty(), "request '", batch[i].id, "' does not fit the engine's plan: ", why);
    groups.push_back(group);
    group = {i};
  }
  if (!group.empty()) groups.push_back(group);
  for (const auto& g : groups) run_batch(batch, g, sampling, stop, results);
  return results;
}

void HybridEngine::run_batch(const std::vector<GenRequest>& all, const std::vector<size_t>& group,
                             const SamplingParams& sampling, const StopFn& stop,
                             std::vector<GenResult>& results) {
  const size_t n = group.size();
  for (size_t i : group) {
    results[i].id = all[i].id;
    results[i].finish_reason = "length";
  }
  const std::vector<std::vector<int32_t>> mbs = form_mini_batches(n);

  // Per request (local index i, batch index group[i]): its tokens so far (prompt, then
  // generated), budget and blocks.
  BlockAllocator blocks(mem_->cache_layout.kv_slots, mem_->cache_layout.act_slots);
  const double f = plan_.act_fraction;
  std::vector<std::vector<int32_t>> seq(n);
  std::vector<int64_t> budget(n);
  std::vector<bool> active(n);
  std::vector<BlockTable> tables;
  std::vector<uint64_t> keys(n);
  for (size_t i = 0; i < n; ++i) {
    const GenRequest& r = all[group[i]];
    seq[i] = r.prompt;
    budget[i] = generation_budget(cfg_, r);
    active[i] = budget[i] > 0;
    tables.emplace_back(plan_.block_tokens, [f](int64_t b) { return is_act_block(b, f); });
    keys[i] = request_key(r.id);
  }

  const int32_t pos_offset = static_cast<int32_t>(cfg_.position_offset);
  for (int64_t step = 0; std::find(active.begin(), active.end(), true) != active.end(); ++step) {
    Step s;
    s.index = step;
    s.sampling = &sampling;
    s.keys = keys;
    s.group = &group;
    s.sampled.assign(n, -1);
    int64_t x_row = 0;
    for (const auto& mb : mbs) {
      std::vector<MiniBatchRequest> reqs;
      for (int32_t i : mb) {
        if (!active[i]) continue;
        MiniBatchRequest r;
        r.request = i;
        // Keeping a cache, a step runs the tokens not cached yet (the prompt, then the last
        // generated one); recompute-tokens reruns them all.
        r.cached = keep_cache_ && step > 0 ? static_cast<int64_t>(seq[i].size()) - 1 : 0;
        r.new_tokens = static_cast<int64_t>(seq[i].size()) - r.cached;
        r.tokens = seq[i].data() + r.cached;
        if (keep_cache_) {
          tables[i].grow(r.cached + r.new_tokens, blocks);
          r.table = &tables[i];
        }
        reqs.push_back(r);
      }
      if (reqs.empty()) continue;
      s.mbs.emplace_back(reqs, plan_.block_tokens, mem_->cache_layout, pos_offset);
      HS_CHECK(s.mbs.back().index.size() <=
                   static_cast<size_t>(mem_->item.index_elems(plan_.block_tokens)),
               "internal: index arrays exceed their capacity");
      s.idx.push_back(static_cast<int32_t*>(dev(mem_->device_index[s.idx.size()])));
      s.x_row.push_back(x_row);
      x_row += s.mbs.back().tokens;
    }
    if (!exchange_) {
      run_step(s);
    } else {
      exchange_->max(kRunsStep);
      try {
        run_step(s);
      } catch (const std::exception& e) {
        end_in_step(e);
      }
    }

    for (size_t i = 0; i < n; ++i) {
      if (!active[i]) continue;
      const GenRequest& r = all[group[i]];
      const int32_t tok = next_token(cfg_, r, step, s.sampled[i]);
      GenResult& res = results[group[i]];
      res.output.push_back(tok);
      seq[i].push_back(tok);
      bool done = true;
      if (may_end(r, step) && is_eos(cfg_, tok))
        res.finish_reason = "eos";
      else if (may_end(r, step) && stop && stop(group[i], res.output))
        res.finish_reason = "stop";
      else
        done = static_cast<int64_t>(res.output.size()) >= budget[i];
      if (done) {
        active[i] = false;
        tables[i].release(blocks);
      }
    }
  }
  tracer_.resolve();  // the last step's times (every stream is done)
}

// ---- the weight exchange's lockstep -----------------------------------------------------------

Lockstep HybridEngine::join_step(bool leaving) {
  HS_CHECK(exchange_, "join_step: this engine exchanges no weights");
  const int64_t all = exchange_->max(leaving ? kLeaving : kIdle);
  if (all == kLeaving) return Lockstep::all_left;
  if (all == kIdle) return Lockstep::idle;
  // A peer runs a step: its weight copies and all-gathers, layer by layer, as its list has them
  // (every streamed layer whose weights cross, in order).
  try {
    for (int l = 0; l < static_cast<int>(cfg_.n_layers); ++l) {
      if (!streams_weights(l) || stored_on_device_[static_cast<size_t>(l)]) continue;
      copy_share(l, 0, share_bytes_);
      if (device_exchange_) {
        // Ordered on the device: the gather after this rank's copy, the next copy into the
        // buffer after the gather.
        b_.wait(Stream::expand, b_.record(Stream::weights));
        gather_shares(l);
        b_.wait(Stream::weights, b_.record(Stream::expand));
      } else {
        b_.synchronize();
        gather_shares(l);
      }
    }
    b_.synchronize();
  } catch (const std::exception& e) {
    end_in_step(e);
  }
  return Lockstep::ran;
}

}  // namespace hs

// One step (prefill or decode) of the whole batch: the step's operations, as plan/step_schedule.h
// lists them, enqueued in the list's order on six streams (compute, weights, cache_in,
// cache_dev, cache_out, expand) ordered by events only. Before each operation its stream waits for
// the end events of the operations the list names; each operation returns its end event (none when
// it had nothing to do). The list is the one definition of the order: the cost model times the
// same list (plan/cost_model.cpp).
//
// Why the order is what it is (plan/step_schedule.h has the rules): host-to-device copies of
// the weights and cache_in streams share the copy engines first come, first served, so each
// waits for the other stream's copy before it and they cross PCIe in list order. Slices that
// waited only for the load before them starved: the next load was already waiting on the copy
// engines when the slice could go, and went first, until compute ran out of weights and the
// compute that frees a working set waited for them (docs/BENCHMARKS.md, "PCIe utilisation and
// prediction accuracy": with each host load waiting for the slice before it, PCIe idled 1.5% of
// an opt-13b decode step instead of 4.4%). An item's compute
// overlaps only the copies of the next few items of its cache home (the plan's host_sets
// working sets for host-cache items, two for device-cache ones), so the copies are spread as
// evenly as the bytes allow: streamed and host-cache layers spread over the depth (plan.h), and
// each streamed layer's upload cut into slices that fill the items of its window up to a common
// level, cache load plus slice. A whole layer's weights enqueued at once held every cache load
// behind them (11 ms a layer for opt-13b on an H100, the GPU idle meanwhile); resident layers at
// the front left the copy engines idle for most of a step; device-cache copies queued on the
// host loads' stream held them until compute reached them, and PCIe idled through resident
// stretches.
#include <algorithm>
#include <cmath>

#include "engine/engine.h"
#include "plan/cost_model.h"
#include "plan/step_schedule.h"

namespace hs {

StepShape HybridEngine::step_shape(const Step& s) const {
  StepShape shape;
  shape.layers = cfg_.n_layers;
  shape.streamed = streamed_;
  shape.host_cache = host_cache_;
  shape.host_sets = plan_.host_sets;
  shape.layer_bytes = share_bytes_;
  shape.exchange_bytes = streamed_bytes_ - share_bytes_;
  shape.stored_on_device = stored_on_device_;
  shape.expand = plan_.weight_format != WeightFormat::native;
  const CacheLayout& cl = mem_->cache_layout;
  for (const MiniBatch& m : s.mbs) {
    shape.load_bytes.push_back(keep_cache_ ? item_cache_h2d_bytes(m) : 0);
    shape.store_bytes.push_back(keep_cache_ ? m.stored_kv * 2 * cl.k_row_bytes(true) +
                                                  m.stored_act * cl.act_row_bytes(true)
                                            : 0);
    shape.recompute_rows.push_back(m.loaded_act * plan_.block_tokens);
  }
  return shape;
}

void HybridEngine::run_step(Step& s) {
  const size_t first_event = tracer_.filed();
  const StepSchedule& schedule = scheduler_.schedule(step_shape(s));
  s.turns = schedule.turns;
  std::vector<Event> done(schedule.ops.size());  // each operation's end
  for (size_t i = 0; i < schedule.ops.size(); ++i) {
    const StepOp& op = schedule.ops[i];
    for (const int32_t w : op.waits)
      if (w >= 0 && done[static_cast<size_t>(w)].id >= 0)
        b_.wait(op.stream, done[static_cast<size_t>(w)]);
    done[i] = run_op(s, op);
  }
  if (step_observer_) step_observer_(schedule, done);

  b_.synchronize();
  // This step's events are read during the next one, or now if they are so many that the
  // backend's ring of events could not hold two steps of them.
  trace_done_ = tracer_.filed();
  if (trace_done_ - first_event > kDeferredTraceEvents) tracer_.resolve();
}

Event HybridEngine::run_op(Step& s, const StepOp& op) {
  switch (op.kind) {
    case OpKind::weights:
      return load_weights(s, op);
    case OpKind::cache_load:
      return load_cache(s, op.layer, op.mb);
    case OpKind::indices:
      return upload_indices(s);
    case OpKind::embed:
      return embed(s, op.mb);
    case OpKind::recompute:
      return recompute(s, op.layer, op.mb);
    case OpKind::layer:
      return compute(s, op.layer, op.mb);
    case OpKind::store:
      return store_cache(s, op.layer, op.mb);
    case OpKind::expand:
      return expand_weights(s, op.layer);
    case OpKind::exchange:
      return exchange_weights(s, op.layer);
    case OpKind::head:
      // The previous step's trace times (a few thousand events), read while the streams work
      // through all that the host has enqueued before the first head makes it wait for tokens.
      // Read after the step's synchronize, they held PCIe idle between steps; before the step,
      // the host read them while the step's first compute and slices waited to be enqueued.
      if (op.mb == 0) tracer_.resolve(trace_done_);
      return sample(s, op.mb);
  }
  return Event{};
}

const RunMemory::WorkingSet& HybridEngine::working_set(const Step& s, int item) const {
  return mem_->sets[static_cast<size_t>(s.turns[static_cast<size_t>(item)].set)];
}

// Every mini-batch's index arrays, once per step: block tables are the same for every layer.
Event HybridEngine::upload_indices(Step& s) {
  for (size_t mb = 0; mb < s.mbs.size(); ++mb) {
    const std::vector<int32_t>& index = s.mbs[mb].index;
    b_.copy_h2d(s.idx[mb], index.data(), index.size() * sizeof(int32_t), Stream::compute);
  }
  return b_.record(Stream::compute);
}

// x = embed(tokens) (OPT: through project_in, plus learned positions).  x: [tokens, hidden]
Event HybridEngine::embed(Step& s, int mb) {
  const MiniBatch& m = s.mbs[mb];
  const int32_t* ix = s.idx[mb];
  const int64_t T = m.tokens, H = cfg_.hidden, E = cfg_.embed_dim();
  void* x = at<void>(dev(mem_->x), s.x_row[mb] * H);
  const Event t = tracer_.begin(Stream::compute);
  if (cfg_.has_projections()) {
    b_.embed(dev(mem_->e), global_[static_cast<int>(Part::tok_embed)], ix + m.at.ids, T, E);
    b_.linear(x, dev(mem_->e), global_[static_cast<int>(Part::project_in)], nullptr, T, E, H);
  } else {
    b_.embed(x, global_[static_cast<int>(Part::tok_embed)], ix + m.at.ids, T, H);
  }
  if (cfg_.family == Family::opt)
    b_.add_rows(x, global_[static_cast<int>(Part::pos_embed)], ix + m.at.pos_rows, T, H);
  return tracer_.end(t, Stream::compute, TraceKind::embed, s.index, -1, mb);
}

// Uploads bytes [begin, end) of a streamed layer (its parts in order, back to back, as held in
// the host pool) into its buffer (weight_buffer), or, for compressed parts, into the staging
// buffer of the same parity; resident layers are already there, and a layer stored on the
// device moves nothing (its slices are empty; expand_weights reads its store). With a weight
// exchange the slices cover this rank's share of the layer (begin and end from its start).
// Returns the upload's end, or, for a slice with no bytes, an event only where it completes the
// layer (the layer's compute waits for it).
Event HybridEngine::load_weights(Step& s, const StepOp& slice) {
  const int l = slice.layer;
  const int64_t total = stored_on_device_[static_cast<size_t>(l)] ? 0 : share_bytes_;
  if (slice.end <= slice.begin) return slice.end == total ? b_.record(Stream::weights) : Event{};
  const Event t = tracer_.begin(Stream::weights);
  const int64_t moved = copy_share(l, slice.begin, slice.end);
  return tracer_.end(t, Stream::weights, TraceKind::weights, s.index, l, -1, moved);
}

int64_t HybridEngine::copy_share(int l, int64_t begin, int64_t end) {
  const std::vector<int>& host_parts = mem_->host_layer_parts[l];
  const int buf = weight_buffer(l);
  const auto [first_byte, end_byte] = own_share();
  const int64_t lo = std::min(first_byte + begin, end_byte);
  const int64_t hi = std::min(first_byte + end, end_byte);
  int64_t first = 0;  // first byte of part i in the layer
  for (size_t i = 0; i < layer_specs_.size(); ++i) {
    const int64_t part_bytes = part_bytes_[i];
    const int64_t from = std::max(lo, first), to = std::min(hi, first + part_bytes);
    if (from < to) {
      const LayerWeights& into = compressed_[i] ? staging_[buf] : buffer_[buf];
      auto* dst =
          static_cast<char*>(const_cast<void*>(into[static_cast<size_t>(layer_specs_[i].part)]));
      const auto* src = static_cast<const char*>(mem_->weight_pool().ptr(host_parts[i]));
      b_.copy_h2d(dst + (from - first), src + (from - first), static_cast<size_t>(to - from),
                  Stream::weights);
    }
    first += part_bytes;
  }
  return hi - lo;
}

// The other ranks' shares of a streamed layer, all-gathered into its buffers (staging for
// compressed parts) once this rank's share is in: one all-gather per part, each rank giving
// the bytes of its share that fall in the part. On a GPU the backend gathers on the expand
// stream, which the step list has waiting for this rank's final slice; through host memory
// (MPI) the host waits for the slice first.
Event HybridEngine::exchange_weights(Step& s, int l) {
  if (!device_exchange_) b_.synchronize();  // this rank's share is in before the peers read it
  const Event t = tracer_.begin(Stream::expand);
  gather_shares(l);
  const auto [lo, hi] = own_share();
  return tracer_.end(t, Stream::expand, TraceKind::exchange, s.index, l, -1,
                     streamed_bytes_ - (hi - lo));
}

void HybridEngine::gather_shares(int l) {
  const int buf = weight_buffer(l);
  const int ranks = exchange_->size();
  std::vector<int64_t> counts(static_cast<size_t>(ranks));
  int64_t first = 0;
  for (size_t i = 0; i < layer_specs_.size(); ++i) {
    const int64_t part_end = first + part_bytes_[i];
    for (int r = 0; r < ranks; ++r) {
      const auto [lo, hi] = share_of(r);
      counts[static_cast<size_t>(r)] =
          std::max<int64_t>(0, std::min(part_end, hi) - std::max(first, lo));
    }
    const LayerWeights& into = compressed_[i] ? staging_[buf] : buffer_[buf];
    void* part = const_cast<void*>(into[static_cast<size_t>(layer_specs_[i].part)]);
    if (device_exchange_)
      b_.all_gather(part, counts, Stream::expand);
    else
      exchange_->all_gather(part, counts);
    first = part_end;
  }
}

// A streamed layer's compressed parts, from its staging buffer (or, for a layer stored on the
// device, its store) into its buffer in the element type (model/quant.h), on the expand stream
// once the layer's bytes are in; a stored layer's other parts (norms, biases) are copied from
// its store beside them.
Event HybridEngine::expand_weights(Step& s, int l) {
  const int buf = weight_buffer(l);
  const bool stored = stored_on_device_[static_cast<size_t>(l)];
  const Event t = tracer_.begin(Stream::expand);
  int64_t bytes = 0;
  for (size_t i = 0; i < layer_specs_.size(); ++i) {
    const size_t part = static_cast<size_t>(layer_specs_[i].part);
    void* to = const_cast<void*>(buffer_[buf][part]);
    const void* from =
        stored ? dev(mem_->device_stored_parts[static_cast<size_t>(l)][i]) : staging_[buf][part];
    if (!compressed_[i]) {
      if (stored) b_.copy_d2d(to, from, static_cast<size_t>(part_bytes_[i]), Stream::expand);
      continue;
    }
    b_.dequantize(to, from, plan_.weight_format, part_rows(layer_specs_[i]),
                  part_cols(layer_specs_[i]), plan_.quant_group, Stream::expand);
    bytes += part_bytes_[i];
  }
  return tracer_.end(t, Stream::expand, TraceKind::expand, s.index, l, -1, bytes);
}

int64_t HybridEngine::item_cache_h2d_bytes(const MiniBatch& m) const {
  const CacheLayout& cl = mem_->cache_layout;
  return m.loaded_kv * 2 * cl.k_block_bytes(true) + m.loaded_act * cl.act_block_bytes(true);
}

// Copies the blocks holding this item's cached tokens into its working set: K/V blocks into
// its working K/V, checkpoint blocks into its checkpoint rows. Whole blocks, as the plan
// counts them. Only host-cache layers cross PCIe (and are traced); device-cache layers copy on
// their own stream, so a host load never queues behind one that waits for compute.
Event HybridEngine::load_cache(Step& s, int l, int mb) {
  const MiniBatch& m = s.mbs[mb];
  const int M = static_cast<int>(s.mbs.size()), item = l * M + mb;
  const RunMemory::WorkingSet& p = working_set(s, item);
  const int64_t bt = plan_.block_tokens, KV = cfg_.kv_dim(), H = cfg_.hidden;
  // Only host loads cross the link, and only they are traced (device copies record no events).
  const bool from_host = host_cache(l);
  const Stream in = from_host ? Stream::cache_in : Stream::cache_dev;
  // Whole blocks. From the host by the copy engines (Backend::copy_runs), which leave the
  // multiprocessors to compute; within the device by the copy_rows kernel, since the copy
  // engines move device memory at a fraction of its bandwidth (~430 GB/s measured on an H100
  // for the working-set copies of a resident cache, ~2.6 ms a layer of opt-6.7b at batch 128).
  // A compressed host cache's blocks land in the set's compressed rows (kc, vc, actc) at the
  // same working positions, and the item's compute expands them (expand_cache).
  const int32_t* ix = s.idx[mb];
  const CacheLayout& cl = mem_->cache_layout;
  const bool packed = from_host && cl.host_compressed();
  auto load = [&](void* dst, const SlotArray& src, const SegmentRange& r, int64_t src_at,
                  int64_t dst_at, int64_t block_elems, int64_t host_block_bytes) {
    if (from_host)
      b_.copy_runs(dst, src.segment_base(r.segment), r.runs, static_cast<size_t>(host_block_bytes),
                   in);
    else
      b_.copy_rows(dst, ix + dst_at + r.begin, src.segment_base(r.segment), ix + src_at + r.begin,
                   r.count, block_elems, in);
  };
  if (m.loaded_kv > 0) {
    const Event t = from_host ? tracer_.begin(in) : Event{};
    for (const SegmentRange& r : m.load_kv)
      for (CacheArray a : {CacheArray::k, CacheArray::v}) {
        const bool k = a == CacheArray::k;
        load(dev(packed ? (k ? p.kc : p.vc) : (k ? p.k : p.v)), cache_array(l, a), r,
             m.at.load_kv_src, m.at.load_kv_dst, bt * KV, cl.k_block_bytes(true));
      }
    if (from_host)
      tracer_.end(t, in, TraceKind::kv, s.index, l, mb, m.loaded_kv * 2 * cl.k_block_bytes(true));
  }
  if (m.loaded_act > 0) {
    const Event t = from_host ? tracer_.begin(in) : Event{};
    for (const SegmentRange& r : m.load_act)
      load(dev(packed ? p.actc : p.act), cache_array(l, CacheArray::act), r, m.at.load_act_src,
           m.at.load_act_dst, bt * H, cl.act_block_bytes(true));
    if (from_host)
      tracer_.end(t, in, TraceKind::act, s.index, l, mb, m.loaded_act * cl.act_block_bytes(true));
  }
  return b_.record(in);
}

// A compressed host cache's loaded blocks, from the set's compressed rows into its working
// blocks (loaded blocks come first: working rows 0 .. loaded * block_tokens - 1), on the compute
// stream as the item's first work: K/V rows (kv) or checkpoint rows (act). Nothing otherwise.
void HybridEngine::expand_cache(Step& s, int l, int mb, bool kv) {
  const MiniBatch& m = s.mbs[mb];
  const CacheLayout& cl = mem_->cache_layout;
  const int64_t blocks = kv ? m.loaded_kv : m.loaded_act;
  if (!host_cache(l) || !cl.host_compressed() || blocks == 0) return;
  const int M = static_cast<int>(s.mbs.size());
  const RunMemory::WorkingSet& p = working_set(s, l * M + mb);
  const int64_t rows = blocks * plan_.block_tokens, g = plan_.cache_group;
  const Event t = tracer_.begin(Stream::compute);
  if (kv) {
    b_.expand_rows(dev(p.k), dev(p.kc), rows, cfg_.kv_dim(), cl.host_format, g, Stream::compute);
    b_.expand_rows(dev(p.v), dev(p.vc), rows, cfg_.kv_dim(), cl.host_format, g, Stream::compute);
  } else {
    b_.expand_rows(dev(p.act), dev(p.actc), rows, cfg_.hidden, cl.host_format, g, Stream::compute);
  }
  tracer_.end(t, Stream::compute, TraceKind::cache_expand, s.index, l, mb,
              blocks * (kv ? 2 * cl.k_block_bytes(true) : cl.act_block_bytes(true)));
}

// K/V of the loaded checkpoint blocks, with this layer's norm and K/V projections (and RoPE at
// the rows' own positions), into working blocks kv_blocks ..: the same ops on the same x rows
// as when the tokens were new, so the same bits.
//   x: [loaded_act * block_tokens, hidden] -> K, V: [loaded_act * block_tokens, kv_dim]
Event HybridEngine::recompute(Step& s, int l, int mb) {
  const MiniBatch& m = s.mbs[mb];
  const int M = static_cast<int>(s.mbs.size()), item = l * M + mb;
  const RunMemory::WorkingSet& p = working_set(s, item);
  const LayerWeights& w = weights_of(l);
  auto W = [&](Part part) { return w[static_cast<size_t>(part)]; };
  const int64_t rows = m.loaded_act * plan_.block_tokens, H = cfg_.hidden, KV = cfg_.kv_dim();
  const int64_t first_row = m.kv_blocks * plan_.block_tokens;
  expand_cache(s, l, mb, /*kv=*/false);
  const Event t = tracer_.begin(Stream::compute);
  const void* h = dev(p.act);
  if (cfg_.pre_norm) {  // OPT post-LN layers have no norm before attention
    norm(l, Part::attn_norm_w, Part::attn_norm_b, dev(mem_->h), h, rows);
    h = dev(mem_->h);
  }
  void* k = at<void>(dev(p.k), first_row * KV);
  void* v = at<void>(dev(p.v), first_row * KV);
  b_.linear(k, h, W(Part::k_w), W(Part::k_b), rows, H, KV);
  b_.linear(v, h, W(Part::v_w), W(Part::v_b), rows, H, KV);
  if (cfg_.family == Family::llama)
    b_.rope(k, s.idx[mb] + m.at.rc_pos, rows, cfg_.n_kv_heads, cfg_.head_dim, cfg_.rope_theta);
  return tracer_.end(t, Stream::compute, TraceKind::recompute, s.index, l, mb);
}

// One layer for one mini-batch, as reference.cpp computes it:
//   h = norm(x) (pre-norm) or x;  q, k, v = h Wq, h Wk, h Wv (+ b);  RoPE or q *= d^-1/2
//   x += attention(q, K, V) Wo (+ bo);  post-LN: x = norm(x)
//   x += FFN(norm(x) or x);             post-LN: x = norm(x)
// x: [tokens, hidden]; the new tokens' K/V join the working blocks before attention.
Event HybridEngine::compute(Step& s, int l, int mb) {
  const MiniBatch& m = s.mbs[mb];
  const int M = static_cast<int>(s.mbs.size()), item = l * M + mb;
  const RunMemory::WorkingSet& p = working_set(s, item);
  const LayerWeights& w = weights_of(l);
  auto W = [&](Part part) { return w[static_cast<size_t>(part)]; };
  const int32_t* ix = s.idx[mb];
  const int64_t T = m.tokens, H = cfg_.hidden, Q = cfg_.q_dim(), KV = cfg_.kv_dim();
  const int64_t F = cfg_.ffn_dim, hd = cfg_.head_dim;
  void* x = at<void>(dev(mem_->x), s.x_row[mb] * H);
  void* hbuf = dev(mem_->h);
  void* q = dev(mem_->q);
  void* att = dev(mem_->att);
  void* f1 = dev(mem_->f1);

  expand_cache(s, l, mb, /*kv=*/true);
  Event t = tracer_.begin(Stream::compute);
  if (keep_cache_) b_.copy_d2d(dev(p.x_in), x, static_cast<size_t>(T * H * elem_), Stream::compute);
  const void* h = x;
  if (cfg_.pre_norm) {
    norm(l, Part::attn_norm_w, Part::attn_norm_b, hbuf, x, T);
    h = hbuf;
  }
  b_.linear(q, h, W(Part::q_w), W(Part::q_b), T, H, Q);
  b_.linear(dev(mem_->k_new), h, W(Part::k_w), W(Part::k_b), T, H, KV);
  b_.linear(dev(mem_->v_new), h, W(Part::v_w), W(Part::v_b), T, H, KV);
  if (cfg_.family == Family::opt) {
    b_.scale(q, 1.f / std::sqrt(float(hd)), T * Q);  // HF scales q, then attends with scale 1
  } else {
    b_.rope(q, ix + m.at.pos, T, cfg_.n_heads, hd, cfg_.rope_theta);
    b_.rope(dev(mem_->k_new), ix + m.at.pos, T, cfg_.n_kv_heads, hd, cfg_.rope_theta);
  }
  b_.copy_rows(dev(p.k), ix + m.at.ws_rows, dev(mem_->k_new), ix + m.at.iota, T, KV,
               Stream::compute);
  b_.copy_rows(dev(p.v), ix + m.at.ws_rows, dev(mem_->v_new), ix + m.at.iota, T, KV,
               Stream::compute);
  tracer_.end(t, Stream::compute, TraceKind::projections, s.index, l, mb);

  t = tracer_.begin(Stream::compute);
  const cpu::AttentionShape shape{T,
                                  cfg_.n_heads,
                                  cfg_.n_kv_heads,
                                  hd,
                                  plan_.block_tokens,
                                  m.max_blocks,
                                  cfg_.family == Family::opt ? 1.f : 1.f / std::sqrt(float(hd))};
  b_.attention(att, q, dev(p.k), dev(p.v), ix + m.at.block_table, ix + m.at.seq, ix + m.at.pos,
               shape);
  tracer_.end(t, Stream::compute, TraceKind::attention, s.index, l, mb);

  t = tracer_.begin(Stream::compute);
  b_.linear(hbuf, att, W(Part::o_w), W(Part::o_b), T, Q, H);
  b_.add(x, x, hbuf, T * H);
  if (!cfg_.pre_norm) norm(l, Part::attn_norm_w, Part::attn_norm_b, x, x, T);
  tracer_.end(t, Stream::compute, TraceKind::projections, s.index, l, mb);

  // FFN: OPT fc2(relu(fc1 h)) + b; LLaMA down(silu(gate h) * up h). Its output reuses hbuf,
  // whose normed input is consumed by then.
  t = tracer_.begin(Stream::compute);
  h = x;
  if (cfg_.pre_norm) {
    norm(l, Part::ffn_norm_w, Part::ffn_norm_b, hbuf, x, T);
    h = hbuf;
  }
  b_.linear(f1, h, W(Part::ffn_in_w), W(Part::ffn_in_b), T, H, F);
  if (cfg_.ffn == FfnKind::relu) {
    b_.relu(f1, T * F);
  } else {
    b_.linear(dev(mem_->f3), h, W(Part::ffn_up_w), nullptr, T, H, F);
    b_.silu_mul(f1, f1, dev(mem_->f3), T * F);
  }
  b_.linear(hbuf, f1, W(Part::ffn_out_w), W(Part::ffn_out_b), T, F, H);
  b_.add(x, x, hbuf, T * H);
  if (!cfg_.pre_norm) norm(l, Part::ffn_norm_w, Part::ffn_norm_b, x, x, T);
  return tracer_.end(t, Stream::compute, TraceKind::ffn, s.index, l, mb);
}

// Writes each new token's cache row of this layer into its block, by the block's kind: K and V
// (from the working blocks) or the checkpoint (the layer's input). One row per token.
Event HybridEngine::store_cache(Step& s, int l, int mb) {
  const MiniBatch& m = s.mbs[mb];
  const int M = static_cast<int>(s.mbs.size()), item = l * M + mb;
  const RunMemory::WorkingSet& p = working_set(s, item);
  const int32_t* ix = s.idx[mb];
  const int64_t KV = cfg_.kv_dim(), H = cfg_.hidden;
  const Event t = tracer_.begin(Stream::cache_out);
  // Into host memory always by the copy engines: multiprocessors writing mapped host memory
  // stall the copy engines' reads of it, the cache loads (H100: 55 -> 5.5 GB/s H2D while a
  // kernel writes host memory; the decode steps' one-row write-backs by the copy_rows kernel
  // held the loads to ~51.5 GB/s). Into device memory (a resident cache) by the copy_rows
  // kernel unless the runs are long (prefill: a request's prompt rows), since the copy engines
  // move device memory at a fraction of its bandwidth and serve the host loads too.
  // A compressed host cache's rows are compressed first, on the same stream, from their
  // working rows into the same rows of the set's compressed rows (kc, vc, actc), and copied from
  // there.
  const bool to_host = host_cache(l);
  const CacheLayout& cl = mem_->cache_layout;
  const bool packed = to_host && cl.host_compressed();
  auto store = [&](void* dst, const void* src, const SegmentRange& r, int64_t src_at,
                   int64_t dst_at, int64_t row_elems, int packed_src) {
    if (packed) {
      b_.compress_rows(dev(packed_src), src, ix + src_at + r.begin, r.count, row_elems,
                       cl.host_format, plan_.cache_group, Stream::cache_out);
      const int64_t row_bytes =
          cache_row_bytes(cl.host_format, row_elems, plan_.cache_group, elem_);
      b_.copy_runs(dst, dev(packed_src), r.runs, static_cast<size_t>(row_bytes), Stream::cache_out);
      return;
    }
    const int64_t row_bytes = row_elems * elem_;
    if (to_host || r.count * row_bytes >= min_dma_run_bytes_ * static_cast<int64_t>(r.runs.size()))
      b_.copy_runs(dst, src, r.runs, static_cast<size_t>(row_bytes), Stream::cache_out);
    else
      b_.copy_rows(dst, ix + dst_at + r.begin, src, ix + src_at + r.begin, r.count, row_elems,
                   Stream::cache_out);
  };
  for (const SegmentRange& r : m.store_kv)
    for (CacheArray a : {CacheArray::k, CacheArray::v}) {
      const bool k = a == CacheArray::k;
      store(cache_array(l, a).segment_base(r.segment), dev(k ? p.k : p.v), r, m.at.store_kv_src,
            m.at.store_kv_dst, KV, k ? p.kc : p.vc);
    }
  for (const SegmentRange& r : m.store_act)
    store(cache_array(l, CacheArray::act).segment_base(r.segment), dev(p.x_in), r,
          m.at.store_act_src, m.at.store_act_dst, H, p.actc);
  const int64_t bytes =
      m.stored_kv * 2 * cl.k_row_bytes(to_host) + m.stored_act * cl.act_row_bytes(to_host);
  return host_cache(l)
             ? tracer_.end(t, Stream::cache_out, TraceKind::write_back, s.index, l, mb, bytes)
             : b_.record(Stream::cache_out);
}

// The head on each request's last token (final norm, OPT's project_out, the vocabulary), then
// one token per request through Backend::sample.  logits: [requests, vocab] fp32
Event HybridEngine::sample(Step& s, int mb) {
  const MiniBatch& m = s.mbs[mb];
  const int32_t* ix = s.idx[mb];
  const int64_t R = static_cast<int64_t>(m.requests.size()), H = cfg_.hidden, E = cfg_.embed_dim();
  const Event t = tracer_.begin(Stream::compute);
  b_.copy_rows(dev(mem_->last), ix + m.at.iota, at<void>(dev(mem_->x), s.x_row[mb] * H),
               ix + m.at.last_rows, R, H, Stream::compute);
  const void* h = dev(mem_->last);
  if (cfg_.has_final_norm()) {
    if (cfg_.norm == NormKind::layernorm)
      b_.layernorm(dev(mem_->last_norm), h, global_[static_cast<int>(Part::final_norm_w)],
                   global_[static_cast<int>(Part::final_norm_b)], R, H, cfg_.norm_eps);
    else
      b_.rmsnorm(dev(mem_->last_norm), h, global_[static_cast<int>(Part::final_norm_w)], R, H,
                 cfg_.norm_eps);
    h = dev(mem_->last_norm);
  }
  if (cfg_.has_projections()) {
    b_.linear(dev(mem_->last_e), h, global_[static_cast<int>(Part::project_out)], nullptr, R, H, E);
    h = dev(mem_->last_e);
  }
  const Part head = cfg_.tie_embeddings ? Part::tok_embed : Part::lm_head;
  float* logits = static_cast<float*>(dev(mem_->logits));
  b_.linear_f32(logits, h, global_[static_cast<int>(head)], R, E, cfg_.vocab_size);

  std::vector<uint64_t> keys(static_cast<size_t>(R));
  std::vector<int64_t> steps(static_cast<size_t>(R), s.index);  // every request's n-th token
  std::vector<int32_t> tokens(static_cast<size_t>(R));
  for (int64_t r = 0; r < R; ++r) keys[r] = s.keys[static_cast<size_t>(m.requests[r])];
  if (observe_) {
    std::vector<float> host(static_cast<size_t>(R * cfg_.vocab_size));
    b_.copy_d2h(host.data(), logits, host.size() * sizeof(float), Stream::compute);
    b_.synchronize();
    for (int64_t r = 0; r < R; ++r)
      observe_((*s.group)[static_cast<size_t>(m.requests[r])], s.index,
               host.data() + r * cfg_.vocab_size, cfg_.vocab_size);
  }
  b_.sample(tokens.data(), logits, R, cfg_.vocab_size, *s.sampling, keys.data(), steps.data());
  for (int64_t r = 0; r < R; ++r) s.sampled[static_cast<size_t>(m.requests[r])] = tokens[r];
  return tracer_.end(t, Stream::compute, TraceKind::sampling, s.index, -1, mb);
}

}  // namespace hs

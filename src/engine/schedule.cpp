// The schedule: one step (prefill or decode) of the whole batch, layer-major. Each streamed
// layer's weights cross PCIe once per step; the mini-batches run through the layer one after
// another while the next mini-batch's cache blocks and a slice of the next streamed layer's
// weights are in flight. Five streams (compute, weights, cache_in, cache_dev, cache_out) are
// ordered by events only:
//
//   weights   load_weights(slice) ...... a slice of the next streamed layer's bytes, enqueued
//                                        beside each item of its window (plan.h:
//                                        weight_slices); each waits for the host cache load
//                                        enqueued before it, the first also for layer_done of
//                                        the streamed layer two back (its buffer's last reader)
//   cache_in  load_cache(item) ......... a host-cache item's blocks, by the copy engines;
//                                        waits for the weight slice enqueued before it
//   cache_dev load_cache(item) ......... a device-cache item's blocks, by a kernel; both wait
//                                        computed(prev), stored(prev) of the item before it on
//                                        its working set (plan.h: working_set_turns)
//   compute   recompute, compute(item) . waits weights_ready(l), cache_ready(item), and
//                                        stored(prev) (same working set)
//   cache_out store_cache(item) ........ waits computed(item)
//
// where item = layer * mini_batches + mb counts the (layer, mini-batch) pairs of the step.
// Host-to-device copies of both streams share the copy engines first come, first served, so
// each waits for the other stream's copy enqueued before it: they cross PCIe in the order
// enqueued, as the cost model's replay has them (cost_model.cpp: replay_ms). Slices that waited
// only for the load before them starved: the next load was already waiting on the copy engines
// when the slice could go, and went first, until compute ran out of weights and the compute
// that frees a working set waited for them (opt-13b p512 act 4 x 32 on an H200, the same plan
// before and after: PCIe idle 4.4% -> 1.5% of the decode step; BENCHMARKS.md, 2026-12-05). And
// an item's compute overlaps only the copies of the next few items of its cache home (the
// plan's host_sets working sets for host-cache items, two for device-cache ones). So the copies are
// spread as evenly as the bytes allow: streamed and host-cache layers spread over the depth
// (plan.h), and each streamed layer's upload cut into slices that fill the items of its window up
// to a common level, cache load plus slice. A whole layer's weights enqueued at once held every
// cache load behind them (11 ms a layer for opt-13b on an H100, the GPU idle meanwhile); resident
// layers at the front left the copy engines idle for most of a step; device-cache copies queued on
// the host loads' stream held them until compute reached them, and PCIe idled through resident
// stretches.
#include <algorithm>
#include <cmath>

#include "engine/engine.h"
#include "plan/cost_model.h"

namespace hs {

void HybridEngine::run_step(Step& s) {
  const int L = static_cast<int>(cfg_.n_layers);
  const int M = static_cast<int>(s.mbs.size());
  const int64_t layer_bytes = layer_weight_bytes(cfg_, b_.dtype());
  const size_t first_event = tracer_.filed();
  std::vector<int64_t> cache_bytes(static_cast<size_t>(L * M), 0);  // H2D cache bytes per item
  for (int l = 0; l < L; ++l) {
    if (!keep_cache_ || !host_cache(l)) continue;
    for (int mb = 0; mb < M; ++mb)
      cache_bytes[static_cast<size_t>(l * M + mb)] = item_cache_h2d_bytes(s.mbs[mb]);
  }
  const std::vector<WeightSlice> slices = weight_slices(L, M, streamed_, layer_bytes, cache_bytes);
  s.turns = working_set_turns(M, host_cache_, plan_.host_sets);

  if (streams_weights(0)) load_weights(s, {0, 0, layer_bytes}, Event{});  // no window: first
  // The host-cache items that start their working sets' turns wait for nothing in this step
  // (the sets are free and their blocks were written in earlier steps), so they go first:
  // enqueued in item order behind the device-cache layers before them, they reached the copy
  // engines only after the host had enqueued those layers' compute, and PCIe idled for the
  // first ~2 ms of every step (opt-6.7b, kv, 18 of 32 caches resident).
  std::vector<bool> loaded(static_cast<size_t>(L * M), false);
  auto load = [&](int item) {  // cache_in or cache_dev: the item's blocks, once
    if (!loaded[static_cast<size_t>(item)]) load_cache(s, item / M, item % M);
    loaded[static_cast<size_t>(item)] = true;
  };
  for (int item = 0; item < L * M; ++item)
    if (host_cache(item / M) && s.turns[static_cast<size_t>(item)].previous < 0) load(item);
  upload_indices(s);
  for (int mb = 0; mb < M; ++mb) embed(s, mb);

  load(0);
  Event last_load = host_cache(0) ? s.cache_ready[0] : Event{};  // the latest host load enqueued
  for (int l = 0; l < L; ++l) {
    for (int mb = 0; mb < M; ++mb) {
      const int next = l * M + mb + 1;
      if (next < L * M) {
        load(next);
        if (host_cache(next / M) && s.cache_ready[next].id >= 0) last_load = s.cache_ready[next];
      }
      // weights stream: a slice of a later layer, after that load
      load_weights(s, slices[static_cast<size_t>(l * M + mb)], last_load);
      recompute(s, l, mb);    // compute: K/V of this item's checkpoint blocks
      compute(s, l, mb);      // compute: projections, attention, FFN
      store_cache(s, l, mb);  // cache_out: the new tokens' K/V or checkpoints
      // compute: the head, as soon as the mini-batch leaves the last layer. After the last item
      // the heads of every mini-batch ran while PCIe idled (~1.3 ms a step, opt-6.7b p256 kv).
      // sample() waits for its tokens, by which time the host has enqueued every load the
      // working sets allow before the head.
      if (l == L - 1) {
        // The previous step's trace times (a few thousand events), while the streams work
        // through all that the host has enqueued before the first head makes it wait for
        // tokens. Read after the step's synchronize, they held PCIe idle between steps; before
        // its loop, the host read them while the step's first compute and slices waited to be
        // enqueued behind its first loads.
        if (mb == 0) tracer_.resolve(trace_done_);
        sample(s, mb);
      }
    }
  }

  b_.synchronize();
  // This step's events are read during the next one, or now if they are so many that the
  // backend's ring of events could not hold two steps of them.
  trace_done_ = tracer_.filed();
  if (trace_done_ - first_event > kDeferredTraceEvents) tracer_.resolve();
}

namespace {
void wait_if(Backend& b, Stream s, Event e) {
  if (e.id >= 0) b.wait(s, e);
}
}  // namespace

// What an item's compute reads: its layer's weights, its loaded blocks, and a working set that
// the write-back of the set's previous item has finished reading.
void HybridEngine::wait_item_inputs(Step& s, int l, int mb) {
  const int item = l * static_cast<int>(s.mbs.size()) + mb;
  wait_if(b_, Stream::compute, s.weights_ready[l]);
  wait_if(b_, Stream::compute, s.cache_ready[item]);
  const int64_t prev = s.turns[static_cast<size_t>(item)].previous;
  if (prev >= 0) wait_if(b_, Stream::compute, s.stored[static_cast<size_t>(prev)]);
}

const RunMemory::WorkingSet& HybridEngine::working_set(const Step& s, int item) const {
  return mem_->sets[static_cast<size_t>(s.turns[static_cast<size_t>(item)].set)];
}

// Every mini-batch's index arrays, once per step: block tables are the same for every layer.
void HybridEngine::upload_indices(Step& s) {
  for (size_t mb = 0; mb < s.mbs.size(); ++mb) {
    const std::vector<int32_t>& index = s.mbs[mb].index;
    b_.copy_h2d(s.idx[mb], index.data(), index.size() * sizeof(int32_t), Stream::compute);
  }
  s.indices_ready = b_.record(Stream::compute);
}

// x = embed(tokens) (OPT: through project_in, plus learned positions).  x: [tokens, hidden]
void HybridEngine::embed(Step& s, int mb) {
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
  tracer_.end(t, Stream::compute, TraceKind::embed, s.index, -1, mb);
}

// Uploads bytes [begin, end) of a streamed layer (its parts in order, back to back) into its
// buffer (weight_buffer); resident layers are already there. The window's first slice waits
// until the buffer's last reader (the streamed layer two back) is done; every slice waits for
// the cache load enqueued before it (`after`). Left free, the weights stream ran a whole layer
// ahead as soon as its buffer was free, and the copy engines, shared first come first served,
// starved the cache loads beside it: compute waited on them, the layer that frees the next
// buffer finished late, and PCIe idled (opt-30b at batch 64, 24 GiB on an H100: 76% busy, the
// step 1.31x the schedule's replay).
void HybridEngine::load_weights(Step& s, const WeightSlice& slice, Event after) {
  if (slice.layer < 0) return;
  const int l = static_cast<int>(slice.layer);
  wait_if(b_, Stream::weights, after);
  if (slice.begin == 0 && slice.buffer_reader >= 0)  // once a window: its first slices
    wait_if(b_, Stream::weights, s.layer_done[static_cast<size_t>(slice.buffer_reader)]);
  const int64_t total = layer_weight_bytes(cfg_, b_.dtype());
  if (slice.end > slice.begin) {
    const Event t = tracer_.begin(Stream::weights);
    const std::vector<int>& host_parts = mem_->host_layer_parts[l];
    const LayerWeights& buffer = buffer_[weight_buffer(l)];
    int64_t first = 0;  // first byte of part i in the layer
    for (size_t i = 0; i < layer_specs_.size(); ++i) {
      const int64_t part_bytes = layer_specs_[i].numel() * elem_;
      const int64_t from = std::max(slice.begin, first),
                    to = std::min(slice.end, first + part_bytes);
      if (from < to) {
        auto* dst = static_cast<char*>(
            const_cast<void*>(buffer[static_cast<size_t>(layer_specs_[i].part)]));
        const auto* src = static_cast<const char*>(mem_->weight_pool().ptr(host_parts[i]));
        b_.copy_h2d(dst + (from - first), src + (from - first), static_cast<size_t>(to - from),
                    Stream::weights);
      }
      first += part_bytes;
    }
    const Event e = tracer_.end(t, Stream::weights, TraceKind::weights, s.index, l, -1,
                                slice.end - slice.begin);
    s.last_slice = e;
    if (slice.end == total) s.weights_ready[l] = e;
  } else if (slice.end == total) {
    s.weights_ready[l] = b_.record(Stream::weights);
  }
}

int64_t HybridEngine::item_cache_h2d_bytes(const MiniBatch& m) const {
  return (m.loaded_kv * 2 * cfg_.kv_dim() + m.loaded_act * cfg_.hidden) * plan_.block_tokens *
         elem_;
}

// Copies the blocks holding this item's cached tokens into its working set: K/V blocks into
// its working K/V, checkpoint blocks into its checkpoint rows. Whole blocks, as the plan
// counts them. Only host-cache layers cross PCIe (and are traced); device-cache layers copy on
// their own stream, so a host load never queues behind one that waits for compute.
void HybridEngine::load_cache(Step& s, int l, int mb) {
  const MiniBatch& m = s.mbs[mb];
  if (!keep_cache_ || (m.loaded_kv == 0 && m.loaded_act == 0)) return;
  const int M = static_cast<int>(s.mbs.size()), item = l * M + mb;
  const RunMemory::WorkingSet& p = working_set(s, item);
  const int64_t bt = plan_.block_tokens, KV = cfg_.kv_dim(), H = cfg_.hidden;
  // Only host loads cross the link, and only they are traced (device copies record no events).
  const bool from_host = host_cache(l);
  const Stream in = from_host ? Stream::cache_in : Stream::cache_dev;
  const int64_t prev = s.turns[static_cast<size_t>(item)].previous;
  if (prev >= 0) {
    wait_if(b_, in, s.computed[static_cast<size_t>(prev)]);
    wait_if(b_, in, s.stored[static_cast<size_t>(prev)]);
  }
  if (from_host) wait_if(b_, in, s.last_slice);  // PCIe in the order enqueued (run_step)
  // Whole blocks. From the host by the copy engines (Backend::copy_runs), which leave the
  // multiprocessors to compute; within the device by the copy_rows kernel, since the copy
  // engines move device memory at a fraction of its bandwidth (~430 GB/s measured on an H100
  // for the working-set copies of a resident cache, ~2.6 ms a layer of opt-6.7b at batch 128).
  const int32_t* ix = s.idx[mb];
  auto load = [&](void* dst, const SlotArray& src, const SegmentRange& r, int64_t src_at,
                  int64_t dst_at, int64_t block_elems) {
    if (from_host)
      b_.copy_runs(dst, src.segment_base(r.segment), r.runs,
                   static_cast<size_t>(block_elems * elem_), in);
    else
      b_.copy_rows(dst, ix + dst_at + r.begin, src.segment_base(r.segment), ix + src_at + r.begin,
                   r.count, block_elems, in);
  };
  if (!from_host) wait_if(b_, in, s.indices_ready);
  if (m.loaded_kv > 0) {
    const Event t = from_host ? tracer_.begin(in) : Event{};
    for (const SegmentRange& r : m.load_kv)
      for (CacheArray a : {CacheArray::k, CacheArray::v})
        load(dev(a == CacheArray::k ? p.k : p.v), cache_array(l, a), r, m.at.load_kv_src,
             m.at.load_kv_dst, bt * KV);
    if (from_host)
      tracer_.end(t, in, TraceKind::kv, s.index, l, mb, m.loaded_kv * 2 * bt * KV * elem_);
  }
  if (m.loaded_act > 0) {
    const Event t = from_host ? tracer_.begin(in) : Event{};
    for (const SegmentRange& r : m.load_act)
      load(dev(p.act), cache_array(l, CacheArray::act), r, m.at.load_act_src, m.at.load_act_dst,
           bt * H);
    if (from_host)
      tracer_.end(t, in, TraceKind::act, s.index, l, mb, m.loaded_act * bt * H * elem_);
  }
  s.cache_ready[item] = b_.record(in);
}

// K/V of the loaded checkpoint blocks, with this layer's norm and K/V projections (and RoPE at
// the rows' own positions), into working blocks kv_blocks ..: the same ops on the same x rows
// as when the tokens were new, so the same bits.
//   x: [loaded_act * block_tokens, hidden] -> K, V: [loaded_act * block_tokens, kv_dim]
void HybridEngine::recompute(Step& s, int l, int mb) {
  const MiniBatch& m = s.mbs[mb];
  const int M = static_cast<int>(s.mbs.size()), item = l * M + mb;
  wait_item_inputs(s, l, mb);
  if (m.loaded_act == 0) return;
  const RunMemory::WorkingSet& p = working_set(s, item);
  const LayerWeights& w = weights_of(l);
  auto W = [&](Part part) { return w[static_cast<size_t>(part)]; };
  const int64_t rows = m.loaded_act * plan_.block_tokens, H = cfg_.hidden, KV = cfg_.kv_dim();
  const int64_t first_row = m.kv_blocks * plan_.block_tokens;
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
  tracer_.end(t, Stream::compute, TraceKind::recompute, s.index, l, mb);
}

// One layer for one mini-batch, as reference.cpp computes it:
//   h = norm(x) (pre-norm) or x;  q, k, v = h Wq, h Wk, h Wv (+ b);  RoPE or q *= d^-1/2
//   x += attention(q, K, V) Wo (+ bo);  post-LN: x = norm(x)
//   x += FFN(norm(x) or x);             post-LN: x = norm(x)
// x: [tokens, hidden]; the new tokens' K/V join the working blocks before attention.
void HybridEngine::compute(Step& s, int l, int mb) {
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
  wait_item_inputs(s, l, mb);

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
  s.computed[item] = tracer_.end(t, Stream::compute, TraceKind::ffn, s.index, l, mb);
  if (mb == M - 1) s.layer_done[l] = s.computed[item];
}

// Writes each new token's cache row of this layer into its block, by the block's kind: K and V
// (from the working blocks) or the checkpoint (the layer's input). One row per token.
void HybridEngine::store_cache(Step& s, int l, int mb) {
  const MiniBatch& m = s.mbs[mb];
  if (!keep_cache_ || (m.stored_kv == 0 && m.stored_act == 0)) return;
  const int M = static_cast<int>(s.mbs.size()), item = l * M + mb;
  const RunMemory::WorkingSet& p = working_set(s, item);
  const int32_t* ix = s.idx[mb];
  const int64_t KV = cfg_.kv_dim(), H = cfg_.hidden;
  wait_if(b_, Stream::cache_out, s.indices_ready);
  wait_if(b_, Stream::cache_out, s.computed[item]);
  const Event t = tracer_.begin(Stream::cache_out);
  // Into host memory always by the copy engines: multiprocessors writing mapped host memory
  // stall the copy engines' reads of it, the cache loads (H100: 55 -> 5.5 GB/s H2D while a
  // kernel writes host memory; the decode steps' one-row write-backs by the copy_rows kernel
  // held the loads to ~51.5 GB/s). Into device memory (a resident cache) by the copy_rows
  // kernel unless the runs are long (prefill: a request's prompt rows), since the copy engines
  // move device memory at a fraction of its bandwidth and serve the host loads too.
  const bool to_host = host_cache(l);
  auto store = [&](void* dst, const void* src, const SegmentRange& r, int64_t src_at,
                   int64_t dst_at, int64_t row_elems) {
    const int64_t row_bytes = row_elems * elem_;
    if (to_host || r.count * row_bytes >= min_dma_run_bytes_ * static_cast<int64_t>(r.runs.size()))
      b_.copy_runs(dst, src, r.runs, static_cast<size_t>(row_bytes), Stream::cache_out);
    else
      b_.copy_rows(dst, ix + dst_at + r.begin, src, ix + src_at + r.begin, r.count, row_elems,
                   Stream::cache_out);
  };
  for (const SegmentRange& r : m.store_kv)
    for (CacheArray a : {CacheArray::k, CacheArray::v})
      store(cache_array(l, a).segment_base(r.segment), dev(a == CacheArray::k ? p.k : p.v), r,
            m.at.store_kv_src, m.at.store_kv_dst, KV);
  for (const SegmentRange& r : m.store_act)
    store(cache_array(l, CacheArray::act).segment_base(r.segment), dev(p.x_in), r,
          m.at.store_act_src, m.at.store_act_dst, H);
  const int64_t bytes = (m.stored_kv * 2 * KV + m.stored_act * H) * elem_;
  s.stored[item] = host_cache(l) ? tracer_.end(t, Stream::cache_out, TraceKind::write_back, s.index,
                                               l, mb, bytes)
                                 : b_.record(Stream::cache_out);
}

// The head on each request's last token (final norm, OPT's project_out, the vocabulary), then
// one token per request through Backend::sample.  logits: [requests, vocab] fp32
void HybridEngine::sample(Step& s, int mb) {
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
  tracer_.end(t, Stream::compute, TraceKind::sampling, s.index, -1, mb);
}

}  // namespace hs

#include "plan/cost_model.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <map>

#include "model/weights.h"
#include "plan/gemm_time.h"
#include "plan/step_schedule.h"
#include "util/error.h"

namespace hs {
namespace {

// (cached tokens, number of requests holding that many): a batch of 10^4 requests of a few
// lengths costs as much to evaluate as a few requests, so the planner can search freely.
using LengthCounts = std::map<int64_t, int64_t>;

LengthCounts count_lengths(const std::vector<int64_t>& lens) {
  LengthCounts m;
  for (int64_t n : lens) ++m[n];
  return m;
}

int64_t elem_bytes(DType t) {
  return static_cast<int64_t>(dtype_bytes(t));
}

// bytes / (gbps * 1e9 B/s), in ms.
double transfer_ms(double bytes, double gbps) {
  return bytes / (gbps * 1e6);
}
// flops / (tflops * 1e12 FLOP/s), in ms.
double compute_ms(double flops, double tflops) {
  return flops / (tflops * 1e9);
}

// Projections and FFN of one layer for `tokens` tokens:
//   2 T (h q + 2 h kv + q h) + 2 T h ffn m,  m = 2 (OPT fc1, fc2) or 3 (SwiGLU gate, up, down).
double layer_dense_flops(const ModelConfig& c, double tokens) {
  const double h = static_cast<double>(c.hidden), q = static_cast<double>(c.q_dim()),
               kv = static_cast<double>(c.kv_dim()), ffn = static_cast<double>(c.ffn_dim);
  const double ffn_matrices = c.ffn == FfnKind::swiglu ? 3 : 2;
  return 2 * tokens * (h * q + 2 * h * kv + q * h) + 2 * tokens * h * ffn * ffn_matrices;
}

// Causal attention over sequences of n_i tokens: QK^T and PV each take 2 q FLOPs per
// (query, key) pair, and there are n (n + 1) / 2 pairs: 2 q n (n + 1) in all.
double causal_attention_flops(const ModelConfig& c, const LengthCounts& lens) {
  double pairs_x2 = 0;
  for (const auto& [n, count] : lens)
    pairs_x2 += static_cast<double>(count) * static_cast<double>(n) * static_cast<double>(n + 1);
  return 2.0 * static_cast<double>(c.q_dim()) * pairs_x2;
}

// The head: (OPT project_out,) then logits over the vocabulary for `rows` tokens.
double head_flops(const ModelConfig& c, double rows) {
  double f = 2 * rows * static_cast<double>(c.embed_dim()) * static_cast<double>(c.vocab_size);
  if (c.has_projections()) f += 2 * rows * static_cast<double>(c.hidden * c.embed_dim());
  return f;
}

// One layer for one mini-batch, as the engine runs it (engine/schedule.cpp): `tokens` new rows
// through the layer, `act_rows` checkpoint rows whose K/V are recomputed first, and attention.
struct LayerItem {
  double tokens = 0, act_rows = 0, attention_ms = 0;
};

// Kernels the engine launches for one layer and mini-batch (norms, bias rows, GEMMs, copies,
// attention, adds, trace events), and for a recompute; each costs launch_us on top of its work.
constexpr double kKernelsPerItem = 25, kKernelsPerRecompute = 5, kKernelsPerHead = 10;

// GPU milliseconds of one item: its GEMMs at their measured times (plan/gemm_time.h), the
// element-wise passes over its rows at memory bandwidth, its attention, and the kernels' fixed
// costs. The element-wise traffic per token, in elements (pre-norm OPT with biases; a little
// over for the others): layer input kept for write-back 2h, two norms 4h, bias rows and their
// GEMM reads 2 (q + 2 kv) + 4h + 2 ffn, q scale or RoPE 2q (+ 2 kv), new K/V into the working
// blocks 4 kv, ReLU 2 ffn, two residual adds 6h: 16 h + 4 q + 8 kv + 4 ffn. A recompute row
// costs its norm 2h and K/V bias rows 4 kv.
double layer_item_ms(const ModelConfig& c, const Plan& p, const LayerItem& it,
                     double& recompute_ms) {
  const CostConstants& k = p.constants;
  auto gemm = [&](double rows, int64_t kk, int64_t n) { return gemm_ms(k, p.dtype, rows, kk, n); };
  auto pass_ms = [&](double elems) {
    return elems * static_cast<double>(elem_bytes(p.dtype)) / (k.mem_gbps * 1e6);
  };
  const int64_t H = c.hidden, Q = c.q_dim(), KV = c.kv_dim(), F = c.ffn_dim;
  const double launch_ms = k.launch_us / 1e3;
  double rc = 0;
  if (it.act_rows > 0)
    rc = 2 * gemm(it.act_rows, H, KV) + pass_ms(it.act_rows * static_cast<double>(2 * H + 4 * KV)) +
         kKernelsPerRecompute * launch_ms;
  recompute_ms += rc;
  if (it.tokens <= 0) return rc;
  const double T = it.tokens;
  const double ffn_in = c.ffn == FfnKind::swiglu ? 2 : 1;  // SwiGLU: gate and up
  const double dense =
      gemm(T, H, Q) + 2 * gemm(T, H, KV) + gemm(T, Q, H) + ffn_in * gemm(T, H, F) + gemm(T, F, H);
  const double elementwise = pass_ms(T * static_cast<double>(16 * H + 4 * Q + 8 * KV + 4 * F));
  return rc + dense + elementwise + it.attention_ms + kKernelsPerItem * launch_ms;
}

// The head of one mini-batch: its `rows` last tokens through (OPT's project_out and) the
// vocabulary, then sampling.
double head_ms(const ModelConfig& c, const Plan& p, double rows) {
  const CostConstants& k = p.constants;
  double ms = gemm_ms(k, p.dtype, rows, c.embed_dim(), c.vocab_size);
  if (c.has_projections()) ms += gemm_ms(k, p.dtype, rows, c.hidden, c.embed_dim());
  return ms + kKernelsPerHead * k.launch_us / 1e3;
}

// The phase's end-to-end time: its schedule (plan/step_schedule.h), the same list the engine
// runs, replayed with each operation's duration. An operation starts once its stream has
// finished the operations before it on the stream, the operations it waits for have ended,
// and, for a host-to-device copy (weights, cache_in), the one H2D channel is free: copies of
// both streams cross PCIe one at a time in list order, as the copy engines take them. The
// phase ends with its last operation.
template <typename Duration>
double replay_ms(const StepSchedule& schedule, Duration duration) {
  thread_local std::vector<double> end;  // memory reused, as the schedule's
  end.assign(schedule.ops.size(), 0);
  std::array<double, kNumStreams> stream_free = {};
  double h2d_free = 0, last = 0;
  for (size_t i = 0; i < schedule.ops.size(); ++i) {
    const StepOp& op = schedule.ops[i];
    const bool h2d = op.stream == Stream::weights || op.stream == Stream::cache_in;
    double start = stream_free[static_cast<size_t>(op.stream)];
    if (h2d) start = std::max(start, h2d_free);
    for (const int32_t w : op.waits)
      if (w >= 0) start = std::max(start, end[static_cast<size_t>(w)]);
    end[i] = start + duration(op);
    stream_free[static_cast<size_t>(op.stream)] = end[i];
    if (h2d) h2d_free = end[i];
    last = std::max(last, end[i]);
  }
  return last;
}

// One host-cache layer's cache traffic in a phase, as it crosses PCIe (in the plan's cache
// format) and in the element type (what a compressed host cache expands to and compresses from).
struct CacheLayerBytes {
  double load = 0, load_native = 0;    // blocks loaded
  double store = 0, store_native = 0;  // rows written back
};

// The phase's schedule with every layer running `passes` balanced mini-batches, each with 1 /
// passes of the phase's rows, recompute rows and attention, and of each cache layer's loads
// and write-backs (cb); then each mini-batch's head.
// Durations: weights and host cache loads at h2d_gbps, host write-backs at d2h_gbps, an item's
// layer (and recompute) on the GPU; a device-cache item's blocks are copied by a kernel beside
// compute, so its copy (resident_copy_ms a layer) is charged to the item's layer, and its load
// and write-back take no channel time. A compressed host cache is expanded by the item's first
// compute (its recompute if it has one, else its layer) and compressed by its write-back, each
// reading one form and writing the other at mem_gbps. Fills gpu_ms, recompute_ms and total_ms.
void schedule_phase(const ModelConfig& c, const Plan& p, const LayerItem& whole, double head_rows,
                    int64_t passes, const CacheLayerBytes& cb, double resident_copy_ms,
                    PhaseCost& pc) {
  const CostConstants& k = p.constants;
  const int64_t L = c.n_layers, M = std::max<int64_t>(passes, 1);
  const double m = static_cast<double>(M);
  const LayerItem item{whole.tokens / m, whole.act_rows / m, whole.attention_ms / m};
  double rc = 0;
  const double item_ms = layer_item_ms(c, p, item, rc);
  pc.recompute_ms = static_cast<double>(L) * m * rc;
  const double head = head_ms(c, p, head_rows / m);
  const bool compressed = p.cache_format != CacheFormat::native;
  const double cache_expand_ms =
      compressed ? transfer_ms((cb.load + cb.load_native) / m, k.mem_gbps) : 0;
  const double cache_compress_ms =
      compressed ? transfer_ms((cb.store + cb.store_native) / m, k.mem_gbps) : 0;
  pc.gpu_ms = static_cast<double>(L) * m * item_ms + resident_copy_ms * p.gpu_cache_layers +
              m * head + static_cast<double>(L - p.gpu_cache_layers) * m * cache_expand_ms;

  StepShape shape;
  shape.layers = L;
  shape.host_sets = p.host_sets;
  shape.layer_bytes = streamed_layer_share_bytes(c, p);
  shape.expand = p.weight_format != WeightFormat::native;
  shape.exchange_bytes = p.exchange_ranks > 1 ? streamed_layer_bytes(c, p) - shape.layer_bytes : 0;
  for (int64_t l = 0; l < L; ++l) {
    shape.streamed.push_back(streams_weights(p, L, l));
    shape.stored_on_device.push_back(stores_weights_on_device(p, L, l));
    shape.host_cache.push_back(host_cache_layer(p, L, l));
  }
  // Whole bytes where there are any: an operation is listed only if it moves something.
  auto item_bytes = [&](double layer_bytes) {
    return layer_bytes > 0 ? std::max<int64_t>(1, static_cast<int64_t>(layer_bytes / m)) : 0;
  };
  shape.load_bytes.assign(static_cast<size_t>(M), item_bytes(cb.load));
  shape.store_bytes.assign(static_cast<size_t>(M), item_bytes(cb.store));
  shape.recompute_rows.assign(static_cast<size_t>(M),
                              static_cast<int64_t>(std::ceil(item.act_rows)));
  thread_local StepScheduler scheduler;  // the planner times thousands of lists
  const StepSchedule& schedule = scheduler.schedule(shape);

  const double load_ms = transfer_ms(cb.load / m, k.h2d_gbps);
  // Expanding a compressed layer writes the layer in the element type, on its own stream
  // beside compute: at the measured expansion rate, or else reading the compressed bytes and
  // writing the expanded ones at device memory bandwidth.
  const double expanded = static_cast<double>(layer_weight_bytes(c, p.dtype));
  const double expand_ms =
      k.expand_gbps > 0
          ? transfer_ms(expanded, k.expand_gbps)
          : transfer_ms(static_cast<double>(shape.layer_bytes + shape.exchange_bytes) + expanded,
                        k.mem_gbps);
  // The exchange receives the layer's other shares from the peers.
  const double exchange_ms =
      shape.exchange_bytes > 0
          ? transfer_ms(static_cast<double>(shape.exchange_bytes), k.exchange_gbps)
          : 0.0;
  const double store_ms = transfer_ms(cb.store / m, k.d2h_gbps) + cache_compress_ms;
  pc.total_ms = replay_ms(schedule, [&](const StepOp& op) {
    switch (op.kind) {
      case OpKind::weights:
        return transfer_ms(static_cast<double>(op.bytes), k.h2d_gbps);
      case OpKind::cache_load:
        return op.host ? load_ms : 0.0;
      case OpKind::store:
        return op.host ? store_ms : 0.0;
      case OpKind::recompute:
        return rc + (shape.host_cache[static_cast<size_t>(op.layer)] ? cache_expand_ms : 0);
      case OpKind::layer: {
        const bool recomputes = op.mb >= 0 && shape.recompute_rows[static_cast<size_t>(op.mb)] > 0;
        const bool host = shape.host_cache[static_cast<size_t>(op.layer)];
        return item_ms - (recomputes ? rc : 0) + (host ? 0 : resident_copy_ms / m) +
               (host && !recomputes ? cache_expand_ms : 0);
      }
      case OpKind::head:
        return head;
      case OpKind::expand:
        return expand_ms;
      case OpKind::exchange:
        return exchange_ms;
      case OpKind::indices:
      case OpKind::embed:
        return 0.0;
    }
    return 0.0;
  });
}

void pcie_ms(PhaseCost& pc, const CostConstants& k) {
  pc.h2d_ms = transfer_ms(static_cast<double>(pc.traffic.total_h2d()), k.h2d_gbps);
  pc.d2h_ms = transfer_ms(static_cast<double>(pc.traffic.write_back_d2h), k.d2h_gbps);
  pc.pcie_ms = std::max(pc.h2d_ms, pc.d2h_ms);
}

void check_constants(const CostConstants& k) {
  HS_CHECK(k.h2d_gbps > 0 && k.d2h_gbps > 0 && k.gemm_tflops > 0 && k.mem_gbps > 0 &&
               k.attention_tflops > 0 && k.launch_us >= 0,
           "cost constants must be positive (h2d ", k.h2d_gbps, " GB/s, d2h ", k.d2h_gbps,
           " GB/s, gemm ", k.gemm_tflops, " TFLOP/s, mem ", k.mem_gbps, " GB/s, attention ",
           k.attention_tflops, " TFLOP/s, launch ", k.launch_us, " us)");
}

PhaseCost decode_cost(const ModelConfig& c, const Plan& p, const LengthCounts& lens) {
  check_constants(p.constants);
  PhaseCost pc;
  int64_t active = 0;
  for (const auto& [n, count] : lens) active += count;
  if (active == 0) return pc;

  // Bytes: exactly predict_step_traffic, evaluated once per distinct length.
  pc.traffic.weights_h2d = host_streamed_layers(p, c.n_layers) * streamed_layer_share_bytes(c, p);
  for (const auto& [n, count] : lens) {
    const StepTraffic one = predict_step_traffic(c, p, {n});
    pc.traffic.kv_h2d += count * one.kv_h2d;
    pc.traffic.act_h2d += count * one.act_h2d;
    pc.traffic.write_back_d2h += count * one.write_back_d2h;
  }

  const int64_t passes = std::min(p.num_mini_batches, active);
  double layer_flops = 0, attention_bytes = 0;
  LayerItem whole;
  if (p.policy == Policy::recompute_tokens) {
    // Every position of every request runs through every layer again, as in a prefill of
    // n + 1 tokens; attention is then compute-bound and counted in FLOPs.
    LengthCounts all;
    double tokens = 0;
    for (const auto& [n, count] : lens) {
      all[n + 1] += count;
      tokens += static_cast<double>(count * (n + 1));
    }
    const double attention_flops = causal_attention_flops(c, all);
    layer_flops = layer_dense_flops(c, tokens) + attention_flops;
    whole.tokens = tokens;
    whole.attention_ms = compute_ms(attention_flops, p.constants.attention_tflops);
  } else {
    // One new token per request; K/V of the R rows of activation blocks loaded are recomputed:
    // 2 R h (2 kv) FLOPs; attention reads every cached K/V row and the new one.
    double act_rows = 0;
    for (const auto& [n, count] : lens) {
      const int64_t blocks = (n + p.block_tokens - 1) / p.block_tokens;
      act_rows +=
          static_cast<double>(count * act_blocks_among(blocks, p.act_fraction) * p.block_tokens);
      attention_bytes += static_cast<double>(count * (n + 1) * kv_bytes_per_token(c, p.dtype));
    }
    const double recompute_flops =
        2 * act_rows * static_cast<double>(c.hidden) * 2 * static_cast<double>(c.kv_dim());
    layer_flops = layer_dense_flops(c, static_cast<double>(active)) + recompute_flops;
    whole.tokens = static_cast<double>(active);
    whole.act_rows = act_rows;
    whole.attention_ms = transfer_ms(attention_bytes, p.constants.mem_gbps);
  }
  pc.flops =
      static_cast<double>(c.n_layers) * layer_flops + head_flops(c, static_cast<double>(active));
  pc.attention_read_bytes = static_cast<int64_t>(attention_bytes) * c.n_layers;
  // One cache layer's loads (every block holding a cached token, whole) and write-backs (the
  // new token's row, K/V or checkpoint by its block) in the step, wherever the layer's cache is.
  CacheLayerBytes cb;
  if (p.policy != Policy::recompute_tokens) {
    for (const auto& [n, count] : lens) {
      const auto k = static_cast<double>(count);
      cb.load += k * static_cast<double>(request_cache_bytes_per_layer(c, p, n, true));
      cb.load_native += k * static_cast<double>(request_cache_bytes_per_layer(c, p, n, false));
      const bool act = is_act_block(n / p.block_tokens, p.act_fraction);
      cb.store += k * static_cast<double>(act ? host_act_bytes_per_token(c, p)
                                              : host_kv_bytes_per_token(c, p));
      cb.store_native += k * static_cast<double>(act ? act_bytes_per_token(c, p.dtype)
                                                     : kv_bytes_per_token(c, p.dtype));
    }
  }
  // A device-resident cache layer's blocks are copied into the working set on the device,
  // reading and writing each byte, beside compute and drawing on the same memory bandwidth.
  const double resident_copy_ms =
      p.gpu_cache_layers > 0 ? transfer_ms(2 * cb.load_native, p.constants.mem_gbps) : 0;
  pcie_ms(pc, p.constants);
  schedule_phase(c, p, whole, static_cast<double>(active), passes, cb, resident_copy_ms, pc);
  return pc;
}

}  // namespace

int64_t kv_bytes_per_token(const ModelConfig& c, DType t) {
  return 2 * c.kv_dim() * elem_bytes(t);
}

int64_t act_bytes_per_token(const ModelConfig& c, DType t) {
  return c.hidden * elem_bytes(t);
}

int64_t host_kv_bytes_per_token(const ModelConfig& c, const Plan& p) {
  return 2 * cache_row_bytes(p.cache_format, c.kv_dim(), p.cache_group, elem_bytes(p.dtype));
}

int64_t host_act_bytes_per_token(const ModelConfig& c, const Plan& p) {
  return cache_row_bytes(p.cache_format, c.hidden, p.cache_group, elem_bytes(p.dtype));
}

int64_t layer_weight_bytes(const ModelConfig& c, DType t) {
  int64_t n = 0;
  for (const PartSpec& s : layer_parts(c, 0)) n += s.numel();
  return n * elem_bytes(t);
}

int64_t streamed_layer_bytes(const ModelConfig& c, const Plan& p) {
  int64_t n = 0;
  for (const PartSpec& s : layer_parts(c, 0))
    n += stored_part_bytes(s, p.dtype, p.weight_format, p.quant_group);
  return n;
}

int64_t streamed_layer_share_bytes(const ModelConfig& c, const Plan& p) {
  const int64_t n = streamed_layer_bytes(c, p), r = std::max<int64_t>(1, p.exchange_ranks);
  return (n + r - 1) / r;
}

int64_t global_weight_bytes(const ModelConfig& c, DType t) {
  int64_t n = 0;
  for (const PartSpec& s : global_parts(c)) n += s.numel();
  return n * elem_bytes(t);
}

int64_t act_blocks_among(int64_t blocks, double f) {
  return static_cast<int64_t>(std::floor(static_cast<double>(blocks) * f));
}

int64_t act_rows_among(int64_t tokens, int64_t block_tokens, double f) {
  const int64_t full_blocks = tokens / block_tokens, rest = tokens % block_tokens;
  int64_t rows = act_blocks_among(full_blocks, f) * block_tokens;
  if (rest > 0 && is_act_block(full_blocks, f)) rows += rest;
  return rows;
}

int64_t request_cache_bytes_per_layer(const ModelConfig& c, const Plan& p, int64_t tokens,
                                      bool host) {
  const int64_t blocks = (tokens + p.block_tokens - 1) / p.block_tokens;
  const int64_t act_blocks = act_blocks_among(blocks, p.act_fraction);
  const int64_t kv = host ? host_kv_bytes_per_token(c, p) : kv_bytes_per_token(c, p.dtype);
  const int64_t act = host ? host_act_bytes_per_token(c, p) : act_bytes_per_token(c, p.dtype);
  return p.block_tokens * ((blocks - act_blocks) * kv + act_blocks * act);
}

PhaseCost decode_step_cost(const ModelConfig& c, const Plan& p,
                           const std::vector<int64_t>& cached_lens) {
  return decode_cost(c, p, count_lengths(cached_lens));
}

PhaseCost prefill_cost(const ModelConfig& c, const Plan& p,
                       const std::vector<int64_t>& prompt_lens) {
  check_constants(p.constants);
  PhaseCost pc;
  const LengthCounts lens = count_lengths(prompt_lens);
  const int64_t requests = static_cast<int64_t>(prompt_lens.size());
  if (requests == 0) return pc;

  pc.traffic.weights_h2d = host_streamed_layers(p, c.n_layers) * streamed_layer_share_bytes(c, p);
  double tokens = 0;
  CacheLayerBytes cb;
  for (const auto& [n, count] : lens) {
    tokens += static_cast<double>(count * n);
    if (p.policy == Policy::recompute_tokens) continue;
    // Each prompt token's row goes to its cache for every layer (crossing PCIe for the
    // host-cache layers): its checkpoint if it falls into an activation block, else its K and V.
    const int64_t act_rows = act_rows_among(n, p.block_tokens, p.act_fraction);
    const int64_t row_bytes =
        (n - act_rows) * host_kv_bytes_per_token(c, p) + act_rows * host_act_bytes_per_token(c, p);
    const int64_t native_bytes = (n - act_rows) * kv_bytes_per_token(c, p.dtype) +
                                 act_rows * act_bytes_per_token(c, p.dtype);
    pc.traffic.write_back_d2h += (c.n_layers - p.gpu_cache_layers) * count * row_bytes;
    cb.store += static_cast<double>(count * row_bytes);
    cb.store_native += static_cast<double>(count * native_bytes);
  }
  const double attention_flops = causal_attention_flops(c, lens);
  const double layer_flops = layer_dense_flops(c, tokens) + attention_flops;
  const int64_t passes = std::min(p.num_mini_batches, requests);
  // Only each request's last prompt token goes through the head.
  pc.flops =
      static_cast<double>(c.n_layers) * layer_flops + head_flops(c, static_cast<double>(requests));
  LayerItem whole;
  whole.tokens = tokens;
  whole.attention_ms = compute_ms(attention_flops, p.constants.attention_tflops);
  pcie_ms(pc, p.constants);
  schedule_phase(c, p, whole, static_cast<double>(requests), passes, cb, 0, pc);
  return pc;
}

RunCost predict_run(const ModelConfig& c, const Plan& p, const Workload& w) {
  HS_CHECK(w.prompt_lens.size() == w.gen_lens.size(), "workload has ", w.prompt_lens.size(),
           " prompt lengths but ", w.gen_lens.size(), " generation lengths");
  RunCost r;
  r.prefill = prefill_cost(c, p, w.prompt_lens);
  r.write_back_bytes = r.prefill.traffic.write_back_d2h;

  // (prompt, gen) classes, so a step costs one evaluation per distinct cached length.
  std::map<std::pair<int64_t, int64_t>, int64_t> classes;
  int64_t max_gen = 0;
  for (size_t i = 0; i < w.prompt_lens.size(); ++i) {
    ++classes[{w.prompt_lens[i], w.gen_lens[i]}];
    r.generated_tokens += w.gen_lens[i];
    max_gen = std::max(max_gen, w.gen_lens[i]);
  }
  for (int64_t s = 1; s < max_gen; ++s) {
    LengthCounts lens;
    for (const auto& [pg, count] : classes)
      if (pg.second > s) lens[pg.first + s - 1] += count;
    const PhaseCost step = decode_cost(c, p, lens);
    ++r.decode_steps;
    r.decode_ms += step.total_ms;
    r.mean_h2d_ms += step.h2d_ms;
    r.mean_d2h_ms += step.d2h_ms;
    r.mean_pcie_ms += step.pcie_ms;
    r.mean_gpu_ms += step.gpu_ms;
    r.mean_recompute_ms += step.recompute_ms;
    r.decode_cache_h2d_bytes += step.traffic.kv_h2d + step.traffic.act_h2d;
    r.write_back_bytes += step.traffic.write_back_d2h;
  }
  if (r.decode_steps > 0) {
    const double n = static_cast<double>(r.decode_steps);
    r.mean_h2d_ms /= n;
    r.mean_d2h_ms /= n;
    r.mean_pcie_ms /= n;
    r.mean_gpu_ms /= n;
    r.mean_recompute_ms /= n;
    r.mean_step_ms = r.decode_ms / n;
  }
  const double total_ms = r.prefill.total_ms + r.decode_ms;
  r.tokens_per_s = total_ms > 0 ? static_cast<double>(r.generated_tokens) / (total_ms / 1e3) : 0;
  return r;
}

}  // namespace hs

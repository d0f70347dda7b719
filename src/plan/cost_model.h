// The cost model: what a prefill and a decode step of a plan cost, in bytes over PCIe, FLOPs
// and device-memory bytes on the GPU, and milliseconds given the cost constants. The planner
// ranks plans with it; `hybridserve plan` prints it; the engine's traces are checked against it.
//
// Time of a phase (prefill, or one decode step):
//   h2d_ms  = H2D bytes / h2d_gbps        (weights of non-resident layers + cache blocks, by the
//                                          block accounting of plan/plan.h)
//   d2h_ms  = D2H bytes / d2h_gbps        (write-back of new cache rows; the other direction)
//   pcie_ms = max(h2d_ms, d2h_ms)         (the two directions overlap)
//   gpu_ms  = layers * passes * item_ms + passes * head_ms (+ resident-cache copies, below)
//   total_ms = the step's schedule (plan/step_schedule.h), the operation list the engine runs,
//              replayed with each operation's duration: an operation starts once its stream is
//              free, the operations it waits for have ended and, for H2D copies (weights and
//              host cache loads), the one H2D channel is free, so they cross in list order.
//              With every item alike this is max(pcie_ms, gpu_ms) + min(pcie_ms, gpu_ms) /
//              items (the first load and the last compute stick out); host loads run at most
//              host_sets host-cache items ahead of compute, so a stretch of resident layers
//              longer than that many loads leaves PCIe idle.
//   item_ms = the item's linears, each at gemm_ms(rows, k, n) (plan/gemm_time.h: measured
//               curves; small mini-batches pay for reading the weights once each)
//           + K/V recompute: 2 gemm_ms(R, h, kv) for the R rows of checkpoint blocks loaded
//           + element-wise passes (norms, bias rows, residual adds, copies) at mem_gbps
//           + attention: decode reads every cached K/V row at mem_gbps; a prefill's causal
//             attention runs 2 q sum_i n_i (n_i + 1) FLOPs at attention_tflops
//           + its kernels' fixed costs (launch_us each)
//   head_ms = the vocabulary GEMM of the mini-batch's last tokens, and sampling;
// and in decode, each device-resident cache layer's blocks copied into the working set (read
// and written: 2 bytes of traffic a byte) at mem_gbps, added to that layer's items.
// FLOPs are reported too: projections 2 T (h q + 2 h kv + q h), FFN 2 T h ffn (2 matrices for
// OPT, 3 for SwiGLU), recompute 2 R h (2 kv), causal attention 2 q sum_i n_i (n_i + 1).
// passes is the number of mini-batches, taken as balanced: an item (one layer of one
// mini-batch) has 1 / passes of the phase's rows, and of a host-cache layer's bytes.
#pragma once

#include <cstdint>
#include <vector>

#include "model/config.h"
#include "plan/plan.h"
#include "util/dtype.h"

namespace hs {

// ---- sizes ---------------------------------------------------------------------------------
int64_t kv_bytes_per_token(const ModelConfig& c, DType t);   // per layer: 2 * kv_dim * elem
int64_t act_bytes_per_token(const ModelConfig& c, DType t);  // per layer: hidden * elem
// The same as the host cache holds them and PCIe carries them, in the plan's cache format
// (model/cache_format.h: cache_row_bytes; the two above when native).
int64_t host_kv_bytes_per_token(const ModelConfig& c, const Plan& p);
int64_t host_act_bytes_per_token(const ModelConfig& c, const Plan& p);
int64_t layer_weight_bytes(const ModelConfig& c, DType t);  // every part of one layer
// A streamed layer's bytes in the host pool and over PCIe, in the plan's weight format
// (layer_weight_bytes when native).
int64_t streamed_layer_bytes(const ModelConfig& c, const Plan& p);
// What one rank copies over PCIe of a streamed layer: the whole layer, or with a weight
// exchange (Plan::exchange_ranks) its share, ceil(bytes / ranks) (the last share may be
// smaller; the largest bounds the step).
int64_t streamed_layer_share_bytes(const ModelConfig& c, const Plan& p);
// Model-wide parts (embeddings, final norm, head): always on the device, never streamed.
int64_t global_weight_bytes(const ModelConfig& c, DType t);

// Activation blocks among a request's first `blocks` blocks under share f: floor(blocks * f).
// (is_act_block(b, f) is defined from it, so sums of is_act_block over b telescope to this.)
int64_t act_blocks_among(int64_t blocks, double f);
// Rows (tokens) among the first `tokens` positions that fall into activation blocks.
int64_t act_rows_among(int64_t tokens, int64_t block_tokens, double f);
// Bytes one layer's cache of a request holding `tokens` tokens takes: whole blocks, K/V blocks
// at kv_bytes_per_token a row and activation blocks at act_bytes_per_token a row; on the host
// (host_*_bytes_per_token: compressed where the plan's cache format says) or on the device.
int64_t request_cache_bytes_per_layer(const ModelConfig& c, const Plan& p, int64_t tokens,
                                      bool host = true);

// ---- cost of a phase -------------------------------------------------------------------------
struct PhaseCost {
  StepTraffic traffic;               // bytes over PCIe, by kind
  double flops = 0;                  // layers + head
  int64_t attention_read_bytes = 0;  // K/V read by decode attention on the device
  double h2d_ms = 0;
  double d2h_ms = 0;
  double pcie_ms = 0;       // max(h2d_ms, d2h_ms)
  double recompute_ms = 0;  // the K/V recompute share of gpu_ms (for explanations)
  double gpu_ms = 0;
  double total_ms = 0;  // the schedule replayed (above)
};

// One decode step in which (active) request i holds cached_lens[i] tokens before the step.
// Mini-batches are taken as balanced: passes = min(num_mini_batches, active requests).
PhaseCost decode_step_cost(const ModelConfig& c, const Plan& p,
                           const std::vector<int64_t>& cached_lens);
// The prefill of every request (prompt_lens[i] tokens each); it writes back each prompt
// token's cache row (K/V or checkpoint by its block) for every host-cache layer.
PhaseCost prefill_cost(const ModelConfig& c, const Plan& p,
                       const std::vector<int64_t>& prompt_lens);

// ---- a whole run -----------------------------------------------------------------------------
// Prefill, then decode steps s = 1 .. max(gen_len) - 1: at step s every request with
// gen_len > s holds prompt_len + s - 1 cached tokens (the prefill yields the first token).
struct RunCost {
  PhaseCost prefill;
  int64_t decode_steps = 0;
  double decode_ms = 0;    // sum over the steps of total_ms
  double mean_h2d_ms = 0;  // averages over the decode steps
  double mean_d2h_ms = 0;
  double mean_pcie_ms = 0;
  double mean_gpu_ms = 0;
  double mean_recompute_ms = 0;
  double mean_step_ms = 0;             // mean of each step's total_ms
  int64_t decode_cache_h2d_bytes = 0;  // summed over the steps, all host-cache layers
  int64_t write_back_bytes = 0;        // prefill and every step, all host-cache layers
  int64_t generated_tokens = 0;
  double tokens_per_s = 0;  // generated tokens / (prefill + decode time)
};
RunCost predict_run(const ModelConfig& c, const Plan& p, const Workload& w);

}  // namespace hs

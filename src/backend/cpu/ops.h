// The cpu reference operations: fp32, deterministic, and row-independent (each output row is a
// function of its own input row and the weights, summed in a fixed order), so a token's result
// never depends on what it is batched with. The reference engine, the cpu backend and the CUDA
// kernels' tests all use these; every CUDA kernel in kernels/ has its twin here.
#pragma once

#include <cstdint>

namespace hs::cpu {

// out[t, :] = table[ids[t], :]                 out: [rows, dim], table: [vocab, dim]
void embed(float* out, const float* table, const int32_t* ids, int64_t rows, int64_t dim);

// x[t, :] += table[idx[t], :]                  x: [rows, dim] (OPT's learned positions)
void add_rows(float* x, const float* table, const int32_t* idx, int64_t rows, int64_t dim);

// LayerNorm: out = (x - mean) / sqrt(var + eps) * w + b, per row (biased variance, two passes).
// out, x: [rows, dim]; w, b: [dim]. out may alias x.
void layernorm(float* out, const float* x, const float* w, const float* b, int64_t rows,
               int64_t dim, float eps);

// RMSNorm: out = x / sqrt(mean(x^2) + eps) * w, per row.  out, x: [rows, dim]; w: [dim].
void rmsnorm(float* out, const float* x, const float* w, int64_t rows, int64_t dim, float eps);

// Linear layer in PyTorch's layout: out = x w^T + b.
// out: [rows, n], x: [rows, k], w: [n, k], b: [n] or nullptr. out must not alias x.
void linear(float* out, const float* x, const float* w, const float* b, int64_t rows, int64_t k,
            int64_t n);

// x *= s (OPT scales q by head_dim^-0.5 after its projection).  x: [n]
void scale(float* x, float s, int64_t n);

// Rotary position embedding, Hugging Face's rotate-half layout: for each head and i < d/2,
//   (x_i, x_{i+d/2}) <- (x_i cos a - x_{i+d/2} sin a, x_{i+d/2} cos a + x_i sin a),
//   a = pos * theta^(-2i/d).
// x: [rows, heads * head_dim] in place; pos: [rows].
void rope(float* x, const int32_t* pos, int64_t rows, int64_t heads, int64_t head_dim, float theta);

// Shapes of one attention call over block tables.
struct AttentionShape {
  int64_t rows;        // query tokens in this call
  int64_t n_heads;     // query heads
  int64_t n_kv_heads;  // key/value heads (n_heads % n_kv_heads == 0: grouped-query)
  int64_t head_dim;
  int64_t block_tokens;  // tokens per cache block
  int64_t max_blocks;    // columns of the block table
  float scale;           // multiplies q.k (1 for OPT, whose q is pre-scaled)
};

// Causal attention of each query over its sequence's cached keys, read through a block table.
// Query t belongs to sequence seq[t] at position pos[t] and attends to that sequence's keys at
// positions 0..pos[t]; key position p lives in slot block_table[seq[t] * max_blocks + p /
// block_tokens], row p % block_tokens. Keys are visited in position order and the softmax is
// taken with its maximum subtracted, so the result is independent of the block layout.
// out, q: [rows, n_heads * head_dim]; k, v: [slots, block_tokens, n_kv_heads * head_dim].
void attention(float* out, const float* q, const float* k, const float* v,
               const int32_t* block_table, const int32_t* seq, const int32_t* pos,
               const AttentionShape& s);

// x = max(x, 0).  x: [n]
void relu(float* x, int64_t n);

// out = silu(gate) * up, silu(g) = g / (1 + exp(-g)).  out, gate, up: [n]; out may alias gate.
void silu_mul(float* out, const float* gate, const float* up, int64_t n);

// out = a + b.  [n]; out may alias a or b.
void add(float* out, const float* a, const float* b, int64_t n);

}  // namespace hs::cpu

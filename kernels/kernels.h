// Launchers of HybridServe's CUDA kernels. Each computes the same function as its cpu twin in
// src/backend/cpu/ops.h (or engine/sampler.h), on elements of `t` (fp16 or bf16) with fp32
// arithmetic inside, and enqueues on `stream` without synchronizing. Every launcher checks its
// launch (CUDA_CHECK_LAUNCH) and throws hs::Error on arguments it cannot handle.
//
// Pointers are device pointers unless a comment says otherwise; index arrays are int32 on the
// device. Rows are contiguous (row stride = the row's width). Vectorized (16-byte) paths are
// taken when pointers are 16-byte aligned and widths are multiples of 8; other inputs take a
// scalar path and give the same result.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "backend/cpu/ops.h"
#include "util/dtype.h"

namespace hs {
enum class WeightFormat;  // model/quant.h, included by dequantize.cu alone
enum class CacheFormat;   // model/cache_format.h, included by cache_compress.cu alone
}  // namespace hs

namespace hs::kernels {

// ---- embedding.cu --------------------------------------------------------------------------
// out[r, :] = table[ids[r], :]                out: [rows, dim], table: [vocab, dim]
void embed(DType t, void* out, const void* table, const int32_t* ids, int64_t rows, int64_t dim,
           cudaStream_t stream);
// x[r, :] += table[idx[r], :]                 x: [rows, dim] (OPT's learned positions)
void add_rows(DType t, void* x, const void* table, const int32_t* idx, int64_t rows, int64_t dim,
              cudaStream_t stream);

// ---- norm.cu ---------------------------------------------------------------------------------
// out = (x - mean) / sqrt(var + eps) * w + b per row.   out, x: [rows, dim]; w, b: [dim].
// out may alias x.
void layernorm(DType t, void* out, const void* x, const void* w, const void* b, int64_t rows,
               int64_t dim, float eps, cudaStream_t stream);
// out = w * (x / sqrt(mean(x^2) + eps)) per row.         out, x: [rows, dim]; w: [dim].
void rmsnorm(DType t, void* out, const void* x, const void* w, int64_t rows, int64_t dim, float eps,
             cudaStream_t stream);

// ---- rope.cu ---------------------------------------------------------------------------------
// HF rotate-half rotary embedding in place.  x: [rows, heads * head_dim]; pos: [rows].
void rope(DType t, void* x, const int32_t* pos, int64_t rows, int64_t heads, int64_t head_dim,
          float theta, cudaStream_t stream);

// ---- elementwise.cu -------------------------------------------------------------------------
void relu(DType t, void* x, int64_t n, cudaStream_t stream);            // x = max(x, 0)
void scale(DType t, void* x, float s, int64_t n, cudaStream_t stream);  // x *= s
// out = silu(gate) * up; out may alias gate or up.
void silu_mul(DType t, void* out, const void* gate, const void* up, int64_t n, cudaStream_t stream);
// out = a + b; out may alias a or b.
void add(DType t, void* out, const void* a, const void* b, int64_t n, cudaStream_t stream);

// ---- copy_rows.cu ---------------------------------------------------------------------------
// dst row dst_rows[i] = src row src_rows[i] for i < n_rows; rows of row_bytes bytes. dst or src
// may be mapped pinned host memory (cudaHostAllocMapped): the kernel reads / writes it over PCIe.
void copy_rows(void* dst, const int32_t* dst_rows, const void* src, const int32_t* src_rows,
               int64_t n_rows, int64_t row_bytes, cudaStream_t stream);

// ---- dequantize.cu -------------------------------------------------------------------------
// w = the compressed matrix src expanded (hs::dequantize_rows' arithmetic, then one rounding to
// t).  w: [rows, cols] of t; src: [rows, cols] in format f (int8 or int4, groups of `group`) as
// model/quant.h lays it out, at least 4-byte aligned. 16 bytes are written at a time when
// cols % 8 == 0 (int4: group % 8 == 0 too), src is 8-byte and w 16-byte aligned.
void dequantize(DType t, void* w, const void* src, WeightFormat f, int64_t rows, int64_t cols,
                int64_t group, cudaStream_t stream);

// ---- cache_compress.cu ---------------------------------------------------------------------
// Compressed cache rows (model/cache_format.h; f = int8 or int4, groups of `group` elements,
// int4 with even group and cols), with hs::compress_cache_row / expand_cache_row's arithmetic:
// compress: dst row rows[i] = src row rows[i] compressed, i < count (rows nullptr: row i);
//   src: rows of cols elements of t; dst: rows of cache_row_bytes(f, cols, group, 2) bytes.
// expand: dst rows [0, count) = src rows [0, count) expanded and rounded once to t.
void compress_cache_rows(DType t, void* dst, const void* src, const int32_t* rows, int64_t count,
                         int64_t cols, CacheFormat f, int64_t group, cudaStream_t stream);
void expand_cache_rows(DType t, void* dst, const void* src, int64_t count, int64_t cols,
                       CacheFormat f, int64_t group, cudaStream_t stream);

// ---- attention.cu ---------------------------------------------------------------------------
// Causal attention over block tables (cpu::attention's function): query r of sequence seq[r] at
// position pos[r] attends to that sequence's keys at positions 0..pos[r].
//   out, q: [rows, n_heads * head_dim]; k, v: [slots, block_tokens, n_kv_heads * head_dim];
//   block_table: [n_seqs, max_blocks]; seq, pos: [rows].
// head_dim even and at most 256 (at most 128 unless a multiple of 8); q, k, v, out 4-byte
// aligned, and 16-byte aligned with head_dim % 8 == 0 for the fast (16-byte load) variant.
// `workspace` (workspace_bytes, device) holds the query tiles and split-K partials.
// Calls of at most 512 rows with head_dim 64/128/256 and 16-byte alignment take the decode
// (flash-decoding) kernel, one query per block; larger calls with head_dim 64/128 and 16-byte
// alignment the tensor-core prefill kernel (attention_prefill.cu); others, and HS_ATTN_DECODE=0
// / HS_ATTN_PREFILL_TC=0, the tiled CUDA-core kernel. HS_ATTN_PREFILL_TC=1 sends every call the
// prefill kernel can take to it.
void attention(DType t, void* out, const void* q, const void* k, const void* v,
               const int32_t* block_table, const int32_t* seq, const int32_t* pos,
               const cpu::AttentionShape& s, void* workspace, size_t workspace_bytes, int num_sms,
               cudaStream_t stream);

// ---- sampling.cu ----------------------------------------------------------------------------
// tokens[r] = argmax_i logits[r, i], lowest i on ties (NaN never wins).  logits: [rows, vocab]
// fp32. tokens may be mapped pinned host memory.
void argmax_rows(int32_t* tokens, const float* logits, int64_t rows, int64_t vocab,
                 cudaStream_t stream);

}  // namespace hs::kernels

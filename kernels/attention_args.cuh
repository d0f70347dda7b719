// What every attention path (attention.cu's CUDA-core and flash-decoding kernels,
// attention_prefill.cu's tensor-core kernel) reads of kernels::attention's arguments (kernels.h),
// in one place: each path's parameter struct derives from it and adds its own fields.
#pragma once

#include <cstdint>

#include "backend/cpu/ops.h"

namespace hs::kernels {

template <typename T>
struct AttentionArgs {
  T* out;                          // [rows, n_heads * head_dim]
  const T* q;                      // [rows, n_heads * head_dim]
  const T* k;                      // [*, n_kv_heads * head_dim], rows through the block table
  const T* v;                      // likewise
  const int32_t* table;            // [sequences, max_blocks]
  const int32_t* seq;              // [rows]: each row's sequence
  const int32_t* pos;              // [rows]: each row's position (it attends keys 0 .. pos)
  int n_heads, n_kv_heads, group;  // group = n_heads / n_kv_heads
  int block_tokens, max_blocks;
};

template <typename T>
AttentionArgs<T> attention_args(void* out, const void* q, const void* k, const void* v,
                                const int32_t* block_table, const int32_t* seq, const int32_t* pos,
                                const cpu::AttentionShape& s) {
  AttentionArgs<T> a{};
  a.out = static_cast<T*>(out);
  a.q = static_cast<const T*>(q);
  a.k = static_cast<const T*>(k);
  a.v = static_cast<const T*>(v);
  a.table = block_table;
  a.seq = seq;
  a.pos = pos;
  a.n_heads = int(s.n_heads);
  a.n_kv_heads = int(s.n_kv_heads);
  a.group = int(s.n_heads / s.n_kv_heads);
  a.block_tokens = int(s.block_tokens);
  a.max_blocks = int(s.max_blocks);
  return a;
}

}  // namespace hs::kernels

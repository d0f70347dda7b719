// Tensor-core prefill attention (attention_prefill.cu): the same function as kernels::attention
// (causal attention over block tables, cpu::attention's twin), for calls with many query rows per
// sequence. Internal to kernels/: attention.cu dispatches here.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "backend/cpu/ops.h"
#include "util/dtype.h"

namespace hs::kernels {

// Whether attention_prefill can take the call: head_dim 64 or 128, q, k, v and out 16-byte
// aligned, and a workspace of prefill_workspace_bytes(rows).
bool prefill_applies(const cpu::AttentionShape& s, const void* out, const void* q, const void* k,
                     const void* v, size_t workspace_bytes);

// Arguments as kernels::attention's (kernels.h). Correct for any rows; fast when the rows of a
// sequence are consecutive with consecutive positions (as the engine's prefill lays them out).
void attention_prefill(DType t, void* out, const void* q, const void* k, const void* v,
                       const int32_t* block_table, const int32_t* seq, const int32_t* pos,
                       const cpu::AttentionShape& s, void* workspace, size_t workspace_bytes,
                       int num_sms, cudaStream_t stream);

}  // namespace hs::kernels

// The CUDA backend: fp16 or bf16 storage with fp32 accumulation, cuBLAS GEMMs, the kernels of
// kernels/, six CUDA streams (one per hs::Stream) and a pool of events. Built only when nvcc is
// found (HS_HAVE_CUDA); the factory in backend/backend.cpp is the one caller outside tests.
//
// What the engine can rely on (beyond backend.h):
//  - host_alloc memory is pinned, portable and mapped, and its pointer is also its device
//    pointer (unified addressing), so copy_rows and kernels may read / write it directly.
//  - device_alloc returns 256-byte aligned memory. attention takes head_dim even and <= 256
//    (<= 128 unless a multiple of 8) and 4-byte aligned q, k, v, out; its fast path wants
//    head_dim % 8 == 0 and 16-byte alignment (what 256-byte aligned regions give). Other ops
//    take any 2-byte aligned pointer and use 16-byte accesses when they can.
//  - device_capacity_bytes() is what was free after the backend's own reservations (cuBLAS
//    workspace 32 MiB, attention workspace 64 MiB, a 256 MiB margin for the driver), capped by
//    BackendOptions::device_mem_gib when that is > 0.
//  - Events: record() hands out ids from a ring of 65536 CUDA events; an Event stays usable for
//    wait / sync / event_ms until 65536 later record() calls (older ones throw hs::Error).
//  - sample(): greedy runs on the device (argmax, lowest id on ties); temperature / top-k /
//    top-p copy the fp32 logits to pinned host memory (at most 64 MiB at a time) and call
//    hs::sample_token per row, so the tokens equal the cpu backend's for the same logits.
//  - Not thread-safe: one thread drives a backend (each call sets its device first, so several
//    backends on several devices may live in one process).
#pragma once

#include <memory>

#include "backend/backend.h"

namespace hs {

// Throws hs::Error if there is no usable device, the index is out of range, or the dtype is not
// fp16 / bf16.
std::unique_ptr<Backend> make_cuda_backend(const BackendOptions& opt);

}  // namespace hs

// Tensor-core prefill attention, flash-attention-2 style. Same function as kernels::attention:
//   out[r, h, :] = sum_{p <= pos[r]} softmax_p(scale * q[r, h, :] . K[seq[r], p, h / group, :])
//                  * V[seq[r], p, h / group, :]
//   out, q: [rows, n_heads * D]; k, v: [slots, block_tokens, n_kv_heads * D];
//   block_table: [n_seqs, max_blocks]; seq, pos: [rows].
//
// Work decomposition (Shape below: R = 128 query rows a tile, 4 warps of 32 rows, 32 keys a
// key tile).
//  - A *tile* is a run of up to R consecutive query rows of one sequence with consecutive
//    positions, cut where a position is a multiple of R (so a prefill's tiles line up with the
//    key tiles and only the last ones need the causal mask). Every row starts a tile or
//    continues the previous row's, so any row order is covered (shuffled rows give 1-row tiles:
//    correct, slow). tiles_kernel lists {first row, rows, min pos, max pos} in the workspace.
//  - A block takes one (tile, head) item at a time from an atomic counter, in reverse list order
//    so that a tile's heads (sharing K/V through L2 under GQA) run together and the last items
//    are light ones. Warp w owns the tile's rows 32w .. 32w + 31: two m-tiles of 16 rows, which
//    share every K / V fragment the warp reads from shared memory.
//  - Q goes to shared memory once; its mma A fragments are re-read from there each key tile (with
//    one m-tile a warp they stay in registers). Keys 0 .. max pos stream through shared memory a
//    key tile at a time (cp.async, 16 bytes a thread, through the block table; double-buffered:
//    tile j + 1 loads while tile j computes).
//  - Per key tile a warp computes S = Q K^T (fp32 accumulators) with mma.sync m16n8k16, masks
//    keys past each row's position, keeps an online softmax per row in fp32 (base 2: scores
//    carry scale * log2 e), rounds P to the 16-bit type and adds P V into fp32 accumulators with
//    mma again (S's accumulator layout is P's A-fragment layout, so P never leaves registers).
//  - The output goes through the warp's rows of the Q buffer so that global stores are 16-byte
//    and coalesced.
// Precision: products and sums in fp32 as in the cpu twin; the one extra rounding is P to 16
// bits before P V (2^-11 relative in fp16, 2^-8 in bf16), about the size of the output's own
// rounding.
#include "kernels/attention_prefill.h"

#include <algorithm>
#include <type_traits>

#include "kernels/attention_args.cuh"
#include "kernels/common.cuh"

namespace hs::kernels {
namespace {

// A kernel shape: kWarps warps, each owning kMT m-tiles of 16 query rows (kMT > 1 shares each
// K / V fragment between m-tiles: less shared-memory traffic per flop, more registers).
template <int kWarps, int kMT, int kKeys>
struct Shape {
  static constexpr int warps = kWarps, mt = kMT;
  static constexpr int keys = kKeys;  // keys per shared-memory tile
  static constexpr int threads = 32 * kWarps;
  static constexpr int rows = 16 * kMT * kWarps;  // query rows per tile
};

// The shape in use. Measured on an H100 80GB HBM3 (kernels/NOTES.md, "Tensor-core prefill kernel";
// prefill 128 x 1024 gqa4 d128 / 32 x 512 mha40 d128, fp16): 4 warps x 1 m-tile, 64 keys: 1.77 /
// 0.71 ms; 8 x 1, 64 keys: 1.59 / 0.64 ms; 4 x 2, 64 keys: 1.55 / 0.65 ms (255 registers, a few
// spilled); 4 x 2, 32 keys: 1.51 / 0.59 ms (250 registers at d 128, 70 KB of shared memory, two
// blocks per SM).
using TileShape = Shape<4, 2, 32>;

// Shared-memory row stride in elements: 16 bytes of padding put the 8 rows an ldmatrix reads
// (stride D + 8 elements = an odd number of 16-byte units) on different banks.
template <int kD>
constexpr int kStride = kD + 8;

template <int kD, typename S>
constexpr size_t smem_bytes() {
  return size_t(S::rows + 4 * S::keys) * kStride<kD> * 2;  // Q, K x 2, V x 2; 2-byte elements
}

// Workspace: [counters: tiles, next item | 256-byte aligned int4 tile list, one per row at most].
constexpr size_t kTilesOffset = 256;
size_t workspace_needed(int64_t rows) {
  return kTilesOffset + size_t(rows) * sizeof(int4);
}

template <typename T>
struct PrefillParams : AttentionArgs<T> {
  const int4* tiles;  // {first row, rows, min pos, max pos}
  int32_t* counts;    // [0]: tiles, [1]: next work item
  float scale_log2;   // scale * log2(e)
};

// Row t starts a tile unless it continues row t - 1: same sequence, next position, and that
// position not a multiple of tile_rows. The starting thread walks the tile (at most tile_rows).
__global__ void tiles_kernel(const int32_t* __restrict__ seq, const int32_t* __restrict__ pos,
                             int64_t rows, int tile_rows, int4* tiles, int32_t* counts) {
  for (int64_t t = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; t < rows;
       t += int64_t(gridDim.x) * blockDim.x) {
    auto continues = [&](int64_t r) {
      return seq[r] == seq[r - 1] && pos[r] == pos[r - 1] + 1 && pos[r] % tile_rows != 0;
    };
    if (t > 0 && continues(t)) continue;
    int n = 1;
    while (n < tile_rows && t + n < rows && continues(t + n)) ++n;
    // Positions are consecutive within the tile.
    tiles[atomicAdd(&counts[0], 1)] = make_int4(int(t), n, pos[t], pos[t] + n - 1);
  }
}

__device__ __forceinline__ void cp_async16(void* dst, const void* src, bool valid) {
  const unsigned d = static_cast<unsigned>(__cvta_generic_to_shared(dst));
  const int n = valid ? 16 : 0;  // 0: nothing read, 16 zero bytes written
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(d), "l"(src), "r"(n));
}
__device__ __forceinline__ void cp_async_commit() {
  asm volatile("cp.async.commit_group;\n" ::);
}
__device__ __forceinline__ void cp_async_wait_all() {
  asm volatile("cp.async.wait_group 0;\n" ::: "memory");
}

// Four 8x8 matrices of 16-bit elements; lane l gives the address of row l % 8 of matrix l / 8.
__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], const void* p) {
  const unsigned a = static_cast<unsigned>(__cvta_generic_to_shared(p));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(a));
}
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t (&r)[4], const void* p) {
  const unsigned a = static_cast<unsigned>(__cvta_generic_to_shared(p));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(a));
}

// c += a (16x16, row) * b (16x8, col), fp32 accumulators.
template <typename T>
__device__ __forceinline__ void mma16816(float (&c)[4], const uint32_t (&a)[4], uint32_t b0,
                                         uint32_t b1) {
  if constexpr (std::is_same_v<T, __half>) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
        "{%8, %9}, {%0, %1, %2, %3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  } else {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
        "{%8, %9}, {%0, %1, %2, %3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  }
}

// Two fp32 values as a 16-bit pair, lo in the low half.
template <typename T>
__device__ __forceinline__ uint32_t pack2(float lo, float hi) {
  uint32_t r;
  T* e = reinterpret_cast<T*>(&r);
  e[0] = from_f32<T>(lo);
  e[1] = from_f32<T>(hi);
  return r;
}

// Fragment layouts of mma.m16n8k16 (g = lane / 4, c = lane % 4):
//   A (16x16): a0 = (row g, cols 2c, 2c+1), a1 = (g + 8, 2c..), a2 = (g, 2c + 8..), a3 = (g + 8,
//   2c + 8..); B (16x8): b0 = (k 2c, 2c+1; n g), b1 = (k 2c + 8, 2c + 9; n g);
//   C (16x8): c0, c1 = (row g, cols 2c, 2c+1), c2, c3 = (row g + 8, cols 2c, 2c+1).
template <typename T, int kD, typename S>
__global__ void __launch_bounds__(S::threads, S::warps == 4 ? 2 : 1)
    prefill_kernel(const PrefillParams<T> p) {
  constexpr int kStr = kStride<kD>;
  constexpr int kThreads = S::threads, kRows = S::rows, kMT = S::mt, kKeys = S::keys;
  constexpr int kChunks = kD / kVec;  // 16-byte chunks in a row of D
  constexpr int kKSteps = kD / 16;    // k steps of S = Q K^T
  constexpr int kWarpRows = 16 * kMT;
  static_assert(kD % 16 == 0 && (kKeys * kChunks) % kThreads == 0 &&
                    (kRows * kChunks) % kThreads == 0 && (kWarpRows * kChunks) % 32 == 0,
                "whole 16-byte chunks per thread");
  extern __shared__ __align__(16) unsigned char smem[];
  T* Qs = reinterpret_cast<T*>(smem);  // [kRows][kStr], then the output
  T* Ks = Qs + kRows * kStr;           // [2][kKeys][kStr]
  T* Vs = Ks + 2 * kKeys * kStr;       // [2][kKeys][kStr]
  __shared__ int s_item;

  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int g = lane >> 2, c = lane & 3;
  const int64_t n_items = int64_t(p.counts[0]) * p.n_heads;
  const int64_t kv_row = int64_t(p.n_kv_heads) * kD;
  const T* Qw = Qs + warp * kWarpRows * kStr;  // this warp's rows

  for (;;) {
    __syncthreads();  // everyone has read s_item and is done with the previous item's buffers
    if (tid == 0) s_item = atomicAdd(&p.counts[1], 1);
    __syncthreads();
    const int64_t item = n_items - 1 - s_item;
    if (item < 0) return;
    const int4 tile = p.tiles[item / p.n_heads];
    const int h = int(item % p.n_heads), kvh = h / p.group;
    const int64_t row0 = tile.x;
    const int n_rows = tile.y, pos_min = tile.z, pos_max = tile.w;
    const int32_t* trow = p.table + int64_t(p.seq[row0]) * p.max_blocks;
    const int n_kt = pos_max < 0 ? 0 : pos_max / kKeys + 1;  // keys 0 .. pos_max

    // Keys kt * kKeys .. + kKeys - 1 into buffer kt % 2; keys past pos_max read as zeros (their
    // table entries may be unused: -1).
    auto load_kv = [&](int kt) {
      T* kb = Ks + (kt & 1) * kKeys * kStr;
      T* vb = Vs + (kt & 1) * kKeys * kStr;
#pragma unroll
      for (int it = 0; it < kKeys * kChunks / kThreads; ++it) {
        const int i = tid + it * kThreads, j = i / kChunks, ch = i % kChunks;
        const int key = kt * kKeys + j;
        const bool ok = key <= pos_max;
        int64_t off = 0;
        if (ok) {
          const int64_t slot = trow[key / p.block_tokens];
          off = (slot * p.block_tokens + key % p.block_tokens) * kv_row + int64_t(kvh) * kD +
                ch * kVec;
        }
        cp_async16(kb + j * kStr + ch * kVec, p.k + off, ok);
        cp_async16(vb + j * kStr + ch * kVec, p.v + off, ok);
      }
    };

#pragma unroll
    for (int it = 0; it < kRows * kChunks / kThreads; ++it) {
      const int i = tid + it * kThreads, r = i / kChunks, ch = i % kChunks;
      const bool ok = r < n_rows;
      const T* src = ok ? p.q + ((row0 + r) * p.n_heads + h) * kD + ch * kVec : p.q;
      cp_async16(Qs + r * kStr + ch * kVec, src, ok);
    }
    if (n_kt > 0) load_kv(0);
    cp_async_commit();

    // This thread's rows (rows g and g + 8 of each of the warp's m-tiles) and their positions;
    // -1 (every key masked) for rows past the tile.
    int rpos[kMT][2];
    int warp_pos_max = -1;
#pragma unroll
    for (int mt = 0; mt < kMT; ++mt)
#pragma unroll
      for (int e = 0; e < 2; ++e) {
        const int r = warp * kWarpRows + mt * 16 + g + 8 * e;
        rpos[mt][e] = r < n_rows ? p.pos[row0 + r] : -1;
        warp_pos_max = max(warp_pos_max, rpos[mt][e]);
      }
#pragma unroll
    for (int o = 4; o < 32; o <<= 1)
      warp_pos_max = max(warp_pos_max, __shfl_xor_sync(0xffffffffu, warp_pos_max, o));

    float o_acc[kMT][kD / 8][4];
    float m[kMT][2], l[kMT][2];  // l: this thread's columns only
#pragma unroll
    for (int mt = 0; mt < kMT; ++mt) {
#pragma unroll
      for (int n = 0; n < kD / 8; ++n)
#pragma unroll
        for (int e = 0; e < 4; ++e) o_acc[mt][n][e] = 0.f;
      m[mt][0] = m[mt][1] = -INFINITY;
      l[mt][0] = l[mt][1] = 0.f;
    }
    // Q's A fragments: in registers for one m-tile, re-read from shared memory for more (the
    // registers go to the second m-tile's accumulators).
    constexpr bool kQRegs = kMT == 1;
    uint32_t qf[kQRegs ? kKSteps : 1][4];
    auto q_frag = [&](int mt, int ks, uint32_t(&a)[4]) {
      ldmatrix_x4(a, Qw + (mt * 16 + (lane & 15)) * kStr + ks * 16 + 8 * (lane >> 4));
    };

    for (int kt = 0; kt < n_kt; ++kt) {
      cp_async_wait_all();
      __syncthreads();  // tile kt (and Q) landed for everyone; buffer (kt + 1) % 2 is free
      if constexpr (kQRegs) {
        if (kt == 0) {
#pragma unroll
          for (int ks = 0; ks < kKSteps; ++ks) q_frag(0, ks, qf[ks]);
        }
      }
      if (kt + 1 < n_kt) load_kv(kt + 1);
      cp_async_commit();
      const int kt0 = kt * kKeys;
      if (kt0 > warp_pos_max) continue;  // every key of the tile is past this warp's rows
      const T* kb = Ks + (kt & 1) * kKeys * kStr;
      const T* vb = Vs + (kt & 1) * kKeys * kStr;

      // S = Q K^T: kKeys / 8 n-tiles of 8 keys. ldmatrix matrices: keys +0..7 / +8..15 (lane / 16)
      // x dims +0..7 / +8..15 (lane / 8 % 2) give b0, b1 of two n-tiles.
      float s[kMT][kKeys / 8][4];
#pragma unroll
      for (int mt = 0; mt < kMT; ++mt)
#pragma unroll
        for (int n = 0; n < kKeys / 8; ++n)
#pragma unroll
          for (int e = 0; e < 4; ++e) s[mt][n][e] = 0.f;
#pragma unroll
      for (int ks = 0; ks < kKSteps; ++ks) {
        uint32_t a[kMT][4];
#pragma unroll
        for (int mt = 0; mt < kMT; ++mt) {
          if constexpr (kQRegs) {
#pragma unroll
            for (int e = 0; e < 4; ++e) a[mt][e] = qf[ks][e];
          } else {
            q_frag(mt, ks, a[mt]);
          }
        }
#pragma unroll
        for (int np = 0; np < kKeys / 16; ++np) {
          uint32_t b[4];
          ldmatrix_x4(b, kb + (np * 16 + (lane & 7) + 8 * (lane >> 4)) * kStr + ks * 16 +
                             8 * ((lane >> 3) & 1));
#pragma unroll
          for (int mt = 0; mt < kMT; ++mt) {
            mma16816<T>(s[mt][2 * np], a[mt], b[0], b[1]);
            mma16816<T>(s[mt][2 * np + 1], a[mt], b[2], b[3]);
          }
        }
      }

      // Scale into base 2, mask keys past a row's position (only tiles that reach past the
      // smallest position have any), online softmax per row.
      const bool masked = kt0 + kKeys - 1 > pos_min;
#pragma unroll
      for (int mt = 0; mt < kMT; ++mt) {
#pragma unroll
        for (int n = 0; n < kKeys / 8; ++n)
#pragma unroll
          for (int e = 0; e < 4; ++e) {
            const int key = kt0 + n * 8 + 2 * c + (e & 1);
            s[mt][n][e] = masked && key > rpos[mt][e >> 1] ? -INFINITY : s[mt][n][e] * p.scale_log2;
          }
#pragma unroll
        for (int hr = 0; hr < 2; ++hr) {  // row g, g + 8
          float mx = m[mt][hr];
#pragma unroll
          for (int n = 0; n < kKeys / 8; ++n)
            mx = fmaxf(mx, fmaxf(s[mt][n][2 * hr], s[mt][n][2 * hr + 1]));
          mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));  // the 4 lanes of a row
          mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
          const float base = mx == -INFINITY ? 0.f : mx;  // every key so far masked: p = 0
          const float alpha = exp2f(m[mt][hr] - base);    // 0 when m was -inf
          m[mt][hr] = mx;
          float sum = 0.f;
#pragma unroll
          for (int n = 0; n < kKeys / 8; ++n) {
            s[mt][n][2 * hr] = exp2f(s[mt][n][2 * hr] - base);
            s[mt][n][2 * hr + 1] = exp2f(s[mt][n][2 * hr + 1] - base);
            sum += s[mt][n][2 * hr] + s[mt][n][2 * hr + 1];
          }
          l[mt][hr] = l[mt][hr] * alpha + sum;
#pragma unroll
          for (int n = 0; n < kD / 8; ++n) {
            o_acc[mt][n][2 * hr] *= alpha;
            o_acc[mt][n][2 * hr + 1] *= alpha;
          }
        }
      }

      // O += P V. P's A fragment for keys 16 kk .. 16 kk + 15 is S's n-tiles 2 kk, 2 kk + 1.
      // ldmatrix.trans matrices: keys +0..7 / +8..15 (lane / 8 % 2) x dims +0..7 / +8..15
      // (lane / 16) give b0, b1 of two n-tiles of D.
#pragma unroll
      for (int kk = 0; kk < kKeys / 16; ++kk) {
        uint32_t a[kMT][4];
#pragma unroll
        for (int mt = 0; mt < kMT; ++mt) {
          a[mt][0] = pack2<T>(s[mt][2 * kk][0], s[mt][2 * kk][1]);
          a[mt][1] = pack2<T>(s[mt][2 * kk][2], s[mt][2 * kk][3]);
          a[mt][2] = pack2<T>(s[mt][2 * kk + 1][0], s[mt][2 * kk + 1][1]);
          a[mt][3] = pack2<T>(s[mt][2 * kk + 1][2], s[mt][2 * kk + 1][3]);
        }
#pragma unroll
        for (int dp = 0; dp < kD / 16; ++dp) {
          uint32_t b[4];
          ldmatrix_x4_trans(b, vb + (kk * 16 + (lane & 7) + 8 * ((lane >> 3) & 1)) * kStr +
                                   dp * 16 + 8 * (lane >> 4));
#pragma unroll
          for (int mt = 0; mt < kMT; ++mt) {
            mma16816<T>(o_acc[mt][2 * dp], a[mt], b[0], b[1]);
            mma16816<T>(o_acc[mt][2 * dp + 1], a[mt], b[2], b[3]);
          }
        }
      }
    }
    // The Q buffer takes the output next: every warp must be done reading it (with n_kt = 0 the
    // Q copies, of any warp's rows, may still be in flight).
    cp_async_wait_all();
    __syncthreads();

    // out = O / l, through this warp's rows of Qs.
    T* st = Qs + warp * kWarpRows * kStr;
#pragma unroll
    for (int mt = 0; mt < kMT; ++mt)
#pragma unroll
      for (int hr = 0; hr < 2; ++hr) {
        float lt = l[mt][hr];
        lt += __shfl_xor_sync(0xffffffffu, lt, 1);
        lt += __shfl_xor_sync(0xffffffffu, lt, 2);
        const float inv = lt > 0.f ? 1.f / lt : 0.f;  // l = 0 only for pos < 0: the cpu gives 0
#pragma unroll
        for (int n = 0; n < kD / 8; ++n)
          *reinterpret_cast<uint32_t*>(st + (mt * 16 + g + 8 * hr) * kStr + n * 8 + 2 * c) =
              pack2<T>(o_acc[mt][n][2 * hr] * inv, o_acc[mt][n][2 * hr + 1] * inv);
      }
    __syncwarp();
#pragma unroll
    for (int it = 0; it < kWarpRows * kChunks / 32; ++it) {
      const int i = lane + it * 32, r = i / kChunks, ch = i % kChunks;
      const int tr = warp * kWarpRows + r;
      if (tr < n_rows)
        *reinterpret_cast<uint4*>(p.out + ((row0 + tr) * p.n_heads + h) * kD + ch * kVec) =
            *reinterpret_cast<const uint4*>(st + r * kStr + ch * kVec);
    }
  }
}

template <typename T, int kD, typename S>
void launch_prefill(PrefillParams<T> p, const cpu::AttentionShape& s, void* workspace, int num_sms,
                    cudaStream_t stream) {
  constexpr size_t smem = smem_bytes<kD, S>();
  // Above 48 KB a block's dynamic shared memory must be asked for (per device, so every call).
  CUDA_CHECK(cudaFuncSetAttribute(prefill_kernel<T, kD, S>,
                                  cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem)));
  int per_sm = 0;
  CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, prefill_kernel<T, kD, S>,
                                                           S::threads, smem));
  HS_CHECK(per_sm > 0, "attention: the prefill kernel needs ", smem,
           " bytes of shared memory per block, more than the device has");

  auto* base = static_cast<unsigned char*>(workspace);
  p.counts = reinterpret_cast<int32_t*>(base);
  int4* tiles = reinterpret_cast<int4*>(base + kTilesOffset);
  p.tiles = tiles;
  CUDA_CHECK(cudaMemsetAsync(p.counts, 0, 2 * sizeof(int32_t), stream));
  tiles_kernel<<<grid_for(s.rows, 256), 256, 0, stream>>>(p.seq, p.pos, s.rows, S::rows, tiles,
                                                          p.counts);
  CUDA_CHECK_LAUNCH();

  // One wave of resident blocks pulling (tile, head) items; never more blocks than items could
  // be (a tile per row at most).
  const int64_t items_max = s.rows * s.n_heads;
  const int64_t blocks = std::min<int64_t>(int64_t(num_sms) * per_sm, items_max);
  prefill_kernel<T, kD, S><<<unsigned(blocks), S::threads, smem, stream>>>(p);
  CUDA_CHECK_LAUNCH();
}

}  // namespace

bool prefill_applies(const cpu::AttentionShape& s, const void* out, const void* q, const void* k,
                     const void* v, size_t workspace_bytes) {
  return (s.head_dim == 64 || s.head_dim == 128) && aligned16(out) && aligned16(q) &&
         aligned16(k) && aligned16(v) && workspace_needed(s.rows) <= workspace_bytes &&
         s.rows * s.n_heads <= INT32_MAX / 2;  // the item counter overshoots by the grid
}

void attention_prefill(DType t, void* out, const void* q, const void* k, const void* v,
                       const int32_t* block_table, const int32_t* seq, const int32_t* pos,
                       const cpu::AttentionShape& s, void* workspace, size_t workspace_bytes,
                       int num_sms, cudaStream_t stream) {
  HS_CHECK(prefill_applies(s, out, q, k, v, workspace_bytes),
           "attention: the tensor-core prefill path cannot take head_dim ", s.head_dim, " with ",
           s.rows, " rows and ", workspace_bytes, " bytes of workspace");
  dispatch(t, [&](auto tag) {
    using T = decltype(tag);
    PrefillParams<T> p{};
    static_cast<AttentionArgs<T>&>(p) = attention_args<T>(out, q, k, v, block_table, seq, pos, s);
    p.scale_log2 = s.scale * 1.4426950408889634f;
    if (s.head_dim == 64)
      launch_prefill<T, 64, TileShape>(p, s, workspace, num_sms, stream);
    else
      launch_prefill<T, 128, TileShape>(p, s, workspace, num_sms, stream);
  });
}

}  // namespace hs::kernels

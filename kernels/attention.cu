// Causal attention over block tables, twin of cpu::attention. One kernel family serves prefill
// (many queries of one sequence) and decode (one query per sequence), since every query carries
// its own (seq, pos):
//   out[r, h, :] = sum_{p <= pos[r]} softmax_p(scale * q[r, h, :] . K[seq[r], p, h / group, :])
//                  * V[seq[r], p, h / group, :]
//   out, q: [rows, n_heads * D]; k, v: [slots, block_tokens, n_kv_heads * D];
//   block_table: [n_seqs, max_blocks]; seq, pos: [rows]; key p of sequence s sits in slot
//   block_table[s * max_blocks + p / block_tokens], row p % block_tokens.
//
// Work decomposition.
//  - A *tile* is up to QR consecutive query rows of one sequence (a new tile starts at a row
//    whose seq differs from the previous row's, and every QR rows). tile_kernel lists the tiles'
//    first rows in the workspace (order immaterial: each tile writes its own rows).
//  - A block takes a tile, one KV head g and up to HB of g's query heads: NQ = rows x heads <= 32
//    (query, head) pairs that share every K/V row it loads, so prefill reads each K/V tile once
//    per 32 pairs, and grouped-query heads share it in decode too. QR = 32 / HB.
//  - Keys stream through shared memory 32 at a time (coalesced loads through the block table,
//    16 bytes a thread; 4 bytes when D is not a multiple of 8, as in the tiny test models). Warp w
//    owns pairs w, w+4, ...; lane j scores key j against each of them, then the warp keeps an
//    online softmax per pair in fp32 (running max m, sum l, accumulator acc) and adds P.V with lane
//    owning output dims 2*lane + 64c.
//  - Decode with few queries has too few tiles to fill the GPU, so the key range may be split
//    (flash-decoding): grid.z splits of split_len keys write (m, l, acc) partials and
//    combine_kernel merges them: out = sum_s acc_s e^(m_s - M) / sum_s l_s e^(m_s - M).
//  - Blocks loop over the tiles (a grid sized to the GPU's resident blocks), since the tile
//    count is only known on the device.
// Calls of more than kDecMaxRows rows with head_dim 64 / 128 and 16-byte aligned tensors go to
// the tensor-core prefill kernel instead (attention_prefill.cu); this file's kernels are its
// fallback, and the decode path.
// Limits: D even and <= 256 (<= 128 unless D % 8 == 0); q/k/v/out 16-byte aligned when
// D % 8 == 0, else 4-byte aligned (then the 4-byte variant runs).
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <type_traits>

#include "kernels/attention_args.cuh"
#include "kernels/attention_prefill.h"
#include "kernels/common.cuh"
#include "kernels/kernels.h"

namespace hs::kernels {
namespace {

constexpr int kWarps = 4;
constexpr int kThreads = kWarps * 32;
constexpr int kKeys = 32;                       // keys per shared-memory tile (= lanes)
constexpr int kPairs = 32;                      // (query, head) pairs per block
constexpr int kPairsPerWarp = kPairs / kWarps;  // 8

template <typename T>
struct Params : AttentionArgs<T> {
  const int32_t* tiles;    // first row of each tile
  const int32_t* n_tiles;  // their count
  float* part_acc;         // [rows, n_heads, n_split, D]   (n_split > 1)
  float2* part_ml;         // [rows, n_heads, n_split] (m, l)
  int64_t rows;
  int head_dim;
  int heads_per_block, head_groups, tile_rows;
  int n_split, split_len;
  float scale;
};

// Row stride of the K tile in shared memory, in elements: padded so that it is an odd number of
// load units (ku elements: 16 or 4 bytes), which puts the lanes reading one column of different
// rows on different banks.
__host__ __device__ inline int k_stride(int d, int ku) {
  return (d / ku) % 2 == 0 ? d + ku : d;
}

template <typename T>
size_t smem_bytes(int d, int ku) {
  return size_t(kKeys) * k_stride(d, ku) * sizeof(T)  // K tile
         + size_t(kKeys) * d * sizeof(T)              // V tile
         + size_t(kPairs) * d * sizeof(float)         // queries of the block's pairs, fp32
         + size_t(kPairs) * kKeys * sizeof(float);    // probabilities, per warp
}

__global__ void tile_kernel(const int32_t* __restrict__ seq, int64_t rows, int tile_rows,
                            int32_t* tiles, int32_t* n_tiles) {
  for (int64_t t = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; t < rows;
       t += int64_t(gridDim.x) * blockDim.x) {
    if (t % tile_rows == 0 || seq[t] != seq[t - 1]) tiles[atomicAdd(n_tiles, 1)] = int32_t(t);
  }
}

// kU elements (16 or 4 bytes) from p into f.
template <int kU, typename T>
__device__ __forceinline__ void load_units(const T* p, float (&f)[kU]) {
  if constexpr (kU == kVec)
    load8(p, f);
  else
    load2(p, f[0], f[1]);
}

// kU: elements a thread loads at once, 8 (16 bytes, D % 8 == 0) or 2 (4 bytes, any even D).
template <typename T, int kMaxD, int kU>
__global__ void __launch_bounds__(kThreads) attention_kernel(const Params<T> p) {
  static_assert(kU == kVec || kU == 2, "16- or 4-byte units");
  using Unit = std::conditional_t<kU == kVec, uint4, uint32_t>;
  constexpr int kChunks = kMaxD / 64;  // output dims per lane / 2
  extern __shared__ __align__(16) unsigned char smem[];
  const int D = p.head_dim, kstr = k_stride(D, kU), vecs = D / kU;
  T* Ks = reinterpret_cast<T*>(smem);
  T* Vs = Ks + kKeys * kstr;
  float* Qs = reinterpret_cast<float*>(Vs + kKeys * D);
  float* Ps = Qs + kPairs * D;
  __shared__ int s_pos[kPairs];
  __shared__ int s_rows, s_seq;

  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int g = blockIdx.y / p.head_groups;
  const int jb = (blockIdx.y % p.head_groups) * p.heads_per_block;
  const int hb = min(p.heads_per_block, p.group - jb);  // heads of this block
  const int z = blockIdx.z;
  const int64_t kv_row = int64_t(p.n_kv_heads) * D;
  float* Pw = Ps + warp * kPairsPerWarp * kKeys;
  const int n_tiles = *p.n_tiles;

  for (int tile = blockIdx.x; tile < n_tiles; tile += gridDim.x) {
    const int64_t t0 = p.tiles[tile];
    __syncthreads();  // the previous tile is done with s_pos, Qs, Ks, Vs
    if (tid == 0) {
      const int s0 = p.seq[t0];
      int nr = 1;
      while (nr < p.tile_rows && t0 + nr < p.rows && (t0 + nr) % p.tile_rows != 0 &&
             p.seq[t0 + nr] == s0)
        ++nr;
      s_rows = nr;
      s_seq = s0;
    }
    __syncthreads();
    const int nr = s_rows, nq = nr * hb;
    const int64_t sq = s_seq;
    if (tid < nq) s_pos[tid] = p.pos[t0 + tid / hb];
    __syncthreads();
    int kmax = 0;  // keys 0..kmax-1 are visible to some query of the tile
    for (int r = 0; r < nr; ++r) kmax = max(kmax, s_pos[r * hb] + 1);
    const int kbeg = z * p.split_len;
    const int kend = min(kbeg + p.split_len, kmax);
    // Splits past every query's position are never read by combine_kernel (it reads splits
    // 0..pos/split_len); split 0 is always written, even for an (invalid) pos < 0.
    if (z > 0 && kbeg >= kmax) continue;

    for (int it = tid; it < nq * vecs; it += kThreads) {
      const int i = it / vecs, c = it % vecs;
      const int64_t r = t0 + i / hb;
      const int h = g * p.group + jb + i % hb;
      float f[kU];
      load_units<kU>(p.q + (r * p.n_heads + h) * D + c * kU, f);
#pragma unroll
      for (int e = 0; e < kU; ++e) Qs[i * D + c * kU + e] = f[e];
    }

    float m[kPairsPerWarp], l[kPairsPerWarp], acc[kPairsPerWarp][2 * kChunks];
#pragma unroll
    for (int a = 0; a < kPairsPerWarp; ++a) {
      m[a] = -INFINITY;
      l[a] = 0.f;
#pragma unroll
      for (int c = 0; c < 2 * kChunks; ++c) acc[a][c] = 0.f;
    }

    for (int kt0 = kbeg; kt0 < kend; kt0 += kKeys) {
      const int nk = min(kKeys, kend - kt0);
      __syncthreads();  // every warp is done with the previous K/V tile (and Qs is written)
#pragma unroll 4
      for (int it = tid; it < kKeys * vecs; it += kThreads) {
        const int j = it / vecs, c = it % vecs;
        Unit kx{}, vx{};  // keys past the range read as zeros
        if (j < nk) {
          const int key = kt0 + j;
          const int64_t slot = p.table[sq * p.max_blocks + key / p.block_tokens];
          const int64_t off =
              (slot * p.block_tokens + key % p.block_tokens) * kv_row + int64_t(g) * D + c * kU;
          kx = *reinterpret_cast<const Unit*>(p.k + off);
          vx = *reinterpret_cast<const Unit*>(p.v + off);
        }
        *reinterpret_cast<Unit*>(Ks + j * kstr + c * kU) = kx;
        *reinterpret_cast<Unit*>(Vs + j * D + c * kU) = vx;
      }
      __syncthreads();

      // Scores: lane = key, one register per pair of this warp.
      float s[kPairsPerWarp];
#pragma unroll
      for (int a = 0; a < kPairsPerWarp; ++a) s[a] = 0.f;
      const T* krow = Ks + lane * kstr;
      for (int d0 = 0; d0 < D; d0 += kU) {
        float kf[kU];
        load_units<kU>(krow + d0, kf);
#pragma unroll
        for (int a = 0; a < kPairsPerWarp; ++a) {
          const int i = warp + kWarps * a;
          if (i < nq) {
            if constexpr (kU == kVec) {
              const float4 q0 = *reinterpret_cast<const float4*>(Qs + i * D + d0);
              const float4 q1 = *reinterpret_cast<const float4*>(Qs + i * D + d0 + 4);
              s[a] += q0.x * kf[0] + q0.y * kf[1] + q0.z * kf[2] + q0.w * kf[3] + q1.x * kf[4] +
                      q1.y * kf[5] + q1.z * kf[6] + q1.w * kf[7];
            } else {
              const float2 q0 = *reinterpret_cast<const float2*>(Qs + i * D + d0);
              s[a] += q0.x * kf[0] + q0.y * kf[1];
            }
          }
        }
      }

      // Online softmax per pair (the branch is uniform over the warp).
      const int key = kt0 + lane;
#pragma unroll
      for (int a = 0; a < kPairsPerWarp; ++a) {
        const int i = warp + kWarps * a;
        if (i < nq) {
          const bool ok = lane < nk && key <= s_pos[i];
          const float sc = ok ? s[a] * p.scale : -INFINITY;
          const float m_new = fmaxf(m[a], warp_max(sc));
          const float pr = ok ? expf(sc - m_new) : 0.f;
          const float alpha = m[a] == -INFINITY ? 0.f : expf(m[a] - m_new);
          l[a] = l[a] * alpha + warp_sum(pr);
          m[a] = m_new;
#pragma unroll
          for (int c = 0; c < 2 * kChunks; ++c) acc[a][c] *= alpha;
          Pw[a * kKeys + lane] = pr;
        }
      }
      __syncwarp();

      // acc += P V: lane owns dims 64c + 2 lane, 64c + 2 lane + 1.
      const int nk4 = (nk + 3) & ~3;
      for (int j0 = 0; j0 < nk4; j0 += 4) {
        float4 pj[kPairsPerWarp];
#pragma unroll
        for (int a = 0; a < kPairsPerWarp; ++a)
          pj[a] = warp + kWarps * a < nq ? *reinterpret_cast<const float4*>(Pw + a * kKeys + j0)
                                         : make_float4(0.f, 0.f, 0.f, 0.f);
#pragma unroll
        for (int jj = 0; jj < 4; ++jj) {
          float vf[2 * kChunks];
#pragma unroll
          for (int c = 0; c < kChunks; ++c) {
            const int d = 64 * c + 2 * lane;
            if (d < D)
              load2(Vs + (j0 + jj) * D + d, vf[2 * c], vf[2 * c + 1]);
            else
              vf[2 * c] = vf[2 * c + 1] = 0.f;
          }
#pragma unroll
          for (int a = 0; a < kPairsPerWarp; ++a) {
            if (warp + kWarps * a >= nq) continue;  // decode tiles have 1-8 pairs, not 32
            const float w = jj == 0 ? pj[a].x : jj == 1 ? pj[a].y : jj == 2 ? pj[a].z : pj[a].w;
#pragma unroll
            for (int c = 0; c < 2 * kChunks; ++c) acc[a][c] += w * vf[c];
          }
        }
      }
      __syncwarp();
    }

#pragma unroll
    for (int a = 0; a < kPairsPerWarp; ++a) {
      const int i = warp + kWarps * a;
      if (i >= nq) continue;
      const int64_t r = t0 + i / hb;
      const int h = g * p.group + jb + i % hb;
      if (p.n_split == 1) {
        const float inv = l[a] > 0.f ? 1.f / l[a] : 0.f;  // l = 0 only for pos < 0: cpu gives 0
#pragma unroll
        for (int c = 0; c < kChunks; ++c) {
          const int d = 64 * c + 2 * lane;
          if (d < D)
            store2(p.out + (r * p.n_heads + h) * D + d, acc[a][2 * c] * inv,
                   acc[a][2 * c + 1] * inv);
        }
      } else {
        const int64_t idx = (r * p.n_heads + h) * p.n_split + z;
#pragma unroll
        for (int c = 0; c < kChunks; ++c) {
          const int d = 64 * c + 2 * lane;
          if (d < D)
            *reinterpret_cast<float2*>(p.part_acc + idx * D + d) =
                make_float2(acc[a][2 * c], acc[a][2 * c + 1]);
        }
        if (lane == 0) p.part_ml[idx] = make_float2(m[a], l[a]);
      }
    }
  }
}

// Merges the split-K partials of each (row, head): one warp each.
template <typename T>
__global__ void combine_kernel(T* __restrict__ out, const float* __restrict__ part_acc,
                               const float2* __restrict__ part_ml, const int32_t* __restrict__ pos,
                               int64_t rows, int n_heads, int D, int n_split, int split_len) {
  const int lane = threadIdx.x & 31;
  const int64_t item = blockIdx.x * int64_t(blockDim.x >> 5) + (threadIdx.x >> 5);
  if (item >= rows * n_heads) return;
  const int64_t r = item / n_heads;
  const int ns = pos[r] < 0 ? 1 : min(n_split, pos[r] / split_len + 1);
  const float2* ml = part_ml + item * n_split;
  float mx = -INFINITY;
  for (int s = lane; s < ns; s += 32) mx = fmaxf(mx, ml[s].x);
  mx = warp_max(mx);
  float den = 0.f;
  for (int s = lane; s < ns; s += 32)
    den += ml[s].x == -INFINITY ? 0.f : ml[s].y * expf(ml[s].x - mx);
  den = warp_sum(den);
  const float inv = den > 0.f ? 1.f / den : 0.f;
  const float* acc = part_acc + item * n_split * D;
  for (int d = lane; d < D; d += 32) {
    float o = 0.f;
    for (int s = 0; s < ns; ++s) {
      const float ms = ml[s].x;
      if (ms != -INFINITY) o += acc[int64_t(s) * D + d] * expf(ms - mx);
    }
    out[item * D + d] = from_f32<T>(o * inv);
  }
}

// ---- Decode path (flash-decoding) ----------------------------------------------------------
// One block of kDecWarps warps per (row, kv head g, group of kHB query heads of g, key chunk z).
// Every row is treated as its own query (correct for any rows; fast when each sequence has one
// query). A key's row of D elements is read by kD / 8 consecutive lanes with 16-byte loads, so a
// warp reads 32 / (kD / 8) keys at once, kDecUnroll of those batches in flight per lane. All kHB
// heads share each K/V load. Each lane group keeps an online softmax (base 2, fp32) per head over
// its keys; groups merge by shuffles, warps through shared memory. With one chunk the block
// writes out; else it writes (m, l, acc) partials in combine_kernel's layout.
constexpr int kDecWarps = 4;
constexpr int kDecUnroll = 4;     // batches in flight (2 for 8 heads: registers)
constexpr int kDecMaxRows = 512;  // more rows than this: a prefill (attention_prefill.cu)

template <typename T>
struct DecodeParams : AttentionArgs<T> {
  float* part_acc;  // [rows, n_heads, n_split, D]   (n_split > 1)
  float2* part_ml;  // [rows, n_heads, n_split] (m, l), m in natural-log units
  int head_groups;
  int n_split, split_len;
  float scale;
};

template <typename T>
__device__ __forceinline__ void unpack8(const uint4& raw, float (&f)[kVec]) {
  const T* e = reinterpret_cast<const T*>(&raw);
#pragma unroll
  for (int i = 0; i < kVec; ++i) f[i] = to_f32(e[i]);
}

// (m, l, acc) of another lane group or warp into this one's, base-2 exponents.
__device__ __forceinline__ void merge_state(float& m, float& l, float (&acc)[kVec], float mo,
                                            float lo, const float (&acco)[kVec]) {
  const float mn = fmaxf(m, mo);
  const float ca = m == -INFINITY ? 0.f : exp2f(m - mn);
  const float cb = mo == -INFINITY ? 0.f : exp2f(mo - mn);
  l = l * ca + lo * cb;
#pragma unroll
  for (int e = 0; e < kVec; ++e) acc[e] = acc[e] * ca + acco[e] * cb;
  m = mn;
}

template <typename T, int kD, int kHB>
__global__ void __launch_bounds__(kDecWarps * 32) decode_kernel(const DecodeParams<T> p) {
  constexpr int kTPK = kD / kVec;            // lanes per key
  constexpr int kKPW = 32 / kTPK;            // keys per warp per batch
  constexpr int kStride = kDecWarps * kKPW;  // keys per block per batch
  constexpr int kUn = kHB >= 8 ? 2 : kDecUnroll;
  static_assert(kTPK >= 1 && kTPK <= 32 && 32 % kTPK == 0, "kD / 8 must divide 32");
  __shared__ float s_acc[kDecWarps][kHB][kD];
  __shared__ float s_m[kDecWarps][kHB], s_l[kDecWarps][kHB];

  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int sub = lane / kTPK, part = lane % kTPK;
  const int64_t item = blockIdx.x;
  const int hg = int(item % p.head_groups);
  const int g = int(item / p.head_groups % p.n_kv_heads);
  const int64_t r = item / p.head_groups / p.n_kv_heads;
  const int j0 = hg * kHB;
  const int hb = min(kHB, p.group - j0);
  const int z = blockIdx.y;
  const int pos = p.pos[r];
  const int kbeg = z * p.split_len;
  const int kend = min(kbeg + p.split_len, pos + 1);
  if (z > 0 && kbeg >= kend) return;  // combine_kernel reads splits 0..pos / split_len only
  const int64_t sq = p.seq[r];
  const int D = kD;

  constexpr float kLog2e = 1.4426950408889634f;
  float qf[kHB][kVec];
#pragma unroll
  for (int h = 0; h < kHB; ++h) {
    if (h < hb) {
      load8(p.q + (r * p.n_heads + g * p.group + j0 + h) * D + part * kVec, qf[h]);
#pragma unroll
      for (int e = 0; e < kVec; ++e) qf[h][e] *= p.scale * kLog2e;
    } else {
#pragma unroll
      for (int e = 0; e < kVec; ++e) qf[h][e] = 0.f;
    }
  }
  float m[kHB], l[kHB], acc[kHB][kVec];
#pragma unroll
  for (int h = 0; h < kHB; ++h) {
    m[h] = -INFINITY;
    l[h] = 0.f;
#pragma unroll
    for (int e = 0; e < kVec; ++e) acc[h][e] = 0.f;
  }

  const int64_t kv_row = int64_t(p.n_kv_heads) * D;
  const T* kb = p.k + int64_t(g) * D + part * kVec;
  const T* vb = p.v + int64_t(g) * D + part * kVec;
  const int32_t* trow = p.table + sq * p.max_blocks;
  const int bt = p.block_tokens;

  // The loop bound is uniform over the warp (shuffles below); keys past kend are masked.
  for (int base = kbeg + warp * kKPW; base < kend; base += kStride * kUn) {
    uint4 kx[kUn], vx[kUn];
#pragma unroll
    for (int u = 0; u < kUn; ++u) {
      const int key = base + u * kStride + sub;
      if (key < kend) {
        const int64_t slot = __ldg(trow + key / bt);
        const int64_t off = (slot * bt + key % bt) * kv_row;
        kx[u] = __ldg(reinterpret_cast<const uint4*>(kb + off));
        vx[u] = __ldg(reinterpret_cast<const uint4*>(vb + off));
      } else {
        kx[u] = make_uint4(0, 0, 0, 0);
        vx[u] = make_uint4(0, 0, 0, 0);
      }
    }
    float sc[kUn][kHB];
#pragma unroll
    for (int u = 0; u < kUn; ++u) {
      float kf[kVec];
      unpack8<T>(kx[u], kf);
#pragma unroll
      for (int h = 0; h < kHB; ++h) {
        float d = 0.f;
#pragma unroll
        for (int e = 0; e < kVec; ++e) d = fmaf(qf[h][e], kf[e], d);
#pragma unroll
        for (int o = kTPK / 2; o > 0; o >>= 1) d += __shfl_xor_sync(0xffffffffu, d, o);
        sc[u][h] = base + u * kStride + sub < kend ? d : -INFINITY;
      }
    }
#pragma unroll
    for (int h = 0; h < kHB; ++h) {
      float mn = m[h];
#pragma unroll
      for (int u = 0; u < kUn; ++u) mn = fmaxf(mn, sc[u][h]);
      if (mn == -INFINITY) continue;        // no key of this batch for this lane group
      const float corr = exp2f(m[h] - mn);  // 0 when m = -inf
      l[h] *= corr;
#pragma unroll
      for (int e = 0; e < kVec; ++e) acc[h][e] *= corr;
      m[h] = mn;
#pragma unroll
      for (int u = 0; u < kUn; ++u) {
        const float pr = exp2f(sc[u][h] - mn);  // 0 for masked keys
        l[h] += pr;
        float vf[kVec];
        unpack8<T>(vx[u], vf);
#pragma unroll
        for (int e = 0; e < kVec; ++e) acc[h][e] = fmaf(pr, vf[e], acc[h][e]);
      }
    }
  }

  // Merge the warp's lane groups (lanes part, part + kTPK, ... hold the same dims).
#pragma unroll
  for (int h = 0; h < kHB; ++h) {
#pragma unroll
    for (int o = kTPK; o < 32; o <<= 1) {
      const float mo = __shfl_xor_sync(0xffffffffu, m[h], o);
      const float lo = __shfl_xor_sync(0xffffffffu, l[h], o);
      float ao[kVec];
#pragma unroll
      for (int e = 0; e < kVec; ++e) ao[e] = __shfl_xor_sync(0xffffffffu, acc[h][e], o);
      merge_state(m[h], l[h], acc[h], mo, lo, ao);
    }
    if (sub == 0) {
#pragma unroll
      for (int e = 0; e < kVec; ++e) s_acc[warp][h][part * kVec + e] = acc[h][e];
      if (part == 0) {
        s_m[warp][h] = m[h];
        s_l[warp][h] = l[h];
      }
    }
  }
  __syncthreads();

  // Merge the warps; thread per (head, dim).
  constexpr float kLn2 = 0.6931471805599453f;
  for (int i = tid; i < hb * D; i += kDecWarps * 32) {
    const int h = i / D, d = i % D;
    float mx = -INFINITY;
#pragma unroll
    for (int w = 0; w < kDecWarps; ++w) mx = fmaxf(mx, s_m[w][h]);
    float L = 0.f, A = 0.f;
    if (mx != -INFINITY) {
#pragma unroll
      for (int w = 0; w < kDecWarps; ++w) {
        const float c = s_m[w][h] == -INFINITY ? 0.f : exp2f(s_m[w][h] - mx);
        L += s_l[w][h] * c;
        A += s_acc[w][h][d] * c;
      }
    }
    const int64_t oh = r * p.n_heads + g * p.group + j0 + h;
    if (p.n_split == 1) {
      p.out[oh * D + d] = from_f32<T>(L > 0.f ? A / L : 0.f);  // L = 0 only for pos < 0
    } else {
      const int64_t idx = oh * p.n_split + z;
      p.part_acc[idx * D + d] = A;
      if (d == 0) p.part_ml[idx] = make_float2(mx == -INFINITY ? -INFINITY : mx * kLn2, L);
    }
  }
}

size_t round_up(size_t x, size_t a) {
  return (x + a - 1) / a * a;
}

template <typename T, int kMaxD, int kU>
void launch(const Params<T>& p0, const cpu::AttentionShape& s, void* workspace,
            size_t workspace_bytes, int num_sms, cudaStream_t stream) {
  Params<T> p = p0;
  const int d = p.head_dim;
  const size_t smem = smem_bytes<T>(d, kU);
  // Above 48 KB a block's dynamic shared memory must be asked for (per device, so every call).
  CUDA_CHECK(cudaFuncSetAttribute(attention_kernel<T, kMaxD, kU>,
                                  cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem)));
  int per_sm = 0;
  CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, attention_kernel<T, kMaxD, kU>,
                                                           kThreads, smem));
  HS_CHECK(per_sm > 0, "attention: head_dim ", d, " needs ", smem,
           " bytes of shared memory per block, more than the device has");
  const int64_t resident = int64_t(num_sms) * per_sm;

  // Workspace: [tile count | tile first rows | split partials].
  auto* base = static_cast<unsigned char*>(workspace);
  const size_t tiles_end = 256 + round_up(size_t(s.rows) * sizeof(int32_t), 256);
  HS_CHECK(tiles_end <= workspace_bytes, "attention: ", s.rows,
           " query rows need more workspace than the backend reserved (", workspace_bytes,
           " bytes)");
  int32_t* n_tiles = reinterpret_cast<int32_t*>(base);
  int32_t* tiles = reinterpret_cast<int32_t*>(base + 256);
  p.n_tiles = n_tiles;
  p.tiles = tiles;

  // Split the keys when the tiles (at least rows / tile_rows of them, each with
  // heads-per-block x kv-heads blocks) would not fill the GPU twice over.
  const int64_t ctx = int64_t(s.max_blocks) * s.block_tokens;  // most keys any query can see
  const int64_t blocks_y = int64_t(s.n_kv_heads) * p.head_groups;
  const int64_t est = (s.rows + p.tile_rows - 1) / p.tile_rows * blocks_y;
  int64_t n_split = 1;
  if (est < 2 * resident)
    n_split = std::min<int64_t>((2 * resident + est - 1) / est, (ctx + 255) / 256);
  const size_t per_split = size_t(s.rows) * s.n_heads * (d * sizeof(float) + sizeof(float2));
  const size_t room =
      workspace_bytes - tiles_end - std::min<size_t>(workspace_bytes - tiles_end, 512);
  n_split = std::max<int64_t>(1, std::min<int64_t>(n_split, int64_t(room / per_split)));
  int64_t split_len = round_up(size_t((ctx + n_split - 1) / n_split), kKeys);
  if (split_len <= 0) split_len = kKeys;
  n_split = (ctx + split_len - 1) / split_len;
  if (n_split <= 1) {
    n_split = 1;
    split_len = std::max<int64_t>(ctx, 1);
  }
  HS_CHECK(n_split <= 65535 && split_len <= INT32_MAX, "attention: context of ", ctx,
           " keys is too long");
  p.n_split = int(n_split);
  p.split_len = int(split_len);
  p.part_ml = reinterpret_cast<float2*>(base + tiles_end);
  p.part_acc = reinterpret_cast<float*>(
      base + tiles_end + round_up(size_t(s.rows) * s.n_heads * n_split * sizeof(float2), 256));

  CUDA_CHECK(cudaMemsetAsync(n_tiles, 0, sizeof(int32_t), stream));
  tile_kernel<<<grid_for(s.rows, 256), 256, 0, stream>>>(p.seq, s.rows, p.tile_rows, tiles,
                                                         n_tiles);
  CUDA_CHECK_LAUNCH();

  // About one wave of resident blocks, rounded up. Rounding down was measured slower on the
  // H100 (decode 128 x 2048 gqa4: 504 blocks of 18-19 tiles, 1.70 ms, against 576 blocks of 16
  // tiles, 1.49 ms): the per-block tile count sets the time, not a second partial wave.
  const int64_t per_x = blocks_y * n_split;
  const int64_t gx =
      std::max<int64_t>(1, std::min<int64_t>(s.rows, (resident + per_x - 1) / per_x));
  HS_CHECK(blocks_y <= 65535, "attention: too many kv heads");
  const dim3 grid{unsigned(gx), unsigned(blocks_y), unsigned(n_split)};
  attention_kernel<T, kMaxD, kU><<<grid, kThreads, smem, stream>>>(p);
  CUDA_CHECK_LAUNCH();

  if (n_split > 1) {
    const int64_t items = s.rows * s.n_heads;
    const int per_block = 8;
    combine_kernel<T><<<unsigned((items + per_block - 1) / per_block), per_block * 32, 0, stream>>>(
        p.out, p.part_acc, p.part_ml, p.pos, s.rows, int(s.n_heads), d, p.n_split, p.split_len);
    CUDA_CHECK_LAUNCH();
  }
}

template <typename T, int kD, int kHB>
void launch_decode(DecodeParams<T> p, const cpu::AttentionShape& s, void* workspace,
                   size_t workspace_bytes, int num_sms, cudaStream_t stream) {
  const int64_t blocks = s.rows * s.n_kv_heads * p.head_groups;
  const int64_t ctx = int64_t(s.max_blocks) * s.block_tokens;  // most keys any query can see
  // Enough chunks for ~16 blocks per SM (the kernel fits many: small, no dynamic shared memory),
  // chunks of at least 256 keys, and partials that fit the workspace.
  const int64_t target = int64_t(num_sms) * 16;
  int64_t n_split =
      std::max<int64_t>(1, std::min<int64_t>((target + blocks - 1) / blocks, (ctx + 255) / 256));
  const size_t per_split =
      size_t(s.rows) * s.n_heads * (s.head_dim * sizeof(float) + sizeof(float2));
  n_split = std::max<int64_t>(
      1, std::min<int64_t>(n_split, int64_t((workspace_bytes - 512) / per_split)));
  int64_t split_len = (ctx + n_split - 1) / n_split;
  split_len = (split_len + 31) / 32 * 32;
  n_split = (ctx + split_len - 1) / split_len;
  if (n_split <= 1) {
    n_split = 1;
    split_len = std::max<int64_t>(ctx, 1);
  }
  HS_CHECK(n_split <= 65535 && blocks <= INT32_MAX, "attention: decode grid too large");
  p.n_split = int(n_split);
  p.split_len = int(split_len);
  auto* base = static_cast<unsigned char*>(workspace);
  p.part_ml = reinterpret_cast<float2*>(base);
  p.part_acc = reinterpret_cast<float*>(
      base + round_up(size_t(s.rows) * s.n_heads * n_split * sizeof(float2), 256));
  const dim3 grid{unsigned(blocks), unsigned(n_split), 1};
  decode_kernel<T, kD, kHB><<<grid, kDecWarps * 32, 0, stream>>>(p);
  CUDA_CHECK_LAUNCH();
  if (n_split > 1) {
    const int64_t items = s.rows * s.n_heads;
    const int per_block = 8;
    combine_kernel<T><<<unsigned((items + per_block - 1) / per_block), per_block * 32, 0, stream>>>(
        p.out, p.part_acc, p.part_ml, p.pos, s.rows, int(s.n_heads), int(s.head_dim), p.n_split,
        p.split_len);
    CUDA_CHECK_LAUNCH();
  }
}

template <typename T, int kD>
void decode_by_group(DecodeParams<T> p, const cpu::AttentionShape& s, void* workspace,
                     size_t workspace_bytes, int num_sms, cudaStream_t stream) {
  const int hb = p.group == 1 ? 1 : p.group <= 4 ? 4 : 8;
  p.head_groups = (p.group + hb - 1) / hb;
  if (hb == 1)
    launch_decode<T, kD, 1>(p, s, workspace, workspace_bytes, num_sms, stream);
  else if (hb == 4)
    launch_decode<T, kD, 4>(p, s, workspace, workspace_bytes, num_sms, stream);
  else
    launch_decode<T, kD, 8>(p, s, workspace, workspace_bytes, num_sms, stream);
}

// The decode path is on unless HS_ATTN_DECODE=0 (read per call: the tests time both paths).
bool decode_path_enabled() {
  const char* e = std::getenv("HS_ATTN_DECODE");
  return e == nullptr || std::strcmp(e, "0") != 0;
}

// HS_ATTN_PREFILL_TC (read per call): unset, the tensor-core prefill path takes the calls of
// more than kDecMaxRows rows it applies to; "0" turns it off (the tiled kernel's time, for A/B);
// "1" sends it every call it applies to, small ones too (the tests check it on small shapes).
enum class PrefillTc { off, big_calls, every_call };
PrefillTc prefill_tc_mode() {
  const char* e = std::getenv("HS_ATTN_PREFILL_TC");
  if (e == nullptr) return PrefillTc::big_calls;
  if (std::strcmp(e, "0") == 0) return PrefillTc::off;
  if (std::strcmp(e, "1") == 0) return PrefillTc::every_call;
  return PrefillTc::big_calls;
}

}  // namespace

void attention(DType t, void* out, const void* q, const void* k, const void* v,
               const int32_t* block_table, const int32_t* seq, const int32_t* pos,
               const cpu::AttentionShape& s, void* workspace, size_t workspace_bytes, int num_sms,
               cudaStream_t stream) {
  if (s.rows <= 0) return;
  HS_CHECK(s.n_heads > 0 && s.n_kv_heads > 0 && s.n_heads % s.n_kv_heads == 0,
           "attention: n_heads ", s.n_heads, " is not a multiple of n_kv_heads ", s.n_kv_heads);
  HS_CHECK(s.head_dim > 0 && s.head_dim % 2 == 0 && s.head_dim <= 256 &&
               (s.head_dim % kVec == 0 || s.head_dim <= 128),
           "attention: head_dim ", s.head_dim,
           " unsupported (even and at most 128, or a multiple of 8 up to 256)");
  HS_CHECK(s.block_tokens > 0 && s.max_blocks > 0 && s.block_tokens <= INT32_MAX &&
               s.max_blocks * s.block_tokens <= INT32_MAX,
           "attention: block table of ", s.max_blocks, " x ", s.block_tokens, " tokens");
  HS_CHECK(s.rows <= INT32_MAX && s.n_heads <= 65535, "attention: ", s.rows, " rows x ", s.n_heads,
           " heads is too large");
  const bool vec16 =
      s.head_dim % kVec == 0 && aligned16(out) && aligned16(q) && aligned16(k) && aligned16(v);
  const uintptr_t any = reinterpret_cast<uintptr_t>(out) | reinterpret_cast<uintptr_t>(q) |
                        reinterpret_cast<uintptr_t>(k) | reinterpret_cast<uintptr_t>(v);
  HS_CHECK(vec16 || (any % 4 == 0 && s.head_dim <= 128),
           "attention: q, k, v and out must be 4-byte aligned (16-byte for head_dim ", s.head_dim,
           ")");
  const PrefillTc tc = prefill_tc_mode();
  if (tc != PrefillTc::off && (s.rows > kDecMaxRows || tc == PrefillTc::every_call) &&
      prefill_applies(s, out, q, k, v, workspace_bytes)) {
    attention_prefill(t, out, q, k, v, block_table, seq, pos, s, workspace, workspace_bytes,
                      num_sms, stream);
    return;
  }
  const bool decode = vec16 && (s.head_dim == 64 || s.head_dim == 128 || s.head_dim == 256) &&
                      s.rows <= kDecMaxRows && decode_path_enabled();
  dispatch(t, [&](auto tag) {
    using T = decltype(tag);
    if (decode) {
      DecodeParams<T> p{};
      static_cast<AttentionArgs<T>&>(p) = attention_args<T>(out, q, k, v, block_table, seq, pos, s);
      p.scale = s.scale;
      if (s.head_dim == 64)
        decode_by_group<T, 64>(p, s, workspace, workspace_bytes, num_sms, stream);
      else if (s.head_dim == 128)
        decode_by_group<T, 128>(p, s, workspace, workspace_bytes, num_sms, stream);
      else
        decode_by_group<T, 256>(p, s, workspace, workspace_bytes, num_sms, stream);
      return;
    }
    Params<T> p{};
    static_cast<AttentionArgs<T>&>(p) = attention_args<T>(out, q, k, v, block_table, seq, pos, s);
    p.rows = s.rows;
    p.head_dim = int(s.head_dim);
    p.heads_per_block = std::min(p.group, kPairs);
    p.head_groups = (p.group + p.heads_per_block - 1) / p.heads_per_block;
    p.tile_rows = kPairs / p.heads_per_block;
    p.scale = s.scale;
    if (!vec16)
      launch<T, 128, 2>(p, s, workspace, workspace_bytes, num_sms, stream);
    else if (s.head_dim <= 128)
      launch<T, 128, kVec>(p, s, workspace, workspace_bytes, num_sms, stream);
    else
      launch<T, 256, kVec>(p, s, workspace, workspace_bytes, num_sms, stream);
  });
}

}  // namespace hs::kernels

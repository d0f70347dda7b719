// Attention over block tables on the GPU against cpu::attention, for fp16 and bf16: decode (one
// query per sequence, contexts of 1, 17, 300 and 2100 tokens), prefill (many queries per
// sequence, with and without a cached prefix), mixed and shuffled row orders, MHA / GQA (group
// 3, 4, 8, 48) / MQA, head_dim 64, 80, 96, 128 and 256, odd block sizes and shuffled slots.
// Cache rows that no query may see and unused slots hold NaN, so a read past a context shows;
// outputs are poisoned with NaN so an unwritten row shows.
//
// Every case with head_dim 64 or 128 and 16-byte aligned tensors is also run through the
// tensor-core prefill kernel (HS_ATTN_PREFILL_TC=1 sends it calls of any size), so it meets
// decode rows, shuffled rows and prefixes as well as the prefill shapes it is built for.
//
// Tolerance: gputest::tolerance. The kernels' scores, softmax and sums are fp32 from the same
// 16-bit q, k, v as the cpu's, so the difference is the output's rounding to 16 bits. The
// tensor-core kernel also rounds the probabilities P to 16 bits before P V (2^-11 relative in
// fp16, 2^-8 in bf16, random in sign over the keys), which adds about as much again: still
// below the bounds, which sit 3-5x above one rounding.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <numeric>
#include <random>

#include "backend/cpu/ops.h"
#include "gpu_test_util.h"

namespace hs {
namespace {

using namespace gputest;

struct AttnCase {
  std::string name;
  int64_t n_heads, n_kv_heads, head_dim, block_tokens;
  std::vector<int64_t> cached;   // per sequence: tokens in the cache before this call's queries
  std::vector<int64_t> queries;  // per sequence: query rows (positions cached .. cached+q-1)
  bool shuffle_rows = false;     // interleave the sequences' rows in a random order
  int64_t check_rows = 0;        // 0: compare every row; else this many random rows (big cases)
  bool time_it = false;
  bool misalign = false;  // tensors 4-byte but not 16-byte aligned: the 4-byte load variant
};

struct Problem {
  std::vector<float> q, k, v;
  std::vector<int32_t> table, seq, pos;
  cpu::AttentionShape shape{};
};

Problem build(const AttnCase& c, DType t, std::mt19937_64& rng) {
  Problem p;
  const int64_t n_seqs = static_cast<int64_t>(c.cached.size());
  const int64_t bt = c.block_tokens, kv_row = c.n_kv_heads * c.head_dim;
  std::vector<int64_t> len(n_seqs), blocks(n_seqs);
  int64_t max_blocks = 1, used = 0;
  for (int64_t s = 0; s < n_seqs; ++s) {
    len[s] = c.cached[s] + c.queries[s];
    blocks[s] = (len[s] + bt - 1) / bt;
    max_blocks = std::max(max_blocks, blocks[s] + 1);  // one unused column, left at -1
    used += blocks[s];
  }
  const int64_t slots = used + 3;  // spare slots, never referenced, NaN
  std::vector<int32_t> perm(slots);
  std::iota(perm.begin(), perm.end(), 0);
  std::shuffle(perm.begin(), perm.end(), rng);
  p.table.assign(n_seqs * max_blocks, -1);
  p.k.assign(slots * bt * kv_row, NAN);
  p.v.assign(slots * bt * kv_row, NAN);
  // K and V run to 10^8 elements in the big cases: a splitmix64 stream fills them fast.
  uint64_t state = rng();
  auto u = [&state] {
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return static_cast<float>(z >> 40) * 0x1.0p-23f - 1.f;  // uniform in [-1, 1)
  };
  int64_t next = 0;
  for (int64_t s = 0; s < n_seqs; ++s) {
    for (int64_t b = 0; b < blocks[s]; ++b) p.table[s * max_blocks + b] = perm[next++];
    for (int64_t pos = 0; pos < len[s]; ++pos) {
      const int64_t row = p.table[s * max_blocks + pos / bt] * bt + pos % bt;
      for (int64_t i = 0; i < kv_row; ++i) {
        p.k[row * kv_row + i] = from_bits(t, to_bits(t, u()));
        p.v[row * kv_row + i] = from_bits(t, to_bits(t, u()));
      }
    }
  }
  for (int64_t s = 0; s < n_seqs; ++s)
    for (int64_t i = 0; i < c.queries[s]; ++i) {
      p.seq.push_back(static_cast<int32_t>(s));
      p.pos.push_back(static_cast<int32_t>(c.cached[s] + i));
    }
  if (c.shuffle_rows) {
    std::vector<size_t> order(p.seq.size());
    std::iota(order.begin(), order.end(), 0);
    std::shuffle(order.begin(), order.end(), rng);
    std::vector<int32_t> seq(order.size()), pos(order.size());
    for (size_t i = 0; i < order.size(); ++i) seq[i] = p.seq[order[i]], pos[i] = p.pos[order[i]];
    p.seq = seq;
    p.pos = pos;
  }
  const int64_t rows = static_cast<int64_t>(p.seq.size());
  // q in [-2, 2]: scores of a few units, so the softmax is peaked for some heads, flat for others.
  p.q = random_values(rng, t, rows * c.n_heads * c.head_dim, -2.f, 2.f);
  p.shape = cpu::AttentionShape{rows,
                                c.n_heads,
                                c.n_kv_heads,
                                c.head_dim,
                                bt,
                                max_blocks,
                                1.f / std::sqrt(float(c.head_dim))};
  return p;
}

class CudaAttention : public ::testing::TestWithParam<DType> {
 protected:
  void run(const AttnCase& c) {
    const DType t = GetParam();
    Backend& b = backend(t);
    std::mt19937_64 rng(std::hash<std::string>()(c.name) ^ 0xa77e);
    const Problem p = build(c, t, rng);
    const cpu::AttentionShape& s = p.shape;
    const int64_t width = s.n_heads * s.head_dim;

    // misalign: every tensor starts 2 elements (4 bytes) into its buffer, off 16-byte alignment.
    const int64_t off = c.misalign ? 2 : 0;
    auto shifted = [&](const std::vector<float>& v) {
      std::vector<float> w(off, 0.5f);
      w.insert(w.end(), v.begin(), v.end());
      return upload(b, w);
    };
    auto dq = shifted(p.q), dk = shifted(p.k), dv = shifted(p.v);
    auto dtable = upload_raw(b, p.table), dseq = upload_raw(b, p.seq), dpos = upload_raw(b, p.pos);
    auto dout = poisoned(b, off + s.rows * width);
    auto call = [&] {
      b.attention(dout->as<uint16_t>() + off, dq->as<uint16_t>() + off, dk->as<uint16_t>() + off,
                  dv->as<uint16_t>() + off, dtable->as<int32_t>(), dseq->as<int32_t>(),
                  dpos->as<int32_t>(), s);
    };
    call();
    std::vector<float> got = download(b, *dout, off + s.rows * width);
    for (int64_t i = 0; i < off; ++i) EXPECT_TRUE(std::isnan(got[i])) << "wrote before out";
    got.erase(got.begin(), got.begin() + off);

    // The rows to check, and the cpu's answer for them (cpu::attention takes any subset of
    // query rows: each is a function of its own (seq, pos)).
    std::vector<int64_t> rows(s.rows);
    std::iota(rows.begin(), rows.end(), 0);
    if (c.check_rows > 0 && c.check_rows < s.rows) {
      std::shuffle(rows.begin(), rows.end(), rng);
      rows.resize(c.check_rows);
      rows.push_back(s.rows - 1);  // the last row: the longest context of a prefill
    }
    const int64_t n = static_cast<int64_t>(rows.size());
    std::vector<float> q_sub(n * width), got_sub(n * width), want(n * width);
    std::vector<int32_t> seq_sub(n), pos_sub(n);
    for (int64_t i = 0; i < n; ++i) {
      std::copy_n(p.q.begin() + rows[i] * width, width, q_sub.begin() + i * width);
      std::copy_n(got.begin() + rows[i] * width, width, got_sub.begin() + i * width);
      seq_sub[i] = p.seq[rows[i]];
      pos_sub[i] = p.pos[rows[i]];
    }
    cpu::AttentionShape s_sub = s;
    s_sub.rows = n;
    cpu::attention(want.data(), q_sub.data(), p.k.data(), p.v.data(), p.table.data(),
                   seq_sub.data(), pos_sub.data(), s_sub);
    // The rows' outputs as the last call left them, against the cpu's; every element written.
    auto check = [&](const std::string& what) {
      std::vector<float> all = download(b, *dout, off + s.rows * width);
      std::vector<float> sub(n * width);
      for (int64_t i = 0; i < n; ++i)
        std::copy_n(all.begin() + off + rows[i] * width, width, sub.begin() + i * width);
      expect_close(sub, want, tolerance(t), what + " " + dtype_name(t));
      const int64_t unwritten =
          std::count_if(all.begin() + off, all.end(), [](float f) { return !std::isfinite(f); });
      EXPECT_EQ(unwritten, 0) << what << ": output elements not written (or not finite)";
    };
    expect_close(got_sub, want, tolerance(t), c.name + " " + dtype_name(t));
    const int64_t unwritten =
        std::count_if(got.begin(), got.end(), [](float f) { return !std::isfinite(f); });
    EXPECT_EQ(unwritten, 0) << "output elements not written (or not finite)";

    // The tensor-core prefill kernel on the same call, into a freshly poisoned output.
    const bool tc_applies = (s.head_dim == 64 || s.head_dim == 128) && !c.misalign;
    if (tc_applies) {
      dout = poisoned(b, off + s.rows * width);
      setenv("HS_ATTN_PREFILL_TC", "1", 1);
      call();
      unsetenv("HS_ATTN_PREFILL_TC");
      check(c.name + " tc");
    }

    if (c.time_it) {  // not asserted: a figure for the report (median of 5 after the warm-up)
      auto time = [&] {
        call();  // warm-up (the path may have changed)
        std::vector<double> ms;
        for (int i = 0; i < 5; ++i) {
          const Event e0 = b.record(Stream::compute);
          call();
          const Event e1 = b.record(Stream::compute);
          b.sync(e1);
          ms.push_back(b.event_ms(e1) - b.event_ms(e0));
        }
        std::sort(ms.begin(), ms.end());
        return ms[2];
      };
      // Causal flops: 2 D for q.k and 2 D for p v per (row, head, visible key).
      double keys = 0;
      for (int32_t q_pos : p.pos) keys += q_pos + 1.0;
      const double tflop = 4.0 * keys * s.n_heads * s.head_dim * 1e-12;
      const double t_new = time();
      // HS_ATTN_DECODE=0 and HS_ATTN_PREFILL_TC=0 turn off the decode (flash-decoding) and the
      // tensor-core prefill paths: the tiled CUDA-core kernel's time.
      dout = poisoned(b, off + s.rows * width);
      setenv("HS_ATTN_DECODE", "0", 1);
      setenv("HS_ATTN_PREFILL_TC", "0", 1);
      const double t_old = time();
      unsetenv("HS_ATTN_DECODE");
      unsetenv("HS_ATTN_PREFILL_TC");
      std::printf("[time] %-48s %.3f ms, %.1f TFLOP/s (tiled kernel %.3f ms, %.1f TFLOP/s)\n",
                  (c.name + " " + dtype_name(t)).c_str(), t_new, tflop / (t_new * 1e-3), t_old,
                  tflop / (t_old * 1e-3));
      check(c.name + " tiled");
    }
  }
};

TEST_P(CudaAttention, DecodeMhaContexts) {
  run({"decode mha d64 ctx 1/17/300/2100", 4, 4, 64, 16, {0, 16, 299, 2099}, {1, 1, 1, 1}});
}

TEST_P(CudaAttention, DecodeGqa4D128) {
  run({"decode gqa4 d128", 32, 8, 128, 16, {0, 16, 299, 2099, 4, 63}, {1, 1, 1, 1, 1, 1}});
}

TEST_P(CudaAttention, DecodeGqa8ManySequences) {
  AttnCase c{"decode gqa8 d128 64 seqs", 16, 2, 128, 32, {}, {}};
  std::mt19937_64 rng(7);
  std::uniform_int_distribution<int64_t> len(0, 700);
  for (int i = 0; i < 64; ++i) c.cached.push_back(len(rng)), c.queries.push_back(1);
  c.shuffle_rows = true;
  run(c);
}

TEST_P(CudaAttention, DecodeOneLongSequence) {
  // A single query over 2100 keys: the key range is split across blocks and merged.
  run({"decode 1 seq ctx 2100 d128 bt 64", 8, 8, 128, 64, {2099}, {1}});
}

TEST_P(CudaAttention, PrefillOddHeadsD80) {
  run({"prefill mha 5 heads d80 bt 7", 5, 5, 80, 7, {0, 0, 0}, {37, 1, 130}});
}

TEST_P(CudaAttention, PrefillMqaWithPrefix) {
  run({"prefill mqa 5 heads d80 prefix bt 7", 5, 1, 80, 7, {10, 0, 200}, {37, 1, 64}});
}

TEST_P(CudaAttention, PrefillMha40D128) {
  // opt-13b's heads; lengths that are not multiples of the 64-row tile, and a 1-token prompt.
  run({"prefill mha40 d128 lengths 100/64/1/130",
       40,
       40,
       128,
       16,
       {0, 0, 0, 0},
       {100, 64, 1, 130}});
}

TEST_P(CudaAttention, PrefillGqa4D128WithPrefix) {
  // Queries after cached prefixes of 10, 64 and 130 tokens: tiles cut at positions, not rows.
  run({"prefill gqa4 d128 prefix 10/64/130 bt 16", 8, 2, 128, 16, {10, 64, 130}, {90, 70, 5}});
}

TEST_P(CudaAttention, PrefillGqa2D64) {
  run({"prefill gqa2 d64 bt 32", 12, 6, 64, 32, {0, 0, 3}, {200, 63, 65}});
}

TEST_P(CudaAttention, PrefillMqaD64OddBlocks) {
  run({"prefill mqa d64 prefix bt 7", 6, 1, 64, 7, {5, 0}, {150, 33}});
}

TEST_P(CudaAttention, ShuffledPrefillGqa4D128) {
  // Rows of three prefills interleaved at random: the tensor-core kernel gets 1-row tiles.
  AttnCase c{"shuffled prefill gqa4 d128", 8, 2, 128, 16, {0, 40, 0}, {70, 30, 64}};
  c.shuffle_rows = true;
  run(c);
}

TEST_P(CudaAttention, PrefillAboveDecodeRowsD128) {
  // 1077 rows: more than the decode path takes, so the default route is the tensor-core kernel.
  run({"prefill 1077 rows gqa2 d128 prefix", 4, 2, 128, 16, {0, 33, 0}, {700, 300, 77}});
}

TEST_P(CudaAttention, MixedShuffledRowsGroup3D96) {
  // Prefill and decode rows of several sequences in one call, interleaved at random.
  run({"mixed shuffled gqa3 d96 bt 16",
       12,
       4,
       96,
       16,
       {0, 5, 300, 0, 17},
       {40, 1, 1, 3, 20},
       true});
}

TEST_P(CudaAttention, HeadDim256) {
  run({"prefill+decode d256 gqa2", 4, 2, 256, 16, {0, 100}, {50, 1}});
}

TEST_P(CudaAttention, WideGroup48) {
  // 48 query heads on one KV head: more than a block's 32 pairs, split over two head groups.
  run({"prefill+decode mqa 48 heads d64", 48, 1, 64, 16, {0, 20}, {20, 1}});
}

TEST_P(CudaAttention, OneBlockPerSequence) {
  // The reference engine's layout: one block holding the whole context (max_blocks 1 + 1).
  run({"one block of 3000 tokens", 8, 4, 64, 3000, {0, 1000}, {300, 1}});
}

TEST_P(CudaAttention, TinyModelHeadDims) {
  // The tiny test models' shapes: head_dim 12 (opt-oddheads) and 16 (the llama ones); 12 is not
  // a multiple of 8, so it runs the 4-byte variant.
  run({"opt-oddheads shape: 5 heads d12", 5, 5, 12, 16, {0, 7}, {9, 1}});
  run({"llama-gqa shape: 6/2 heads d16 bt 4", 6, 2, 16, 4, {0, 30}, {12, 1}});
  run({"llama-mqa-odd shape: 3/1 heads d16", 3, 1, 16, 16, {0, 40, 3}, {20, 1, 1}});
}

TEST_P(CudaAttention, FourByteAlignedPointers) {
  AttnCase c{"4-byte aligned tensors gqa4 d64", 8, 2, 64, 16, {0, 300, 2099}, {40, 1, 1}};
  c.misalign = true;
  run(c);
  AttnCase c2{"4-byte aligned tensors d80 shuffled", 5, 5, 80, 7, {10, 0, 200}, {37, 1, 64}};
  c2.misalign = true;
  c2.shuffle_rows = true;
  run(c2);
}

// A large timed case: `seqs` sequences alike, each with `cached` tokens in the cache and `queries`
// new rows, checked on `check_rows` random rows.
AttnCase uniform(std::string name, int64_t heads, int64_t kv_heads, int64_t seqs, int64_t cached,
                 int64_t queries, int64_t check_rows) {
  AttnCase c{std::move(name), heads, kv_heads, 128, 16, {}, {}};
  c.cached.assign(static_cast<size_t>(seqs), cached);
  c.queries.assign(static_cast<size_t>(seqs), queries);
  c.check_rows = check_rows;
  c.time_it = true;
  return c;
}

TEST_P(CudaAttention, BigPrefill128x1024) {
  run(uniform("prefill 128 x 1024 gqa4 d128", 8, 2, 128, 0, 1024, 300));
}

TEST_P(CudaAttention, BigPrefillMha40x32x512) {
  // The engine's opt-13b prefill mini-batch: 32 prompts of 512 tokens, 40 heads of 128.
  run(uniform("prefill 32 x 512 mha40 d128", 40, 40, 32, 0, 512, 200));
}

TEST_P(CudaAttention, BigDecode128x2048) {
  run(uniform("decode 128 x ctx 2048 gqa4 d128", 32, 8, 128, 2047, 1, 40));
}

TEST_P(CudaAttention, BigDecodeMha32x2048) {
  // OPT-style multi-head attention: no K/V sharing between heads, one pair per block.
  run(uniform("decode 32 x ctx 2048 mha32 d128", 32, 32, 32, 2047, 1, 8));
}

TEST_P(CudaAttention, BigDecodeMha40x128x1024) {
  // The engine's case: opt-13b decode, 128 sequences of 1024 tokens, 40 heads of 128, block 16.
  run(uniform("decode 128 x ctx 1024 mha40 d128", 40, 40, 128, 1023, 1, 16));
}

TEST_P(CudaAttention, DecodeMhaSmallBatchSplits) {
  // 4 sequences of 40 heads: few blocks, so the keys split into chunks merged by combine_kernel.
  run({"decode 4 seqs mha40 d128 ctx 1100", 40, 40, 128, 16, {1099, 512, 3, 900}, {1, 1, 1, 1}});
}

INSTANTIATE_TEST_SUITE_P(Dtypes, CudaAttention, ::testing::Values(DType::f16, DType::bf16),
                         dtype_param_name);

}  // namespace
}  // namespace hs

// Every CUDA compute op except attention (cuda_attention_test.cpp) against its cpu twin
// (backend/cpu/ops.h, engine/sampler.h), through the Backend interface, for fp16 and bf16:
// random inputs rounded to the dtype, outputs poisoned with NaN before each call, and the
// relative error bounded by gputest::tolerance (gpu_test_util.h says why those numbers) unless
// a test states another bound.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "backend/cpu/ops.h"
#include "engine/sampler.h"
#include "gpu_test_util.h"

namespace hs {
namespace {

using namespace gputest;

class CudaOps : public ::testing::TestWithParam<DType> {
 protected:
  Backend& b() { return backend(GetParam()); }
  DType t() { return GetParam(); }
  std::string tag(const std::string& what) { return what + " " + dtype_name(t()); }
  std::mt19937_64 rng{0x5eed0001};

  // A linear's random inputs in the dtype, x [rows, k], w [n, k] (small, as trained weights
  // are) and bias [n], with their device copies.
  struct LinearInputs {
    int64_t rows, k, n;
    std::vector<float> x, w, bias;
    std::unique_ptr<DeviceBuffer> dx, dw, db;
    std::string size() const {
      return " " + std::to_string(rows) + "x" + std::to_string(k) + "x" + std::to_string(n);
    }
  };
  LinearInputs linear_inputs(int64_t rows, int64_t k, int64_t n) {
    LinearInputs in{rows,
                    k,
                    n,
                    random_values(rng, t(), rows * k),
                    random_values(rng, t(), n * k, -0.1f, 0.1f),
                    random_values(rng, t(), n)};
    in.dx = upload(b(), in.x);
    in.dw = upload(b(), in.w);
    in.db = upload(b(), in.bias);
    return in;
  }
};

TEST_P(CudaOps, Elementwise) {
  // Awkward lengths: not multiples of 8 (the scalar tail after the 16-byte part), tiny, large.
  for (int64_t n : {1, 7, 1000, 4099, (1 << 20) + 3}) {
    const auto a = random_values(rng, t(), n, -4.f, 4.f);
    const auto c = random_values(rng, t(), n, -4.f, 4.f);
    auto da = upload(b(), a), dc = upload(b(), c);
    const std::string sz = " n=" + std::to_string(n);

    {  // relu, in place
      auto want = a;
      cpu::relu(want.data(), n);
      auto dx = upload(b(), a);
      b().relu(dx->get(), n);
      expect_close(download(b(), *dx, n), want, tolerance(t()), tag("relu" + sz));
    }
    {  // scale, in place
      auto want = a;
      cpu::scale(want.data(), 0.125f * 3, n);
      auto dx = upload(b(), a);
      b().scale(dx->get(), 0.125f * 3, n);
      expect_close(download(b(), *dx, n), want, tolerance(t()), tag("scale" + sz));
    }
    {  // silu_mul into a fresh (poisoned) buffer, then in place over gate
      std::vector<float> want(n);
      cpu::silu_mul(want.data(), a.data(), c.data(), n);
      auto dout = poisoned(b(), n);
      b().silu_mul(dout->get(), da->get(), dc->get(), n);
      expect_close(download(b(), *dout, n), want, tolerance(t()), tag("silu_mul" + sz));
      auto dg = upload(b(), a);
      b().silu_mul(dg->get(), dg->get(), dc->get(), n);
      expect_close(download(b(), *dg, n), want, tolerance(t()), tag("silu_mul in place" + sz));
    }
    {  // add into a poisoned buffer and in place
      std::vector<float> want(n);
      cpu::add(want.data(), a.data(), c.data(), n);
      auto dout = poisoned(b(), n);
      b().add(dout->get(), da->get(), dc->get(), n);
      expect_close(download(b(), *dout, n), want, tolerance(t()), tag("add" + sz));
      auto dx = upload(b(), a);
      b().add(dx->get(), dx->get(), dc->get(), n);
      expect_close(download(b(), *dx, n), want, tolerance(t()), tag("add in place" + sz));
    }
  }
}

TEST_P(CudaOps, ElementwiseUnalignedPointers) {
  // An odd element offset makes every pointer 2 bytes off 16: the scalar path.
  const int64_t n = 1001;
  const auto a = random_values(rng, t(), n + 1), c = random_values(rng, t(), n + 1);
  auto da = upload(b(), a), dc = upload(b(), c), dout = poisoned(b(), n + 1);
  std::vector<float> want(n);
  cpu::add(want.data(), a.data() + 1, c.data() + 1, n);
  b().add(dout->as<uint16_t>() + 1, da->as<uint16_t>() + 1, dc->as<uint16_t>() + 1, n);
  auto got = download(b(), *dout, n + 1);
  EXPECT_TRUE(std::isnan(got[0])) << "wrote before the output";
  got.erase(got.begin());
  expect_close(got, want, tolerance(t()), tag("add unaligned"));
}

TEST_P(CudaOps, EmbedAndAddRows) {
  for (int64_t dim : {64, 80, 77, 4096}) {
    const int64_t vocab = 1000, rows = 37;
    const auto table = random_values(rng, t(), vocab * dim);
    std::vector<int32_t> ids(rows);
    std::uniform_int_distribution<int32_t> pick(0, vocab - 1);
    for (auto& i : ids) i = pick(rng);
    ids[3] = ids[4];  // a repeated id
    auto dtable = upload(b(), table);
    auto dids = upload_raw(b(), ids);

    std::vector<float> want(rows * dim);
    cpu::embed(want.data(), table.data(), ids.data(), rows, dim);
    auto dout = poisoned(b(), rows * dim);
    b().embed(dout->get(), dtable->get(), dids->as<int32_t>(), rows, dim);
    // A copy: exact.
    expect_close(download(b(), *dout, rows * dim), want, 0.0,
                 tag("embed dim=" + std::to_string(dim)));

    const auto x = random_values(rng, t(), rows * dim);
    auto want2 = x;
    cpu::add_rows(want2.data(), table.data(), ids.data(), rows, dim);
    auto dx = upload(b(), x);
    b().add_rows(dx->get(), dtable->get(), dids->as<int32_t>(), rows, dim);
    expect_close(download(b(), *dx, rows * dim), want2, tolerance(t()),
                 tag("add_rows dim=" + std::to_string(dim)));
  }
}

TEST_P(CudaOps, Norms) {
  // Rows not a multiple of anything, widths with and without the 16-byte path, and an input
  // with a large mean so that a one-pass variance would lose digits.
  struct Case {
    int64_t rows, dim;
    float offset;
  };
  for (const Case& c : {Case{1, 64, 0.f}, Case{67, 768, 3.f}, Case{5, 5120, -2.f},
                        Case{13, 1001, 0.5f}, Case{300, 80, 8.f}}) {
    const std::string sz = " " + std::to_string(c.rows) + "x" + std::to_string(c.dim);
    const auto x = random_values(rng, t(), c.rows * c.dim, c.offset - 1.f, c.offset + 1.f);
    const auto w = random_values(rng, t(), c.dim, 0.5f, 1.5f);
    const auto bias = random_values(rng, t(), c.dim, -0.5f, 0.5f);
    auto dx = upload(b(), x), dw = upload(b(), w), db = upload(b(), bias);

    std::vector<float> want(c.rows * c.dim);
    cpu::layernorm(want.data(), x.data(), w.data(), bias.data(), c.rows, c.dim, 1e-5f);
    auto dout = poisoned(b(), c.rows * c.dim);
    b().layernorm(dout->get(), dx->get(), dw->get(), db->get(), c.rows, c.dim, 1e-5f);
    expect_close(download(b(), *dout, c.rows * c.dim), want, tolerance(t()), tag("layernorm" + sz));
    // In place (OPT's post-norm normalizes x into itself).
    auto dxi = upload(b(), x);
    b().layernorm(dxi->get(), dxi->get(), dw->get(), db->get(), c.rows, c.dim, 1e-5f);
    expect_close(download(b(), *dxi, c.rows * c.dim), want, tolerance(t()),
                 tag("layernorm in place" + sz));

    cpu::rmsnorm(want.data(), x.data(), w.data(), c.rows, c.dim, 1e-6f);
    auto dout2 = poisoned(b(), c.rows * c.dim);
    b().rmsnorm(dout2->get(), dx->get(), dw->get(), c.rows, c.dim, 1e-6f);
    expect_close(download(b(), *dout2, c.rows * c.dim), want, tolerance(t()), tag("rmsnorm" + sz));
  }
}

TEST_P(CudaOps, Rope) {
  // Positions up to 5000: angles of thousands of radians, where a fast sine would drift.
  struct Case {
    int64_t rows, heads, head_dim;
    float theta;
  };
  for (const Case& c : {Case{1, 1, 64, 10000.f}, Case{33, 5, 80, 10000.f},
                        Case{17, 8, 128, 500000.f}, Case{9, 3, 256, 1e6f}}) {
    const int64_t n = c.rows * c.heads * c.head_dim;
    const auto x = random_values(rng, t(), n);
    std::vector<int32_t> pos(c.rows);
    std::uniform_int_distribution<int32_t> p(0, 5000);
    for (auto& v : pos) v = p(rng);
    if (c.rows > 1) pos[0] = 0;  // position 0 (no rotation) among others
    auto want = x;
    cpu::rope(want.data(), pos.data(), c.rows, c.heads, c.head_dim, c.theta);
    auto dx = upload(b(), x);
    auto dpos = upload_raw(b(), pos);
    b().rope(dx->get(), dpos->as<int32_t>(), c.rows, c.heads, c.head_dim, c.theta);
    expect_close(download(b(), *dx, n), want, tolerance(t()),
                 tag("rope heads=" + std::to_string(c.heads) + " d=" + std::to_string(c.head_dim)));
  }
}

TEST_P(CudaOps, Linear) {
  // cuBLAS with fp32 accumulation; the fp32-output variant (logits) is bounded by fp32
  // summation in another order: ~sqrt(k) 2^-24 ~ 1e-6, so 1e-4 catches any 16-bit accumulation
  // (>= 1e-3) with room for the tensor cores' own fp32 adders.
  struct Case {
    int64_t rows, k, n;
  };
  for (const Case& cs :
       {Case{1, 64, 96}, Case{3, 80, 200}, Case{67, 256, 1000}, Case{129, 1024, 768}}) {
    const LinearInputs c = linear_inputs(cs.rows, cs.k, cs.n);
    const std::string sz = c.size();
    const auto &x = c.x, &w = c.w, &bias = c.bias;
    const auto &dx = c.dx, &dw = c.dw, &db = c.db;

    std::vector<float> want(c.rows * c.n);
    cpu::linear(want.data(), x.data(), w.data(), bias.data(), c.rows, c.k, c.n);
    auto dout = poisoned(b(), c.rows * c.n);
    b().linear(dout->get(), dx->get(), dw->get(), db->get(), c.rows, c.k, c.n);
    expect_close(download(b(), *dout, c.rows * c.n), want, tolerance(t()), tag("linear+bias" + sz));

    cpu::linear(want.data(), x.data(), w.data(), nullptr, c.rows, c.k, c.n);
    auto dout2 = poisoned(b(), c.rows * c.n);
    b().linear(dout2->get(), dx->get(), dw->get(), nullptr, c.rows, c.k, c.n);
    expect_close(download(b(), *dout2, c.rows * c.n), want, tolerance(t()), tag("linear" + sz));

    std::vector<float> nan_f32(c.rows * c.n, NAN);
    auto dlogits = upload_raw(b(), nan_f32);
    b().linear_f32(dlogits->as<float>(), dx->get(), dw->get(), c.rows, c.k, c.n);
    expect_close(download_raw<float>(b(), *dlogits, c.rows * c.n), want, 1e-4,
                 tag("linear_f32" + sz));
  }
}

// One rounding: with fp32 accumulation and the bias added before the result is stored, every
// element is the cpu's fp32 dot + bias rounded to the dtype, or (where fp32 sums in another
// order straddle a rounding boundary) a neighbour of it. At most 1% of elements may be
// neighbours; a second rounding (the product stored, then the bias added) moves a good share
// of them. Shapes of the tiny models' layers (k 48-256), where an fp32 sum in another order is
// far inside a 16-bit unit: at k 4096 the outputs that cancel are not (96x4096x4096 on an
// H100: 1.6% neighbours and 0.17% farther in fp16, bias or none; docs/BENCHMARKS.md,
// "Accuracy: tokens and logits").
TEST_P(CudaOps, LinearRoundsOnce) {
  struct Case {
    int64_t rows, k, n;
  };
  for (const Case& cs : {Case{1, 64, 64}, Case{5, 64, 192}, Case{24, 64, 256}, Case{24, 256, 64},
                         Case{7, 48, 144}, Case{3, 60, 240}}) {
    const LinearInputs c = linear_inputs(cs.rows, cs.k, cs.n);
    const std::string sz = c.size();
    const auto &x = c.x, &w = c.w, &bias = c.bias;
    const auto &dx = c.dx, &dw = c.dw, &db = c.db;
    for (bool with_bias : {true, false}) {
      std::vector<float> want(c.rows * c.n);
      cpu::linear(want.data(), x.data(), w.data(), with_bias ? bias.data() : nullptr, c.rows, c.k,
                  c.n);
      round_to(t(), want.data(), want.size());
      auto dout = poisoned(b(), c.rows * c.n);
      b().linear(dout->get(), dx->get(), dw->get(), with_bias ? db->get() : nullptr, c.rows, c.k,
                 c.n);
      const auto got = download(b(), *dout, c.rows * c.n);
      int64_t neighbours = 0, far = 0;
      for (size_t i = 0; i < want.size(); ++i) {
        if (got[i] == want[i]) continue;
        // The 16-bit patterns of values of one sign are ordered: neighbours differ by one.
        uint16_t g = 0, h = 0;
        convert(DType::f32, &got[i], t(), &g, 1);
        convert(DType::f32, &want[i], t(), &h, 1);
        const bool neighbour = (g >> 15) == (h >> 15) && std::abs(int(g) - int(h)) == 1;
        ++(neighbour ? neighbours : far);
      }
      const std::string what = tag((with_bias ? "linear+bias" : "linear") + sz);
      std::printf("[round] %-40s %lld of %zu elements a neighbour, %lld farther\n", what.c_str(),
                  static_cast<long long>(neighbours), want.size(), static_cast<long long>(far));
      EXPECT_EQ(far, 0) << what;
      EXPECT_LE(double(neighbours), 0.01 * double(want.size())) << what;
    }
  }
}

TEST_P(CudaOps, GreedySampling) {
  // Argmax per row, lowest id on ties (planted), rows of very different vocabularies.
  for (int64_t vocab : {1, 50, 50272, 152064}) {
    const int64_t rows = 19;
    std::vector<float> logits(rows * vocab);
    std::normal_distribution<float> g(0.f, 3.f);
    for (float& f : logits) f = g(rng);
    if (vocab > 10) {
      for (int64_t r = 0; r < rows; r += 2) {  // the same top value at two ids
        float* row = logits.data() + r * vocab;
        const float top = *std::max_element(row, row + vocab) + 1.f;
        row[vocab - 1 - r] = top;
        row[(r * 7) % (vocab / 2)] = top;
      }
    }
    auto dl = upload_raw(b(), logits);
    std::vector<int32_t> got(rows, -1);
    std::vector<uint64_t> keys(rows, 1);
    std::vector<int64_t> steps(rows, 0);
    SamplingParams greedy;
    b().sample(got.data(), dl->as<float>(), rows, vocab, greedy, keys.data(), steps.data());
    for (int64_t r = 0; r < rows; ++r)
      EXPECT_EQ(got[r], sample_token(logits.data() + r * vocab, vocab, greedy, 1, 0))
          << "row " << r << " vocab " << vocab;
  }
}

TEST_P(CudaOps, TemperatureSampling) {
  // On the host through hs::sample_token: the same tokens as the cpu, exactly.
  const int64_t rows = 23, vocab = 32000;
  std::vector<float> logits(rows * vocab);
  std::normal_distribution<float> g(0.f, 2.f);
  for (float& f : logits) f = g(rng);
  auto dl = upload_raw(b(), logits);
  std::vector<uint64_t> keys(rows);
  std::vector<int64_t> steps(rows);
  for (int64_t r = 0; r < rows; ++r) {
    keys[r] = request_key("req-" + std::to_string(r));
    steps[r] = r % 5;
  }
  SamplingParams p;
  p.temperature = 0.8f;
  p.top_k = 50;
  p.top_p = 0.9f;
  p.seed = 1234;
  std::vector<int32_t> got(rows, -1);
  b().sample(got.data(), dl->as<float>(), rows, vocab, p, keys.data(), steps.data());
  for (int64_t r = 0; r < rows; ++r)
    EXPECT_EQ(got[r], sample_token(logits.data() + r * vocab, vocab, p, keys[r], steps[r]))
        << "row " << r;
}

INSTANTIATE_TEST_SUITE_P(Dtypes, CudaOps, ::testing::Values(DType::f16, DType::bf16),
                         dtype_param_name);

}  // namespace
}  // namespace hs

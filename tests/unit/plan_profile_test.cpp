// measure_constants against a backend whose clock is known: a fake device on which a copy of n
// bytes takes n / bandwidth and a GEMM 2 rows k n / rate, so the measured constants must come
// out as the fake's.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>

#include "backend/backend.h"
#include "model/shapes.h"
#include "plan/profile.h"

namespace hs {
namespace {

class ClockedBackend final : public Backend {
 public:
  ClockedBackend(CostConstants k, double launch_ms) : k_(k), launch_ms_(launch_ms) {}

  double busy_ms = 0;  // all simulated work, warm-ups and fills included
  int64_t ops = 0;
  double slow_link_until_ms = 0;  // H2D copies run at half rate until busy_ms reaches it

  std::string name() const override { return "clocked"; }
  std::string device_name() const override { return "clocked fake"; }
  DType dtype() const override { return DType::f16; }
  void* host_alloc(size_t bytes) override { return std::malloc(bytes); }  // never touched
  void host_free(void* p) override { std::free(p); }
  void* device_alloc(size_t bytes) override { return std::malloc(bytes); }
  void device_free(void* p) override { std::free(p); }
  void host_register(void*, size_t) override {}
  void host_unregister(void*) override {}
  bool device_memory_is_host() const override { return false; }
  size_t device_capacity_bytes() const override { return size_t(80) << 30; }

  void copy_h2d(void*, const void*, size_t n, Stream s) override {
    if (power_cap) idle(200);
    const bool slow = busy_ms < slow_link_until_ms;
    run(s, n / (k_.h2d_gbps * (slow ? 0.5 : 1.0) * 1e6));
  }
  void copy_d2h(void*, const void*, size_t n, Stream s) override {
    run(s, n / (k_.d2h_gbps * 1e6));
  }
  // Reads and writes each byte.
  void copy_d2d(void*, const void*, size_t n, Stream s) override {
    run(s, 2.0 * n / (k_.mem_gbps * 1e6));
  }
  void copy_rows(void*, const int32_t*, const void*, const int32_t*, int64_t, int64_t,
                 Stream) override {}
  void copy_runs(void*, const void*, const std::vector<CopyRun>&, size_t, Stream) override {}
  // Writes each expanded element at the expansion rate.
  void dequantize(void*, const void*, WeightFormat, int64_t rows, int64_t cols, int64_t,
                  Stream s) override {
    run(s, static_cast<double>(rows * cols * 2) / (k_.expand_gbps * 1e6));
  }
  void compress_rows(void*, const void*, const int32_t*, int64_t, int64_t, CacheFormat, int64_t,
                     Stream) override {}
  void expand_rows(void*, const void*, int64_t, int64_t, CacheFormat, int64_t, Stream) override {}
  Event record(Stream s) override {
    events_.push_back(clock_[static_cast<int>(s)]);
    return Event{static_cast<int64_t>(events_.size()) - 1};
  }
  void wait(Stream, Event) override {}
  void sync(Event) override { idle(0.05); }  // the host's turnaround
  void synchronize() override { idle(0.05); }
  double event_ms(Event e) override { return events_.at(static_cast<size_t>(e.id)); }

  void linear(void*, const void*, const void*, const void*, int64_t rows, int64_t k,
              int64_t n) override {
    const double flop = 2.0 * rows * k * n;
    const bool capped = power_cap && heat_ >= 0.8;
    run(Stream::compute, flop / (k_.gemm_tflops * (capped ? 0.85 : 1.0) * 1e9),
        flop >= 6e10 ? 1.0 : 0.2);
  }
  // A power cap like an H100's: the compute stream's power is a moving average (50 ms time
  // constant, over the device's time) of what it ran: 1 for GEMMs of 60 GFLOP or more (0.1 ms
  // at 600 TFLOP/s), 0.2 for anything else, 0 while idle (the host's 50 us turnaround after a
  // wait, and a slow host's 200 ms before each upload from host memory). A GEMM that starts
  // with the average at 0.8 or more runs at 85% of the rate.
  bool power_cap = false;
  void embed(void*, const void*, const int32_t*, int64_t, int64_t) override {}
  void add_rows(void*, const void*, const int32_t*, int64_t, int64_t) override {}
  void layernorm(void*, const void*, const void*, const void*, int64_t, int64_t, float) override {}
  void rmsnorm(void*, const void*, const void*, int64_t, int64_t, float) override {}
  void linear_f32(float*, const void*, const void*, int64_t, int64_t, int64_t) override {}
  void scale(void*, float, int64_t) override { run(Stream::compute, 0); }
  void rope(void*, const int32_t*, int64_t, int64_t, int64_t, float) override {}
  // As causal prefill attention over sequences filling their block tables: 2 q n (n + 1)
  // FLOPs a sequence of n = max_blocks * block_tokens rows (index arrays are never read).
  void attention(void*, const void*, const void*, const void*, const int32_t*, const int32_t*,
                 const int32_t*, const cpu::AttentionShape& s) override {
    const double n = static_cast<double>(s.max_blocks * s.block_tokens);
    run(Stream::compute, 2.0 * static_cast<double>(s.n_heads * s.head_dim) *
                             static_cast<double>(s.rows) * (n + 1) / (attention_tflops * 1e9));
  }
  double attention_tflops = 40;
  void relu(void*, int64_t) override {}
  void silu_mul(void*, const void*, const void*, int64_t) override {}
  void add(void*, const void*, const void*, int64_t) override {}
  void sample(int32_t*, const float*, int64_t, int64_t, const SamplingParams&, const uint64_t*,
              const int64_t*) override {}

 private:
  void run(Stream s, double ms, double power = 0.2) {
    clock_[static_cast<int>(s)] += launch_ms_ + ms;
    busy_ms += launch_ms_ + ms;
    ++ops;
    if (s == Stream::compute) settle(launch_ms_ + ms, power);
  }
  void idle(double ms) {
    clock_[static_cast<int>(Stream::compute)] += ms;
    settle(ms, 0);
  }
  void settle(double ms, double power) {
    const double keep = std::exp(-ms / 50);
    heat_ = heat_ * keep + power * (1 - keep);
  }
  double heat_ = 0;
  CostConstants k_;
  double launch_ms_;
  double clock_[kNumStreams] = {};
  std::vector<double> events_;
};

// An H100 on PCIe 5: 55 GB/s each way, ~600 TFLOP/s dense fp16, 3350 GB/s HBM3.
CostConstants h100() {
  CostConstants k;
  k.h2d_gbps = 55;
  k.d2h_gbps = 52;
  k.gemm_tflops = 600;
  k.mem_gbps = 3350;
  k.expand_gbps = 2000;
  return k;
}

TEST(Profile, RecoversTheDeviceRates) {
  ClockedBackend b(h100(), 0);
  const CostConstants m = measure_constants(b);
  EXPECT_NEAR(m.h2d_gbps, 55, 55 * 1e-9);
  EXPECT_NEAR(m.d2h_gbps, 52, 52 * 1e-9);
  EXPECT_NEAR(m.gemm_tflops, 600, 600 * 1e-9);
  EXPECT_NEAR(m.mem_gbps, 3350, 3350 * 1e-9);
  EXPECT_NEAR(m.expand_gbps, 2000, 2000 * 1e-9);
  // Under a second of device time, fills and warm-ups included.
  EXPECT_LT(b.busy_ms, 1000);
}

TEST(Profile, LaunchOverheadIsAmortised) {
  // A 2 us gap between back-to-back calls on the device timeline. Each rate is then off by
  // gap / (time of one call at its size): at the caps 256 MiB / 55 GB/s = 4.9 ms (0.04%),
  // 2 * 8192^3 FLOP / 600 TFLOP/s = 1.8 ms (0.1%), 2 * 256 MiB / 3350 GB/s = 0.16 ms (1.25%).
  ClockedBackend b(h100(), 0.002);
  const CostConstants m = measure_constants(b);
  EXPECT_NEAR(m.h2d_gbps, 55, 55 * 0.0005);
  EXPECT_NEAR(m.d2h_gbps, 52, 52 * 0.0005);
  EXPECT_NEAR(m.gemm_tflops, 600, 600 * 0.0012);
  EXPECT_NEAR(m.mem_gbps, 3350, 3350 * 0.013);
  EXPECT_LT(m.mem_gbps, 3350);  // overheads only ever slow a rate down
  EXPECT_LT(b.busy_ms, 1000);
}

TEST(Profile, SlowDeviceStopsAtTheTargetNotTheCaps) {
  // A cpu-like device: 5 GB/s copies, 0.02 TFLOP/s. Sizes stop growing once a run takes 5 ms.
  CostConstants k;
  k.h2d_gbps = k.d2h_gbps = 5;
  k.gemm_tflops = 0.02;
  k.mem_gbps = 10;
  k.expand_gbps = 8;
  ClockedBackend b(k, 0);
  const CostConstants m = measure_constants(b);
  EXPECT_NEAR(m.h2d_gbps, 5, 5e-9);
  EXPECT_NEAR(m.gemm_tflops, 0.02, 0.02e-9);
  EXPECT_NEAR(m.mem_gbps, 10, 10e-9);
  EXPECT_NEAR(m.expand_gbps, 8, 8e-9);
  EXPECT_LT(b.busy_ms,
            250);  // five rates measured (copies each way, device copies, expansion, GEMMs)
}

// A link at half rate for the first 100 ms of the profile (as one process in four measured on
// an H100, right after another's exit): measure_constants sees it, and measure_model_costs,
// timing the copies again seconds later, restores the link's rate.
TEST(Profile, ASlowStartOfTheLinkIsMeasuredAgain) {
  ClockedBackend b(h100(), 0);
  b.slow_link_until_ms = 100;
  CostConstants m = measure_constants(b);
  EXPECT_NEAR(m.h2d_gbps, 27.5, 27.5 * 1e-9);  // the fake is slow when it should be
  EXPECT_NEAR(m.d2h_gbps, 52, 52 * 1e-9);
  ProfileOptions o;
  o.sustain_ms = 0;  // no power cap here
  measure_model_costs(b, model_shape("opt-125m"), m, o);
  EXPECT_NEAR(m.h2d_gbps, 55, 55 * 1e-9);
  EXPECT_NEAR(m.d2h_gbps, 52, 52 * 1e-9);
  // A constant the second round measures slower (a fast first round) stays.
  ClockedBackend fast(h100(), 0);
  CostConstants f = measure_constants(fast);
  f.h2d_gbps = 60;
  measure_model_costs(fast, model_shape("opt-125m"), f, o);
  EXPECT_EQ(f.h2d_gbps, 60);
}

// sample_h2d against the fake's clock: with no time asked for, four timed copies after an
// untimed one. The link runs at half rate for the untimed copy and the first timed one
// (64 MiB at 27.5 GB/s: 2.44 ms of device time each), then at 55 GB/s: the mean is the bytes
// over the copies' time, 4 / (2 + 3) x 55 = 44 GB/s, not the mean of the rates (48.1).
TEST(Profile, H2dSampleIsBytesOverTimeWithTheHalfRateCopiesCounted) {
  ClockedBackend b(h100(), 0);
  b.slow_link_until_ms = 3;
  const H2dSample s = sample_h2d(b, 0);
  EXPECT_EQ(s.copies, 4);
  EXPECT_EQ(s.copy_bytes, int64_t(64) << 20);
  EXPECT_NEAR(s.mean_gbps, 44, 44 * 1e-9);
  EXPECT_NEAR(s.best_gbps, 55, 55 * 1e-9);
  EXPECT_NEAR(s.slowest_gbps, 27.5, 27.5 * 1e-9);
  EXPECT_EQ(s.half_rate_copies, 1);
}

// The model's linears get curves equal to their simulated times (a 2 us launch on top), the
// launch cost itself is recovered, and the prefill attention's rate.
TEST(Profile, ModelCostsFollowTheDevice) {
  ClockedBackend b(h100(), 0.002);
  CostConstants m;
  measure_model_costs(b, model_shape("opt-125m"), m);
  // h 768, ffn 3072, vocab 50272: (768, 768), (768, 3072), (768, 50272), (3072, 768).
  ASSERT_EQ(m.gemms.size(), 4u);
  for (const GemmCurve& g : m.gemms) {
    ASSERT_FALSE(g.rows.empty());
    for (size_t i = 0; i < g.rows.size(); ++i)
      EXPECT_NEAR(g.ms[i], 0.002 + 2 * g.rows[i] * g.k * g.n / 600e9, 1e-9)
          << g.k << " x " << g.n << " at " << g.rows[i] << " rows";
    // Curves stop at the first point of at least max_point_ms (10 ms), or at the last rows.
    EXPECT_TRUE(g.ms.back() >= 10 || g.rows.back() == 65536) << g.k << " x " << g.n;
  }
  EXPECT_NEAR(m.launch_us, 2, 1e-6);
  // 4 sequences of 512: 2 * 768 * 4 * 512 * 513 FLOPs = 1.6 GFLOP, 40 us at 40 TFLOP/s, plus
  // the launch.
  const double flops = 2.0 * 768 * 4 * 512 * 513;
  EXPECT_NEAR(m.attention_tflops, flops / ((flops / 40e9 + 0.002) * 1e9), 1e-6);
}

// On a device whose power cap slows GEMMs by 15% once they have run back to back for a while,
// and with a host slow enough that the device cools between one curve point and the next (so
// every point is timed at the uncapped rate, as on an H100), the profile measures the
// slowdown (1 / 0.85) and the curves' GEMM-bound points come out at the capped rate, as does
// the prefill attention (0.4 ms a run at 4 TFLOP/s); the short points keep their burst times.
// With sustain_ms = 0 everything stays at the burst rate.
TEST(Profile, GemmBoundPointsAreScaledToTheCappedRate) {
  for (const bool sustain : {true, false}) {
    ClockedBackend b(h100(), 0);
    b.power_cap = true;
    b.attention_tflops = 4;
    CostConstants m;
    ProfileOptions o;
    if (!sustain) o.sustain_ms = 0;
    measure_model_costs(b, model_shape("opt-1.3b"), m, o);
    const double slowdown = sustain ? 1 / 0.85 : 1;
    EXPECT_NEAR(m.sustained_slowdown, slowdown, 1e-9);
    EXPECT_NEAR(m.attention_tflops, 4 / slowdown, 4e-6);
    int scaled = 0, kept = 0;
    for (const GemmCurve& g : m.gemms)
      for (size_t i = 0; i < g.rows.size(); ++i) {
        const double burst = 2 * g.rows[i] * g.k * g.n / 600e9;
        const double want = burst >= o.capped_from_ms ? burst * slowdown : burst;
        EXPECT_NEAR(g.ms[i], want, want * 1e-6)  // the fake clock runs to seconds
            << (sustain ? "sustained " : "burst ") << g.k << " x " << g.n << " at " << g.rows[i];
        ++(burst >= o.capped_from_ms ? scaled : kept);
      }
    EXPECT_GE(scaled, 6);
    EXPECT_GE(kept, 6);
  }
}

// The real cpu backend is measured through `hybridserve plan --measure` (plan_cli_test).

}  // namespace
}  // namespace hs

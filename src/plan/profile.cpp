#include "plan/profile.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "util/error.h"

namespace hs {
namespace {

// Milliseconds of `reps` runs of `work` enqueued on stream s, timed by events around them.
double time_ms(Backend& b, Stream s, int64_t reps, const std::function<void()>& work) {
  const Event start = b.record(s);
  for (int64_t i = 0; i < reps; ++i) work();
  const Event end = b.record(s);
  b.sync(end);
  return b.event_ms(end) - b.event_ms(start);
}

// For each size in turn (ascending): prepare(size), one untimed run (page faults, library
// start-up), one timed run; stops at the first size whose run takes target_ms, or at the last
// size, whose runs are then repeated until they take target_ms together. The rate is
// units(size) * runs / ms of the median of three such timings, which ignores one slow timing
// (on an H100 host, PCIe copies measured 45-55 GB/s from one run to the next; a slow period
// longer than a measurement still shows, as it would in the run).
double measure_rate(Backend& b, Stream s, double target_ms, const std::vector<int64_t>& sizes,
                    const std::function<void(int64_t)>& prepare,
                    const std::function<void(int64_t)>& work,
                    const std::function<double(int64_t)>& units) {
  for (size_t i = 0; i < sizes.size(); ++i) {
    const int64_t size = sizes[i];
    prepare(size);
    work(size);
    double t = time_ms(b, s, 1, [&] { work(size); });
    if (t < target_ms && i + 1 < sizes.size()) continue;
    int64_t reps = 1;
    while (t < target_ms && reps < (int64_t(1) << 20)) {
      // Aim past the target (x1.2), growing at most 64x a round in case t was noise.
      const double factor = t > 0 ? std::min(64.0, std::ceil(target_ms / t * 1.2)) : 64.0;
      reps *= std::max<int64_t>(2, static_cast<int64_t>(factor));
      t = time_ms(b, s, reps, [&] { work(size); });
    }
    double times[3] = {t, time_ms(b, s, reps, [&] { work(size); }),
                       time_ms(b, s, reps, [&] { work(size); })};
    std::sort(times, times + 3);
    HS_CHECK(times[1] > 0, "backend '", b.name(), "' reported no time for ", reps, " runs");
    return units(size) * static_cast<double>(reps) / times[1];
  }
  fail("measure_rate: no sizes to measure");
}

// Backend memory that follows the size being measured (freed on growth and at the end).
class Buffer {
 public:
  Buffer(Backend& b, bool host) : b_(b), host_(host) {}
  ~Buffer() { release(); }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;

  void* reserve(size_t bytes) {
    if (bytes > bytes_) {
      release();
      p_ = host_ ? b_.host_alloc(bytes) : b_.device_alloc(bytes);
      bytes_ = bytes;
    }
    return p_;
  }
  void* get() const { return p_; }

 private:
  void release() {
    if (p_) host_ ? b_.host_free(p_) : b_.device_free(p_);
    p_ = nullptr;
    bytes_ = 0;
  }
  Backend& b_;
  bool host_;
  void* p_ = nullptr;
  size_t bytes_ = 0;
};

// Fills `elems` device elements of the backend's dtype with values in [-1/16, 1/16] from a hash
// of the index: no zeros, denormals or NaN (which some CPUs run at other speeds), and not a
// constant, on which tensor cores run faster than on real weights (less switching: an H100 ran
// 8192^3 fp16 GEMMs at 896 TFLOP/s on 1/64 everywhere, 720-770 on random data). Uploads one
// converted chunk of at most 2^20 elements, then doubles the filled part by device copies on
// the compute stream, with one host wait at the end (not one per chunk).
void fill(Backend& b, void* dev, int64_t elems) {
  const int64_t chunk = std::min<int64_t>(elems, int64_t(1) << 20);
  const size_t elem = dtype_bytes(b.dtype());
  std::vector<float> value(static_cast<size_t>(chunk));
  for (size_t i = 0; i < value.size(); ++i) {
    const uint32_t x = static_cast<uint32_t>(i) * 2654435761u;
    value[i] = (static_cast<float>(x >> 21) - 1023.5f) / (1024.f * 16.f);
  }
  std::vector<unsigned char> host(static_cast<size_t>(chunk) * elem);
  convert(DType::f32, value.data(), b.dtype(), host.data(), static_cast<size_t>(chunk));
  auto* base = static_cast<unsigned char*>(dev);
  b.copy_h2d(base, host.data(), static_cast<size_t>(chunk) * elem, Stream::compute);
  for (int64_t done = chunk; done < elems;) {
    const int64_t n = std::min(done, elems - done);
    b.copy_d2d(base + done * elem, base, static_cast<size_t>(n) * elem, Stream::compute);
    done += n;
  }
  b.synchronize();  // `host` goes out of scope
}

// Milliseconds of one run of `work`: one untimed run, then runs doubled until they take
// target_ms together, the median of three such timings.
double ms_per_run(Backend& b, double target_ms, const std::function<void()>& work) {
  work();
  int64_t reps = 1;
  double t = time_ms(b, Stream::compute, reps, work);
  while (t < target_ms && reps < (int64_t(1) << 16)) {
    reps *= 2;
    t = time_ms(b, Stream::compute, reps, work);
  }
  double times[3] = {t, time_ms(b, Stream::compute, reps, work),
                     time_ms(b, Stream::compute, reps, work)};
  std::sort(times, times + 3);
  return times[1] / static_cast<double>(reps);
}

// The (k, n) of every linear the engine runs for this model: a layer's projections and FFN,
// OPT's project_out, and the head.
std::vector<std::pair<int64_t, int64_t>> linear_shapes(const ModelConfig& c) {
  std::vector<std::pair<int64_t, int64_t>> v = {
      {c.hidden, c.q_dim()}, {c.hidden, c.kv_dim()}, {c.q_dim(), c.hidden},
      {c.hidden, c.ffn_dim}, {c.ffn_dim, c.hidden},  {c.embed_dim(), c.vocab_size}};
  if (c.has_projections()) v.push_back({c.hidden, c.embed_dim()});
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
  return v;
}

// Square GEMMs of d = 1024, 2048, ... (the first whose run takes 1 ms, at most 8192), to measure
// how much a GPU's power cap slows GEMMs in a long run. An H100 80GB HBM3 (700 W) runs bursts of a
// few milliseconds after an idle spell at 1980 MHz, but within 100-200 ms of back-to-back GEMMs its
// power cap takes the clock to 1095-1425 MHz, swinging with a period of about a second: 16384 x
// 5120 x 5120 fp16 ran at 771 TFLOP/s in 10 ms bursts and 667 averaged over seconds
// (docs/BENCHMARKS.md, "GEMMs under the power cap"). Timing each curve point after such a load
// lands on the swing (points 15% apart from one to the next); so the curves are timed in bursts,
// and their GEMM-bound points scaled by this GEMM's sustained / burst time.
class SquareGemm {
 public:
  explicit SquareGemm(Backend& b) : b_(b), x_(b, false), w_(b, false), out_(b, false) {
    for (d_ = 1024;; d_ *= 2) {
      const size_t bytes = static_cast<size_t>(d_ * d_) * dtype_bytes(b.dtype());
      x_.reserve(bytes);
      w_.reserve(bytes);
      out_.reserve(bytes);
      fill(b, x_.get(), d_ * d_);
      fill(b, w_.get(), d_ * d_);
      run();  // untimed: library start-up
      run_ms_ = time_ms(b, Stream::compute, 1, [&] { run(); });
      if (run_ms_ >= 1 || d_ >= 8192) break;
    }
  }
  // Milliseconds per run over about `ms` of back-to-back runs.
  double ms_per_run(double ms) {
    const auto n =
        std::max<int64_t>(1, static_cast<int64_t>(std::ceil(ms / std::max(run_ms_, 1e-3))));
    return time_ms(b_, Stream::compute, n, [&] { run(); }) / static_cast<double>(n);
  }

 private:
  void run() { b_.linear(out_.get(), x_.get(), w_.get(), nullptr, d_, d_, d_); }
  Backend& b_;
  Buffer x_, w_, out_;
  int64_t d_ = 0;
  double run_ms_ = 0;
};

// Copies: 4 MiB, 8 MiB, ... up to max_copy_bytes (smaller copies measure latency).
std::vector<int64_t> copy_sizes(const ProfileOptions& o) {
  std::vector<int64_t> sizes;
  const int64_t cap = static_cast<int64_t>(o.max_copy_bytes);
  for (int64_t n = std::min<int64_t>(cap, int64_t(4) << 20);; n = std::min(2 * n, cap)) {
    sizes.push_back(n);
    if (n == cap) break;
  }
  return sizes;
}

// H2D and D2H between pinned host memory and the device, in GB/s.
std::pair<double, double> pcie_rates(Backend& b, const ProfileOptions& o) {
  const std::vector<int64_t> sizes = copy_sizes(o);
  auto per_ms_to_gbps = [](int64_t bytes) { return static_cast<double>(bytes) / 1e6; };
  Buffer host(b, true), dev(b, false);
  auto reserve = [&](int64_t n) {
    host.reserve(static_cast<size_t>(n));
    dev.reserve(static_cast<size_t>(n));
  };
  const double h2d = measure_rate(
      b, Stream::cache_in, o.target_ms, sizes, reserve,
      [&](int64_t n) { b.copy_h2d(dev.get(), host.get(), size_t(n), Stream::cache_in); },
      per_ms_to_gbps);
  const double d2h = measure_rate(
      b, Stream::cache_out, o.target_ms, sizes, reserve,
      [&](int64_t n) { b.copy_d2h(host.get(), dev.get(), size_t(n), Stream::cache_out); },
      per_ms_to_gbps);
  return {h2d, d2h};
}

// A device-to-device copy, which reads and writes every byte: 2 n bytes of memory traffic, in
// GB/s.
double device_copy_rate(Backend& b, const ProfileOptions& o) {
  Buffer src(b, false), dst(b, false);
  return measure_rate(
      b, Stream::compute, o.target_ms, copy_sizes(o),
      [&](int64_t n) {
        src.reserve(static_cast<size_t>(n));
        dst.reserve(static_cast<size_t>(n));
      },
      [&](int64_t n) { b.copy_d2d(dst.get(), src.get(), size_t(n), Stream::compute); },
      [](int64_t n) { return 2.0 * static_cast<double>(n) / 1e6; });
}

// Compressed weights expanded (int4, groups of 64, rows of 4096 inputs: a layer's matrices are
// thousands of such rows), in GB/s of expanded bytes written.
double expand_rate(Backend& b, const ProfileOptions& o) {
  constexpr int64_t kCols = 4096;
  const int64_t elem = static_cast<int64_t>(dtype_bytes(b.dtype()));
  Buffer src(b, false), dst(b, false);
  std::vector<int64_t> sizes;  // expanded bytes, whole rows
  for (int64_t n : copy_sizes(o)) {
    const int64_t bytes = std::max<int64_t>(1, n / (kCols * elem)) * kCols * elem;
    if (sizes.empty() || bytes > sizes.back()) sizes.push_back(bytes);
  }
  auto rows = [&](int64_t n) { return n / (kCols * elem); };
  return measure_rate(
      b, Stream::expand, o.target_ms, sizes,
      [&](int64_t n) {
        const int64_t in =
            quantized_bytes(WeightFormat::int4, rows(n), kCols, kDefaultQuantGroup, b.dtype());
        fill(b, src.reserve(static_cast<size_t>(in)), in / elem);  // finite codes and params
        dst.reserve(static_cast<size_t>(n));
      },
      [&](int64_t n) {
        b.dequantize(dst.get(), src.get(), WeightFormat::int4, rows(n), kCols, kDefaultQuantGroup,
                     Stream::expand);
      },
      [](int64_t n) { return static_cast<double>(n) / 1e6; });
}

// Sustained time / burst time of a square GEMM's run, at least 1: its time in 10 ms right
// after the device idled 200 ms (host asleep), against its time over the second half of `ms`
// of back-to-back runs (the first half lets the power cap take hold).
double sustained_slowdown(Backend& b, double ms) {
  SquareGemm g(b);
  b.synchronize();
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const double burst = g.ms_per_run(10);
  g.ms_per_run(ms / 2);
  const double held = g.ms_per_run(ms / 2);
  return std::max(1.0, held / burst);
}

}  // namespace

H2dSample sample_h2d(Backend& b, double ms, size_t copy_bytes) {
  HS_CHECK(copy_bytes > 0, "sample_h2d: no bytes to copy");
  Buffer host(b, true), dev(b, false);
  host.reserve(copy_bytes);
  dev.reserve(copy_bytes);
  auto copy = [&] { b.copy_h2d(dev.get(), host.get(), copy_bytes, Stream::cache_in); };
  time_ms(b, Stream::cache_in, 1, copy);  // untimed: first touch of both buffers
  std::vector<double> gbps;
  double total_ms = 0;
  const auto start = std::chrono::steady_clock::now();
  auto elapsed_ms = [&] {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
        .count();
  };
  while (gbps.size() < 4 || elapsed_ms() < ms) {
    const double t = time_ms(b, Stream::cache_in, 1, copy);
    HS_CHECK(t > 0, "backend '", b.name(), "' reported no time for a copy of ", copy_bytes,
             " bytes");
    total_ms += t;
    gbps.push_back(static_cast<double>(copy_bytes) / (t * 1e6));
  }
  H2dSample s;
  s.copies = static_cast<int64_t>(gbps.size());
  s.copy_bytes = static_cast<int64_t>(copy_bytes);
  s.mean_gbps = static_cast<double>(copy_bytes) * static_cast<double>(s.copies) / (total_ms * 1e6);
  s.best_gbps = *std::max_element(gbps.begin(), gbps.end());
  s.slowest_gbps = *std::min_element(gbps.begin(), gbps.end());
  s.half_rate_copies =
      std::count_if(gbps.begin(), gbps.end(), [&](double g) { return g < 0.6 * s.best_gbps; });
  return s;
}

CostConstants measure_constants(Backend& b, const ProfileOptions& o) {
  HS_CHECK(o.target_ms > 0 && o.max_copy_bytes >= 4096 && o.max_gemm_dim >= 64,
           "profile options out of range");
  CostConstants k;

  std::tie(k.h2d_gbps, k.d2h_gbps) = pcie_rates(b, o);
  k.mem_gbps = device_copy_rate(b, o);
  k.expand_gbps = expand_rate(b, o);
  {
    // Square GEMMs out[d, d] = x[d, d] w[d, d]^T, d = 128 * 2^(i/3) rounded to 64: the FLOPs
    // (2 d^3) double from one size to the next.
    std::vector<int64_t> dims;
    for (int i = 0;; ++i) {
      int64_t d = static_cast<int64_t>(std::llround(128 * std::pow(2.0, i / 3.0) / 64)) * 64;
      d = std::min(d, o.max_gemm_dim);
      if (dims.empty() || d > dims.back()) dims.push_back(d);
      if (d == o.max_gemm_dim) break;
    }
    const size_t elem = dtype_bytes(b.dtype());
    Buffer x(b, false), w(b, false), out(b, false);
    int64_t filled = 0;
    k.gemm_tflops = measure_rate(
        b, Stream::compute, o.target_ms, dims,
        [&](int64_t d) {
          const size_t bytes = static_cast<size_t>(d * d) * elem;
          x.reserve(bytes);
          w.reserve(bytes);
          out.reserve(bytes);
          if (d > filled) {  // the buffers may be new
            fill(b, x.get(), d * d);
            fill(b, w.get(), d * d);
            filled = d;
          }
        },
        [&](int64_t d) { b.linear(out.get(), x.get(), w.get(), nullptr, d, d, d); },
        [](int64_t d) {
          const double dd = static_cast<double>(d);
          return 2 * dd * dd * dd / 1e9;  // 1 TFLOP/s = 1e9 FLOP per ms
        });
  }
  return k;
}

void measure_model_costs(Backend& b, const ModelConfig& c, CostConstants& k,
                         const ProfileOptions& o) {
  HS_CHECK(o.target_ms > 0 && o.max_point_ms > 0 && !o.gemm_rows.empty() && o.sustain_ms >= 0 &&
               o.capped_from_ms >= 0,
           "profile options out of range");
  const size_t elem = dtype_bytes(b.dtype());
  // The cpu backend has no power cap to measure (and would spend seconds finding that out).
  const bool capped = o.sustain_ms > 0 && b.name() != "cpu";
  k.sustained_slowdown = capped ? sustained_slowdown(b, o.sustain_ms) : 1;
  // A run of capped_from_ms or more is GEMM-bound enough to slow down with the clock.
  auto sustained = [&](double ms) {
    return ms >= o.capped_from_ms ? ms * k.sustained_slowdown : ms;
  };
  Buffer x(b, false), w(b, false), out(b, false);
  k.gemms.clear();
  for (const auto& [kk, n] : linear_shapes(c)) {
    GemmCurve g;
    g.k = kk;
    g.n = n;
    w.reserve(static_cast<size_t>(kk * n) * elem);
    fill(b, w.get(), kk * n);
    for (int64_t rows : o.gemm_rows) {
      if (!g.rows.empty() && rows <= g.rows.back()) continue;
      x.reserve(static_cast<size_t>(rows * kk) * elem);
      out.reserve(static_cast<size_t>(rows * n) * elem);
      fill(b, x.get(), rows * kk);
      // The lambda captures g's copies: clang before 16 cannot capture structured bindings.
      const double ms = ms_per_run(
          b, o.target_ms, [&] { b.linear(out.get(), x.get(), w.get(), nullptr, rows, g.k, g.n); });
      g.rows.push_back(static_cast<double>(rows));
      g.ms.push_back(sustained(ms));
      if (ms >= o.max_point_ms) break;  // the rate has settled; gemm_ms() extrapolates
    }
    k.gemms.push_back(std::move(g));
  }

  // A kernel's fixed cost: many one-element kernels back to back (as the engine enqueues
  // them, so a host slower than the device shows too).
  {
    Buffer one(b, false);
    one.reserve(64);
    fill(b, one.get(), 1);
    const int64_t n = 256;
    const double ms = ms_per_run(b, o.target_ms, [&] {
      for (int64_t i = 0; i < n; ++i) b.scale(one.get(), 1.f, 1);
    });
    k.launch_us = ms / static_cast<double>(n) * 1e3;
  }

  // Causal prefill attention: attention_seqs sequences of 64, 128, ... attention_tokens tokens
  // (16-token blocks in order; 2 q n (n + 1) FLOPs a sequence), growing until a run takes
  // target_ms: a GPU reaches the largest, a CPU stops early.
  for (int64_t n = std::min<int64_t>(64, o.attention_tokens);;
       n = std::min(2 * n, o.attention_tokens)) {
    const int64_t seqs = o.attention_seqs, bt = 16;
    const int64_t rows = seqs * n, blocks = (n + bt - 1) / bt;
    std::vector<int32_t> table(static_cast<size_t>(seqs * blocks)), seq(rows), pos(rows);
    for (size_t i = 0; i < table.size(); ++i) table[i] = static_cast<int32_t>(i);
    for (int64_t r = 0; r < rows; ++r) {
      seq[r] = static_cast<int32_t>(r / n);
      pos[r] = static_cast<int32_t>(r % n);
    }
    Buffer q(b, false), kv(b, false), idx(b, false), att(b, false);
    q.reserve(static_cast<size_t>(rows * c.q_dim()) * elem);
    att.reserve(static_cast<size_t>(rows * c.q_dim()) * elem);
    const int64_t kv_elems = seqs * blocks * bt * c.kv_dim();
    kv.reserve(static_cast<size_t>(2 * kv_elems) * elem);
    fill(b, q.get(), rows * c.q_dim());
    fill(b, kv.get(), 2 * kv_elems);
    const size_t idx_elems = table.size() + 2 * static_cast<size_t>(rows);
    auto* ix = static_cast<int32_t*>(idx.reserve(idx_elems * sizeof(int32_t)));
    b.copy_h2d(ix, table.data(), table.size() * sizeof(int32_t), Stream::compute);
    b.copy_h2d(ix + table.size(), seq.data(), seq.size() * sizeof(int32_t), Stream::compute);
    b.copy_h2d(ix + table.size() + rows, pos.data(), pos.size() * sizeof(int32_t), Stream::compute);
    b.synchronize();
    const void* kp = kv.get();
    const void* vp = static_cast<const char*>(kv.get()) + kv_elems * static_cast<int64_t>(elem);
    const cpu::AttentionShape shape{rows,
                                    c.n_heads,
                                    c.n_kv_heads,
                                    c.head_dim,
                                    bt,
                                    blocks,
                                    1.f / std::sqrt(static_cast<float>(c.head_dim))};
    auto run = [&] {
      b.attention(att.get(), q.get(), kp, vp, ix, ix + table.size(), ix + table.size() + rows,
                  shape);
    };
    run();
    const bool last = n >= o.attention_tokens || time_ms(b, Stream::compute, 1, run) >= o.target_ms;
    if (!last) continue;
    const double ms = sustained(ms_per_run(b, o.target_ms, run));
    const double flops = 2.0 * static_cast<double>(c.q_dim()) * static_cast<double>(seqs) *
                         static_cast<double>(n) * static_cast<double>(n + 1);
    k.attention_tflops = flops / (ms * 1e9);
    break;
  }

  // The PCIe rates again, seconds after measure_constants timed them; the higher of the two stands.
  // A link can run at half rate for a while after a process starts: one run of four in a row on an
  // H100 (docs/BENCHMARKS.md, "The H100 link's own rate") measured 23.5 GB/s H2D where its
  // neighbours measured 49-54, and planned as if PCIe were half as fast. Copies only ever run
  // slower than the link allows, so the higher rate is the link's.
  const auto [h2d, d2h] = pcie_rates(b, o);
  k.h2d_gbps = std::max(k.h2d_gbps, h2d);
  k.d2h_gbps = std::max(k.d2h_gbps, d2h);
}

}  // namespace hs

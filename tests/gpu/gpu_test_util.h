// Helpers for the CUDA backend's tests: one backend per dtype per process, device buffers in
// the backend's dtype filled from fp32 values (rounded as the device will hold them), NaN
// poisoning, and the relative error ||got - want|| / ||want|| that every test bounds.
//
// Tolerances. Each kernel computes in fp32 from the same 16-bit inputs the cpu twin gets (the
// tests round inputs first), so the difference is dominated by rounding each output once to the
// 16-bit type: at most 2^-11 (fp16) or 2^-8 (bf16) relative per element, and about 0.4 of that as
// a norm over many elements. The bounds below sit 3-5x above that and far below any real
// mistake (a wrong element, a missed key, fp16 accumulation), which shows up as >= 1e-2.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "backend/cuda/cuda_backend.h"
#include "engine/sampler.h"
#include "util/dtype.h"

namespace hs::gputest {

// The CUDA backend calls hs::sample_token (backend/cpu/sampling.cpp, in hs_backend_cpu), but
// hs_backend_cuda does not list hs_backend_cpu as a dependency, so the linker may scan the cpu
// library first and leave the reference unresolved in a binary that never names the sampler.
// Naming it here pulls it in (until src/CMakeLists.txt links hs_backend_cuda to hs_backend_cpu).
[[gnu::used]] static int32_t (*const pull_in_sampler)(const float*, int64_t, const SamplingParams&,
                                                      uint64_t, int64_t) = &sample_token;

inline double tolerance(DType t) {
  return t == DType::bf16 ? 8e-3 : 1e-3;
}

// One backend per dtype for the whole test binary (creation costs cuBLAS's start-up). Never
// destroyed: destroying cuBLAS handles from static destructors, after the CUDA runtime has begun
// its own teardown, can crash the process at exit.
inline Backend& backend(DType t) {
  static auto* made = new std::map<DType, std::unique_ptr<Backend>>;
  auto& b = (*made)[t];
  if (!b) {
    BackendOptions opt;
    opt.dtype = t;
    b = make_cuda_backend(opt);
  }
  return *b;
}

inline uint16_t to_bits(DType t, float f) {
  return t == DType::bf16 ? f32_to_bf16(f) : f32_to_f16(f);
}
inline float from_bits(DType t, uint16_t h) {
  return t == DType::bf16 ? bf16_to_f32(h) : f16_to_f32(h);
}

// The values as the device will hold them.
inline std::vector<float> round_to(DType t, std::vector<float> v) {
  for (float& f : v) f = from_bits(t, to_bits(t, f));
  return v;
}

// Uniform in [lo, hi), rounded to t. Never all zeros: the tests need inputs that reveal
// unwritten outputs and wrong indexing.
inline std::vector<float> random_values(std::mt19937_64& rng, DType t, size_t n, float lo = -1.f,
                                        float hi = 1.f) {
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<float> v(n);
  for (float& f : v) f = u(rng);
  return round_to(t, v);
}

// A device allocation, freed with the backend.
class DeviceBuffer {
 public:
  DeviceBuffer(Backend& b, size_t bytes) : b_(&b), bytes_(bytes) { p_ = b.device_alloc(bytes); }
  ~DeviceBuffer() { b_->device_free(p_); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  void* get() const { return p_; }
  template <typename U>
  U* as() const {
    return static_cast<U*>(p_);
  }
  size_t bytes() const { return bytes_; }

 private:
  Backend* b_;
  void* p_ = nullptr;
  size_t bytes_;
};

// fp32 values -> a device buffer of b.dtype() elements.
inline std::unique_ptr<DeviceBuffer> upload(Backend& b, const std::vector<float>& v) {
  std::vector<uint16_t> bits(v.size());
  for (size_t i = 0; i < v.size(); ++i) bits[i] = to_bits(b.dtype(), v[i]);
  auto d = std::make_unique<DeviceBuffer>(b, std::max<size_t>(2 * v.size(), 16));
  b.copy_h2d(d->get(), bits.data(), 2 * v.size(), Stream::compute);
  b.synchronize();
  return d;
}

template <typename U>
std::unique_ptr<DeviceBuffer> upload_raw(Backend& b, const std::vector<U>& v) {
  auto d = std::make_unique<DeviceBuffer>(b, std::max<size_t>(sizeof(U) * v.size(), 16));
  b.copy_h2d(d->get(), v.data(), sizeof(U) * v.size(), Stream::compute);
  b.synchronize();
  return d;
}

// A buffer of n elements of b.dtype(), every one NaN, so an element the kernel does not write
// fails the comparison.
inline std::unique_ptr<DeviceBuffer> poisoned(Backend& b, size_t n) {
  return upload(b, std::vector<float>(n, NAN));
}

inline std::vector<float> download(Backend& b, const DeviceBuffer& d, size_t n) {
  std::vector<uint16_t> bits(n);
  b.synchronize();
  b.copy_d2h(bits.data(), d.get(), 2 * n, Stream::compute);
  b.synchronize();
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = from_bits(b.dtype(), bits[i]);
  return v;
}

template <typename U>
std::vector<U> download_raw(Backend& b, const DeviceBuffer& d, size_t n) {
  std::vector<U> v(n);
  b.synchronize();
  b.copy_d2h(v.data(), d.get(), sizeof(U) * n, Stream::compute);
  b.synchronize();
  return v;
}

// ||got - want|| / ||want||; infinity if any element of got is not finite (unwritten, NaN).
inline double rel_error(const std::vector<float>& got, const std::vector<float>& want) {
  EXPECT_EQ(got.size(), want.size());
  double num = 0, den = 0;
  for (size_t i = 0; i < got.size() && i < want.size(); ++i) {
    if (!std::isfinite(got[i])) return INFINITY;
    const double d = double(got[i]) - double(want[i]);
    num += d * d;
    den += double(want[i]) * want[i];
  }
  return std::sqrt(num / (den > 0 ? den : 1));
}

// Prints the measured error (the report quotes these lines) and checks it.
inline void expect_close(const std::vector<float>& got, const std::vector<float>& want, double tol,
                         const std::string& what) {
  const double e = rel_error(got, want);
  std::printf("[err] %-48s rel %.3e  tol %.1e\n", what.c_str(), e, tol);
  EXPECT_LE(e, tol) << what;
}

inline std::string dtype_param_name(const ::testing::TestParamInfo<DType>& info) {
  return info.param == DType::bf16 ? "bf16" : "fp16";
}

}  // namespace hs::gputest

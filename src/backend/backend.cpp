#include "backend/backend.h"

#include "backend/cpu/cpu_backend.h"
#include "util/error.h"
#ifdef HS_HAVE_CUDA
#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/nccl_exchange.h"
#endif

namespace hs {

namespace {
// The cpu backend's notional device memory when none is asked for: large enough for any tiny
// model a test runs, small enough that a runaway plan still fails fast.
constexpr double kDefaultCpuDeviceGib = 16;
}  // namespace

const char* stream_name(Stream s) {
  switch (s) {
    case Stream::compute:
      return "compute";
    case Stream::weights:
      return "weights";
    case Stream::cache_in:
      return "cache_in";
    case Stream::cache_out:
      return "cache_out";
    case Stream::cache_dev:
      return "cache_dev";
    case Stream::expand:
      return "expand";
  }
  return "?";
}

std::string device_exchange_unavailable(const std::string& device) {
  if (device != "cuda") return "it gathers GPU memory: it runs with --device cuda";
#ifdef HS_HAVE_CUDA
  return NcclExchange::unavailable();
#else
  return "this binary has no cuda backend";
#endif
}

std::vector<std::string> available_backends() {
#ifdef HS_HAVE_CUDA
  return {"cpu", "cuda"};
#else
  return {"cpu"};
#endif
}

std::unique_ptr<Backend> make_backend(const std::string& name, const BackendOptions& opt) {
  if (name == "cpu") {
    HS_CHECK(opt.device_mem_gib >= 0, "device memory must be >= 0 GiB, got ", opt.device_mem_gib);
    const double gib = opt.device_mem_gib > 0 ? opt.device_mem_gib : kDefaultCpuDeviceGib;
    return std::make_unique<CpuBackend>(static_cast<size_t>(gib * double(1ull << 30)));
  }
  if (name == "cuda") {
#ifdef HS_HAVE_CUDA
    return make_cuda_backend(opt);
#else
    fail(
        "the cuda backend is not built into this binary (nvcc was not found when it was "
        "built; backends: cpu)");
#endif
  }
  std::string names;
  for (const auto& n : available_backends()) names += (names.empty() ? "" : ", ") + n;
  fail("unknown backend '", name, "' (available: ", names, ")");
}

}  // namespace hs

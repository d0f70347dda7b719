// The CUDA backend's memory, copies, streams and events: what the engine's pipeline relies on.
// Copies are checked bit for bit; ordering is checked with copies large enough (256 MiB, ~10 ms
// over PCIe) that a kernel not held back by wait() would read the old data.
#include <gtest/gtest.h>

#include <cstring>
#include <numeric>
#include <random>

#include "backend/cuda/cuda_backend.h"
#include "gpu_test_util.h"
#include "util/error.h"

namespace hs {
namespace {

using namespace gputest;

std::vector<uint16_t> random_bits(std::mt19937_64& rng, DType t, size_t n) {
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  std::vector<uint16_t> v(n);
  for (auto& x : v) x = to_bits(t, u(rng));
  return v;
}

TEST(CudaBackend, Identity) {
  Backend& b = backend(DType::f16);
  EXPECT_EQ(b.name(), "cuda");
  EXPECT_FALSE(b.device_name().empty());
  EXPECT_EQ(b.dtype(), DType::f16);
  EXPECT_EQ(backend(DType::bf16).dtype(), DType::bf16);
  std::printf("[info] device %s, capacity %.2f GiB\n", b.device_name().c_str(),
              b.device_capacity_bytes() / double(1 << 30));
}

TEST(CudaBackend, RejectsBadOptions) {
  BackendOptions opt;
  opt.dtype = DType::f32;
  EXPECT_THROW(make_cuda_backend(opt), Error);
  opt.dtype = DType::f16;
  opt.device_index = 1000;
  EXPECT_THROW(make_cuda_backend(opt), Error);
}

TEST(CudaBackend, CapacityHonoursTheBudget) {
  EXPECT_GT(backend(DType::f16).device_capacity_bytes(), size_t(1) << 30);
  BackendOptions opt;
  opt.device_mem_gib = 1.5;
  auto small = make_cuda_backend(opt);
  EXPECT_EQ(small->device_capacity_bytes(), size_t(1.5 * (1 << 30)));
}

TEST(CudaBackend, DeviceAllocFailureIsAnErrorNotAStickyState) {
  Backend& b = backend(DType::f16);
  try {
    b.device_alloc(size_t(1) << 50);  // a petabyte
    FAIL() << "allocation of 1 PiB succeeded";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("1125899906842624 bytes"), std::string::npos) << what;
    EXPECT_NE(what.find("bytes free"), std::string::npos) << what;
  }
  // The backend still works: a kernel launch after the failure raises nothing.
  std::mt19937_64 rng(1);
  const auto x = random_values(rng, DType::f16, 100);
  auto d = upload(b, x);
  b.relu(d->get(), 100);
  auto want = x;
  cpu::relu(want.data(), 100);
  EXPECT_EQ(download(b, *d, 100), want);
}

TEST(CudaBackend, CopiesOnEveryStream) {
  Backend& b = backend(DType::f16);
  std::mt19937_64 rng(2);
  const size_t n = 100003;  // odd byte counts are fine for plain copies
  const auto src = random_bits(rng, DType::f16, n);
  DeviceBuffer d1(b, 2 * n), d2(b, 2 * n);
  for (int i = 0; i < kNumStreams; ++i) {
    const Stream s = static_cast<Stream>(i);
    std::vector<uint16_t> back(n, 0xffff);
    b.copy_h2d(d1.get(), src.data(), 2 * n - 1, s);
    b.copy_d2d(d2.get(), d1.get(), 2 * n - 1, s);
    b.copy_d2h(back.data(), d2.get(), 2 * n - 1, s);
    b.synchronize();
    EXPECT_EQ(std::memcmp(back.data(), src.data(), 2 * n - 1), 0) << "stream " << stream_name(s);
  }
}

// copy_rows between device memory and the mapped host pool, in both directions, rows of 6, 77
// and 256 elements (4-, 2- and 16-byte paths). Rows not named keep their old contents.
void check_copy_rows(DType t, int64_t row_elems) {
  Backend& b = backend(t);
  std::mt19937_64 rng(3 + row_elems);
  const int64_t dev_rows = 50, host_rows = 300, n = 37;
  const size_t row_bytes = 2 * row_elems;
  const auto dev_data = random_bits(rng, t, dev_rows * row_elems);
  auto ddev = upload_raw(b, dev_data);

  auto* pool = static_cast<uint16_t*>(b.host_alloc(host_rows * row_bytes));
  ASSERT_NE(pool, nullptr);
  const auto pool_before = random_bits(rng, t, host_rows * row_elems);
  std::memcpy(pool, pool_before.data(), host_rows * row_bytes);

  // Scatter n device rows into shuffled host rows (write-back of new cache entries).
  std::vector<int32_t> src_rows(n), dst_rows(host_rows);
  std::uniform_int_distribution<int32_t> pick(0, dev_rows - 1);
  for (auto& r : src_rows) r = pick(rng);
  std::iota(dst_rows.begin(), dst_rows.end(), 0);
  std::shuffle(dst_rows.begin(), dst_rows.end(), rng);
  dst_rows.resize(n);
  auto dsrc = upload_raw(b, src_rows), ddst = upload_raw(b, dst_rows);
  b.copy_rows(pool, ddst->as<int32_t>(), ddev->get(), dsrc->as<int32_t>(), n, row_elems,
              Stream::cache_out);
  b.sync(b.record(Stream::cache_out));
  std::vector<uint16_t> want = pool_before;
  for (int64_t i = 0; i < n; ++i)
    std::memcpy(&want[dst_rows[i] * row_elems], &dev_data[src_rows[i] * row_elems], row_bytes);
  EXPECT_EQ(std::memcmp(pool, want.data(), host_rows * row_bytes), 0)
      << "device -> host pool, row_elems " << row_elems;

  // Gather host rows into a device buffer (loading cache rows), on cache_in.
  std::vector<int32_t> back_rows(n);
  std::iota(back_rows.begin(), back_rows.end(), 0);
  std::shuffle(back_rows.begin(), back_rows.end(), rng);
  auto dback = upload_raw(b, back_rows);
  auto dgather = upload_raw(b, std::vector<uint16_t>(n * row_elems, 0x7e00));
  b.copy_rows(dgather->get(), dback->as<int32_t>(), pool, ddst->as<int32_t>(), n, row_elems,
              Stream::cache_in);
  b.sync(b.record(Stream::cache_in));
  const auto got = download_raw<uint16_t>(b, *dgather, n * row_elems);
  for (int64_t i = 0; i < n; ++i)
    EXPECT_EQ(
        std::memcmp(&got[back_rows[i] * row_elems], &want[dst_rows[i] * row_elems], row_bytes), 0)
        << "host pool -> device, row " << i;
  b.host_free(pool);
}

TEST(CudaBackend, CopyRowsWithTheHostPool) {
  for (DType t : {DType::f16, DType::bf16})
    for (int64_t row_elems : {6, 77, 256}) check_copy_rows(t, row_elems);
}

// copy_runs (the copy engines) between device memory and the host pool, both directions, with
// runs of 1 to 40 units at scattered places; units not named keep their old contents.
TEST(CudaBackend, CopyRunsWithTheHostPool) {
  Backend& b = backend(DType::f16);
  std::mt19937_64 rng(5);
  const int64_t unit_elems = 320, dev_units = 200, host_units = 1000;
  const size_t unit_bytes = 2 * unit_elems;
  const auto dev_data = random_bits(rng, DType::f16, dev_units * unit_elems);
  auto ddev = upload_raw(b, dev_data);
  auto* pool = static_cast<uint16_t*>(b.host_alloc(host_units * unit_bytes));
  ASSERT_NE(pool, nullptr);
  const auto pool_before = random_bits(rng, DType::f16, host_units * unit_elems);
  std::memcpy(pool, pool_before.data(), host_units * unit_bytes);

  // Disjoint destination runs: dst units [25 i, 25 i + len_i), sources anywhere.
  std::vector<CopyRun> runs;
  std::uniform_int_distribution<int64_t> len(1, 24);
  for (int64_t i = 0; i < 40; ++i) {
    const int64_t n = len(rng);
    runs.push_back({std::uniform_int_distribution<int64_t>(0, dev_units - n)(rng), 25 * i, n});
  }
  b.copy_runs(pool, ddev->get(), runs, unit_bytes, Stream::cache_out);
  b.sync(b.record(Stream::cache_out));
  std::vector<uint16_t> want = pool_before;
  for (const CopyRun& r : runs)
    std::memcpy(&want[r.dst * unit_elems], &dev_data[r.src * unit_elems], r.count * unit_bytes);
  EXPECT_EQ(std::memcmp(pool, want.data(), host_units * unit_bytes), 0) << "device -> host pool";

  // And back: the same runs reversed, into a device buffer holding a marker elsewhere.
  std::vector<CopyRun> back;
  for (const CopyRun& r : runs) back.push_back({r.dst, r.src, r.count});
  auto dgather = upload_raw(b, std::vector<uint16_t>(dev_units * unit_elems, 0x7e00));
  b.copy_runs(dgather->get(), pool, back, unit_bytes, Stream::cache_in);
  b.sync(b.record(Stream::cache_in));
  const auto got = download_raw<uint16_t>(b, *dgather, dev_units * unit_elems);
  std::vector<uint16_t> want_dev(dev_units * unit_elems, 0x7e00);
  for (const CopyRun& r : runs)  // later runs overwrite earlier ones, as copies in order do
    std::memcpy(&want_dev[r.src * unit_elems], &want[r.dst * unit_elems], r.count * unit_bytes);
  // Overlapping destinations make the order matter; compare only units written exactly once.
  std::vector<int> writes(dev_units, 0);
  for (const CopyRun& r : runs)
    for (int64_t u = r.src; u < r.src + r.count; ++u) ++writes[u];
  for (int64_t u = 0; u < dev_units; ++u) {
    if (writes[u] <= 1) {
      EXPECT_EQ(std::memcmp(&got[u * unit_elems], &want_dev[u * unit_elems], unit_bytes), 0)
          << "host pool -> device, unit " << u;
    }
  }
  b.host_free(pool);
}

// A cache load by copy_runs must not hold up compute the way copy_rows over mapped memory does:
// a GEMM loop on the compute stream is timed alone and beside a 1 GiB load on cache_in.
TEST(CudaBackend, CopyRunsLeaveComputeAlone) {
  Backend& b = backend(DType::f16);
  const size_t bytes = size_t(1) << 30, unit = size_t(160) << 10;  // opt-13b K block: 160 KiB
  auto* host = static_cast<char*>(b.host_alloc(bytes));
  std::memset(host, 1, bytes);
  void* dev = b.device_alloc(bytes);
  std::vector<CopyRun> runs;
  for (int64_t u = 0; u < int64_t(bytes / unit); ++u) runs.push_back({u, u, 1});
  std::vector<int32_t> rows(bytes / unit);
  std::iota(rows.begin(), rows.end(), 0);
  auto drows = upload_raw(b, rows);
  const int64_t d = 4096;
  std::mt19937_64 rng(6);
  auto x = upload(b, random_values(rng, DType::f16, d * d));
  DeviceBuffer y(b, 2 * d * d);
  auto gemms = [&](int n) {
    const Event t0 = b.record(Stream::compute);
    for (int i = 0; i < n; ++i) b.linear(y.get(), x->get(), x->get(), nullptr, d, d, d);
    const Event t1 = b.record(Stream::compute);
    return std::make_pair(t0, t1);
  };
  auto ms = [&](std::pair<Event, Event> e) {
    b.synchronize();
    return b.event_ms(e.second) - b.event_ms(e.first);
  };
  gemms(5);
  const double alone = ms(gemms(100));
  const Event c0 = b.record(Stream::cache_in);
  b.copy_runs(dev, host, runs, unit, Stream::cache_in);
  const Event c1 = b.record(Stream::cache_in);
  const double with_runs = ms(gemms(100));
  const double copy_ms = b.event_ms(c1) - b.event_ms(c0);
  b.copy_rows(dev, drows->as<int32_t>(), host, drows->as<int32_t>(), int64_t(rows.size()),
              int64_t(unit / 2), Stream::cache_in);
  const double with_kernel = ms(gemms(100));
  std::printf(
      "[time] 100 GEMMs 4096^3: alone %.2f ms, beside copy_runs of 1 GiB (%.2f ms, %.1f "
      "GB/s) %.2f ms, beside copy_rows of 1 GiB %.2f ms\n",
      alone, copy_ms, bytes / copy_ms / 1e6, with_runs, with_kernel);
  EXPECT_LT(with_runs, alone * 1.25) << "compute slowed by a DMA cache load";
  b.device_free(dev);
  b.host_free(host);
}

TEST(CudaBackend, WaitOrdersAWeightUploadBeforeCompute) {
  Backend& b = backend(DType::f16);
  std::mt19937_64 rng(4);
  const size_t n = size_t(128) << 20;  // 128 Mi elements: 256 MiB over PCIe
  auto* staged = static_cast<uint16_t*>(b.host_alloc(2 * n));
  const auto data = random_bits(rng, DType::f16, 1 << 20);
  for (size_t i = 0; i < n; i += data.size()) std::memcpy(staged + i, data.data(), 2 * data.size());
  DeviceBuffer dev(b, 2 * n);
  for (int round = 0; round < 2; ++round) {
    // Old contents: 3.0 everywhere (0x4200), so a kernel that ran early leaves 6.0.
    std::vector<uint16_t> old(n, 0x4200);
    b.copy_h2d(dev.get(), old.data(), 2 * n, Stream::compute);
    b.synchronize();
    b.copy_h2d(dev.get(), staged, 2 * n, Stream::weights);
    b.wait(Stream::compute, b.record(Stream::weights));
    b.scale(dev.get(), 2.f, n);  // exact in fp16 for |x| <= 1
    const Event done = b.record(Stream::compute);
    // And compute -> cache_out: the write-back waits for the kernel.
    b.wait(Stream::cache_out, done);
    b.copy_d2h(staged, dev.get(), 2 * n, Stream::cache_out);
    b.sync(b.record(Stream::cache_out));
    size_t bad = 0;
    for (size_t i = 0; i < n; ++i)
      bad += f16_to_f32(staged[i]) != 2.f * f16_to_f32(data[i % data.size()]);
    EXPECT_EQ(bad, 0u) << "elements that saw the wrong order, round " << round;
    // Restore the source for the next round.
    for (size_t i = 0; i < n; i += data.size())
      std::memcpy(staged + i, data.data(), 2 * data.size());
  }
  b.host_free(staged);
}

TEST(CudaBackend, EventsTimeAndExpire) {
  Backend& b = backend(DType::f16);
  const Event e0 = b.record(Stream::compute);
  std::mt19937_64 rng(5);
  auto d = upload(b, random_values(rng, DType::f16, 1 << 20));
  for (int i = 0; i < 50; ++i) b.scale(d->get(), 1.f, 1 << 20);
  const Event e1 = b.record(Stream::compute);
  const Event e2 = b.record(Stream::weights);
  b.sync(e1);
  b.sync(e2);
  const double t0 = b.event_ms(e0), t1 = b.event_ms(e1);
  EXPECT_GE(t0, 0.0);
  EXPECT_GT(t1, t0);
  EXPECT_LT(t1, 3.6e6) << "milliseconds since the backend's creation";
  EXPECT_GE(b.event_ms(e2), 0.0);

  EXPECT_THROW(b.sync(Event{}), Error);
  EXPECT_THROW(b.event_ms(Event{int64_t(1) << 40}), Error);
  // The ring keeps the last 65536 events; the first of this test then expires.
  for (int i = 0; i < 65536; ++i) b.record(Stream::cache_in);
  EXPECT_THROW(b.event_ms(e0), Error);
  b.synchronize();
}

// The weight exchange's NCCL path on the one GPU a machine may have: a node of one rank forms
// its communicator through the broadcast it is given, and its all-gather (one in-place
// broadcast per rank with bytes) leaves its own bytes as they were, ordered on the stream it
// names. Ranks of one node on several GPUs are what --weight-exchange nccl is for; NCCL refuses
// two ranks on one GPU, so this is as much of it as one GPU can run.
TEST(CudaBackend, NcclExchangeOfOneRank) {
  auto b = make_cuda_backend({});
  ASSERT_EQ(b->device_exchange_unavailable(), "") << "this build has no NCCL";
  EXPECT_THROW(b->all_gather(nullptr, {1}, Stream::expand), Error);  // before joining
  int broadcasts = 0;
  b->join_exchange(0, 1, [&](const std::string& id) {
    ++broadcasts;
    EXPECT_EQ(id.size(), 128u);  // NCCL_UNIQUE_ID_BYTES
    return id;
  });
  EXPECT_EQ(broadcasts, 1);
  EXPECT_THROW(b->join_exchange(0, 1, [](const std::string& id) { return id; }), Error);

  const size_t n = size_t(3) << 20;
  std::vector<uint8_t> want(n);
  for (size_t i = 0; i < n; ++i) want[i] = static_cast<uint8_t>(i * 7 + 3);
  void* dev = b->device_alloc(n);
  b->copy_h2d(dev, want.data(), n, Stream::weights);
  b->wait(Stream::expand, b->record(Stream::weights));
  b->all_gather(dev, {static_cast<int64_t>(n)}, Stream::expand);
  b->all_gather(dev, {0}, Stream::expand);  // nothing to gather: no broadcast at all
  std::vector<uint8_t> got(n);
  b->wait(Stream::weights, b->record(Stream::expand));
  b->copy_d2h(got.data(), dev, n, Stream::weights);
  b->synchronize();
  EXPECT_EQ(got, want);
  EXPECT_THROW(b->all_gather(dev, {1, 1}, Stream::expand), Error);  // counts for 2 ranks
  b->device_free(dev);
}

}  // namespace
}  // namespace hs

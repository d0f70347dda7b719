// The order the engine puts on its streams (engine/schedule.cpp), read from the calls it makes
// on a backend that logs them and forwards them to the cpu backend. On a GPU the weights
// stream, left free, ran a layer ahead and starved the cache loads beside it (opt-30b: H2D
// busy 76% of the step); each weight slice must wait for the cache load enqueued before it.
// Then the cache loads starved the slices (opt-13b p512: PCIe idle 2.4 ms at each streamed
// layer); each host cache load must wait for the slice enqueued before it.
#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <set>

#include "backend/backend.h"
#include "engine/engine.h"
#include "engine/reference.h"
#include "goldens.h"
#include "model/weights.h"
#include "test_support.h"
#include "util/error.h"

namespace hs {
namespace {

// Forwards every call to `inner` and logs copies, records and waits with their streams.
class LoggingBackend final : public Backend {
 public:
  struct Call {
    enum Kind { copy, record, wait, synchronize, sample, read_time } kind;
    Stream stream;
    int64_t event = -1;
    bool by_kernel = false;  // copy_rows (multiprocessors), not the copy engines
  };
  explicit LoggingBackend(Backend& inner) : b_(inner) {}
  std::vector<Call> calls;

  std::string name() const override { return b_.name(); }
  std::string device_name() const override { return b_.device_name(); }
  DType dtype() const override { return b_.dtype(); }
  void* host_alloc(size_t n) override { return b_.host_alloc(n); }
  void host_free(void* p) override { b_.host_free(p); }
  void* device_alloc(size_t n) override { return b_.device_alloc(n); }
  void device_free(void* p) override { b_.device_free(p); }
  void host_register(void* p, size_t bytes) override { b_.host_register(p, bytes); }
  void host_unregister(void* p) override { b_.host_unregister(p); }
  bool device_memory_is_host() const override { return b_.device_memory_is_host(); }
  size_t device_capacity_bytes() const override { return b_.device_capacity_bytes(); }
  void copy_h2d(void* d, const void* s, size_t n, Stream st) override {
    calls.push_back({Call::copy, st});
    b_.copy_h2d(d, s, n, st);
  }
  void copy_d2h(void* d, const void* s, size_t n, Stream st) override { b_.copy_d2h(d, s, n, st); }
  void copy_d2d(void* d, const void* s, size_t n, Stream st) override { b_.copy_d2d(d, s, n, st); }
  void copy_rows(void* d, const int32_t* dr, const void* s, const int32_t* sr, int64_t n, int64_t e,
                 Stream st) override {
    calls.push_back({Call::copy, st, -1, true});
    b_.copy_rows(d, dr, s, sr, n, e, st);
  }
  void copy_runs(void* d, const void* s, const std::vector<CopyRun>& r, size_t u,
                 Stream st) override {
    calls.push_back({Call::copy, st});
    b_.copy_runs(d, s, r, u, st);
  }
  void dequantize(void* d, const void* s, WeightFormat f, int64_t r, int64_t c, int64_t g,
                  Stream st) override {
    b_.dequantize(d, s, f, r, c, g, st);
  }
  void compress_rows(void* d, const void* s, const int32_t* rows, int64_t n, int64_t c,
                     CacheFormat f, int64_t g, Stream st) override {
    b_.compress_rows(d, s, rows, n, c, f, g, st);
  }
  void expand_rows(void* d, const void* s, int64_t n, int64_t c, CacheFormat f, int64_t g,
                   Stream st) override {
    b_.expand_rows(d, s, n, c, f, g, st);
  }
  Event record(Stream st) override {
    const Event e = b_.record(st);
    calls.push_back({Call::record, st, e.id});
    return e;
  }
  void wait(Stream st, Event e) override {
    calls.push_back({Call::wait, st, e.id});
    b_.wait(st, e);
  }
  void sync(Event e) override { b_.sync(e); }
  void synchronize() override {
    calls.push_back({Call::synchronize, Stream::compute});
    b_.synchronize();
  }
  double event_ms(Event e) override {
    calls.push_back({Call::read_time, Stream::compute, e.id});
    return b_.event_ms(e);
  }
  void embed(void* o, const void* t, const int32_t* i, int64_t r, int64_t d) override {
    b_.embed(o, t, i, r, d);
  }
  void add_rows(void* x, const void* t, const int32_t* i, int64_t r, int64_t d) override {
    b_.add_rows(x, t, i, r, d);
  }
  void layernorm(void* o, const void* x, const void* w, const void* bb, int64_t r, int64_t d,
                 float eps) override {
    b_.layernorm(o, x, w, bb, r, d, eps);
  }
  void rmsnorm(void* o, const void* x, const void* w, int64_t r, int64_t d, float eps) override {
    b_.rmsnorm(o, x, w, r, d, eps);
  }
  void linear(void* o, const void* x, const void* w, const void* bb, int64_t r, int64_t k,
              int64_t n) override {
    b_.linear(o, x, w, bb, r, k, n);
  }
  void linear_f32(float* o, const void* x, const void* w, int64_t r, int64_t k,
                  int64_t n) override {
    b_.linear_f32(o, x, w, r, k, n);
  }
  void scale(void* x, float s, int64_t n) override { b_.scale(x, s, n); }
  void rope(void* x, const int32_t* p, int64_t r, int64_t h, int64_t d, float t) override {
    b_.rope(x, p, r, h, d, t);
  }
  void attention(void* o, const void* q, const void* k, const void* v, const int32_t* bt,
                 const int32_t* seq, const int32_t* pos, const cpu::AttentionShape& s) override {
    b_.attention(o, q, k, v, bt, seq, pos, s);
  }
  void relu(void* x, int64_t n) override { b_.relu(x, n); }
  void silu_mul(void* o, const void* g, const void* u, int64_t n) override {
    b_.silu_mul(o, g, u, n);
  }
  void add(void* o, const void* a, const void* bb, int64_t n) override { b_.add(o, a, bb, n); }
  void sample(int32_t* t, const float* l, int64_t r, int64_t v, const SamplingParams& p,
              const uint64_t* k, const int64_t* s) override {
    calls.push_back({Call::sample, Stream::compute});
    b_.sample(t, l, r, v, p, k, s);
  }

 private:
  Backend& b_;
};

// Runs opt-tiny's golden prompts on demo-opt (4 layers) under `plan`, through a backend that
// logs its calls to the cpu backend; checks the tokens against the reference engine's and
// returns the calls generate() made.
// `setup`, if given, sees the engine and the log before generate().
std::vector<LoggingBackend::Call> logged_run(
    const Plan& plan, const std::function<void(HybridEngine&, LoggingBackend&)>& setup = nullptr) {
  const test::Golden g = test::load_golden("opt-tiny");
  auto weights = open_model_dir(test::data_path("models/demo-opt"));
  auto cpu = make_backend("cpu");
  LoggingBackend log(*cpu);
  const std::vector<GenRequest> batch = test::golden_batch(g);
  EXPECT_GE(batch.size(), 3u);  // more requests than a mini-batch of two
  HybridEngine engine(*weights, log, plan, test::workload_of(batch));
  if (setup) setup(engine, log);
  log.calls.clear();  // the weights' upload at construction
  const auto got = engine.generate(batch, SamplingParams{});
  ReferenceGenerator ref(*weights);
  const auto want = ref.generate(batch, SamplingParams{});
  for (size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i].output, want[i].output) << i;
  return log.calls;
}

// The engine runs its step's operation list (plan/step_schedule.h), the one the cost model
// times, and no other order: in each step, every operation's end is recorded on its stream in
// list order; every wait the list names is made on the operation's stream, after the awaited
// end was recorded and before the operation's own end; and the engine makes no wait the list
// does not name. On demo-opt (4 layers) under plans that stream weights, keep caches on the
// host and on the device, and recompute K/V from checkpoints.
TEST(EngineStreamOrder, TheEngineRunsTheStepsListAndNothingElse) {
  struct Seen {
    StepSchedule schedule;
    std::vector<Event> done;
    size_t log_end = 0;  // calls logged when the step's list had been enqueued
  };
  for (const Plan& plan :
       {test::hand_plan(Policy::hybrid, 0.5, 1, 0, 2), test::hand_plan(Policy::kv, 0, 4, 2, 2),
        test::hand_plan(Policy::act, 1, 2, 1, 1),
        test::hand_plan(Policy::recompute_tokens, 0, 2, 0, 2)}) {
    std::vector<Seen> steps;
    const std::vector<LoggingBackend::Call> calls =
        logged_run(plan, [&](HybridEngine& engine, LoggingBackend& log) {
          engine.set_step_observer([&](const StepSchedule& s, const std::vector<Event>& done) {
            steps.push_back({s, done, log.calls.size()});
          });
        });
    ASSERT_GT(steps.size(), 1u);
    size_t from = 0;
    for (size_t n = 0; n < steps.size(); ++n) {
      const Seen& st = steps[n];
      const std::string where = cat(policy_name(plan.policy), " step ", n);
      std::map<int64_t, size_t> recorded_at;  // event -> position of its record in the log
      std::set<std::pair<Stream, int64_t>> waits_made;
      std::map<std::pair<Stream, int64_t>, std::vector<size_t>> wait_at;  // positions
      for (size_t i = from; i < st.log_end; ++i) {
        const auto& c = calls[i];
        if (c.kind == LoggingBackend::Call::record) recorded_at[c.event] = i;
        if (c.kind == LoggingBackend::Call::wait) {
          waits_made.insert({c.stream, c.event});
          wait_at[{c.stream, c.event}].push_back(i);
        }
      }
      std::set<std::pair<Stream, int64_t>> waits_listed;
      std::map<Stream, size_t> last_end;  // per stream: the log position of the latest end
      int ends = 0;
      for (size_t i = 0; i < st.schedule.ops.size(); ++i) {
        const StepOp& op = st.schedule.ops[i];
        const Event e = st.done[i];
        size_t own_end = st.log_end;
        if (e.id >= 0) {
          ASSERT_TRUE(recorded_at.count(e.id)) << where << " op " << i;
          own_end = recorded_at[e.id];
          EXPECT_EQ(calls[own_end].stream, op.stream) << where << " op " << i;
          if (last_end.count(op.stream)) {
            EXPECT_GT(own_end, last_end[op.stream]) << where << " op " << i << " out of order";
          }
          last_end[op.stream] = own_end;
          ++ends;
        }
        for (int32_t w : op.waits) {
          if (w < 0 || st.done[static_cast<size_t>(w)].id < 0) continue;
          const int64_t awaited = st.done[static_cast<size_t>(w)].id;
          waits_listed.insert({op.stream, awaited});
          ASSERT_TRUE(wait_at.count(std::make_pair(op.stream, awaited)))
              << where << ": op " << i << " (" << op_kind_name(op.kind) << ") does not wait for op "
              << w;
          // A wait for it on the operation's stream between the awaited end and its own.
          bool between = false;
          for (size_t at : wait_at[std::make_pair(op.stream, awaited)])
            between = between || (at > recorded_at[awaited] && at < own_end);
          EXPECT_TRUE(between) << where << " op " << i << " (" << op_kind_name(op.kind) << ")";
        }
      }
      EXPECT_GT(ends, 0) << where;
      for (const auto& made : waits_made)
        EXPECT_TRUE(waits_listed.count(made))
            << where << ": a wait on " << stream_name(made.first) << " for event " << made.second
            << " that the list does not name";
      from = st.log_end;
    }
  }
}

// demo-opt (4 layers): layers 1, 2, 3 streamed, every cache on the host, 3 mini-batches.
TEST(EngineStreamOrder, EveryWeightSliceWaitsForTheCacheLoadBeforeIt) {
  const std::vector<LoggingBackend::Call> calls =
      logged_run(test::hand_plan(Policy::hybrid, 0.5, 1, 0, 2));

  // Walk the log: the latest event recorded on cache_in, whether the weights stream has waited
  // for it, and every weights copy once a cache load has been recorded in the step.
  std::map<int64_t, Stream> recorded_on;
  int64_t latest_load = -1, weight_copies = 0, checked = 0;
  bool waited_for_latest = false;
  for (const auto& c : calls) {
    if (c.kind == LoggingBackend::Call::record) {
      recorded_on[c.event] = c.stream;
      if (c.stream == Stream::cache_in) {
        latest_load = c.event;
        waited_for_latest = false;
      }
    } else if (c.kind == LoggingBackend::Call::wait && c.stream == Stream::weights &&
               c.event == latest_load) {
      waited_for_latest = true;
    } else if (c.kind == LoggingBackend::Call::copy && c.stream == Stream::weights) {
      ++weight_copies;
      if (latest_load < 0) continue;  // before any load: the step's first uploads
      EXPECT_TRUE(waited_for_latest) << "weights copy " << weight_copies
                                     << " does not wait for cache load event " << latest_load;
      ++checked;
    }
  }
  EXPECT_GT(checked, 0);
  EXPECT_GT(weight_copies, checked);
}

// The other way round: every host cache load that follows a weight slice in the step waits
// for the latest slice enqueued before it (the end event of the weights stream's last copy),
// so the copy engines take loads and slices in the order the schedule enqueues them.
// demo-opt (4 layers): layers 1, 2, 3 streamed, every cache on the host, 3 mini-batches.
TEST(EngineStreamOrder, EveryHostLoadWaitsForTheWeightSliceBeforeIt) {
  const std::vector<LoggingBackend::Call> calls =
      logged_run(test::hand_plan(Policy::hybrid, 0.5, 1, 0, 2));

  int64_t latest_slice = -1, checked = 0;
  bool slice_copied = false, waited_for_latest = false;
  for (const auto& c : calls) {
    if (c.kind == LoggingBackend::Call::synchronize) {  // a step's end: no slice before
      latest_slice = -1;
      slice_copied = false;
    } else if (c.kind == LoggingBackend::Call::copy && c.stream == Stream::weights) {
      slice_copied = true;
    } else if (c.kind == LoggingBackend::Call::record && c.stream == Stream::weights &&
               slice_copied) {
      latest_slice = c.event;  // a slice's end (its start is recorded before its copies)
      waited_for_latest = false;
    } else if (c.kind == LoggingBackend::Call::wait && c.stream == Stream::cache_in &&
               c.event == latest_slice) {
      waited_for_latest = true;
    } else if (c.kind == LoggingBackend::Call::copy && c.stream == Stream::cache_in) {
      if (latest_slice < 0) continue;  // the step's first loads, before any slice
      EXPECT_TRUE(waited_for_latest)
          << "cache load does not wait for weight slice event " << latest_slice;
      waited_for_latest = true;  // one wait covers the load's several copies
      ++checked;
    }
  }
  EXPECT_GT(checked, 0);
}

// The previous step's trace times are read (Backend::event_ms) once the step has enqueued its
// weight slices and before its first head blocks the host on tokens: read before the loop,
// they held a step's first compute and slice ~4 ms behind its first loads on an H100; after
// its last head, PCIe would idle through them. demo-opt: layers 1, 2, 3 streamed.
TEST(EngineStreamOrder, TheLastStepsTimesAreReadWhileTheStepRuns) {
  const std::vector<LoggingBackend::Call> calls =
      logged_run(test::hand_plan(Policy::hybrid, 0.5, 1, 0, 2));
  int steps_with_reads = 0;
  size_t step_start = 0;
  for (size_t at = 0; at < calls.size(); ++at) {
    if (calls[at].kind != LoggingBackend::Call::synchronize) continue;
    size_t last_slice = 0, first_sample = at, first_read = at, last_read = 0;
    bool reads = false;
    for (size_t i = step_start; i < at; ++i) {
      const auto& c = calls[i];
      if (c.kind == LoggingBackend::Call::copy && c.stream == Stream::weights) last_slice = i;
      if (c.kind == LoggingBackend::Call::sample) first_sample = std::min(first_sample, i);
      if (c.kind == LoggingBackend::Call::read_time) {
        reads = true;
        first_read = std::min(first_read, i);
        last_read = i;
      }
    }
    if (reads) {
      ++steps_with_reads;
      EXPECT_GT(first_read, last_slice) << "step " << steps_with_reads;
      EXPECT_LT(last_read, first_sample) << "step " << steps_with_reads;
    }
    step_start = at + 1;
  }
  EXPECT_GT(steps_with_reads, 1);
}

// demo-opt (4 layers), caches of layers 1 and 3 on the host, 0 and 2 on the device, two
// mini-batches: each decode step's loads of layer 1 have nothing to wait for and must reach
// the copy engines first, before the index upload and the device-cache copies of layer 0
// (enqueued behind them, PCIe idled ~2 ms a step on an H100).
TEST(EngineStreamOrder, TheFirstHostLoadsOfAStepComeFirst) {
  const std::vector<LoggingBackend::Call> calls =
      logged_run(test::hand_plan(Policy::kv, 0, 4, 2, 2));

  // Per step (the calls up to a synchronize): the position of the first copy on each stream.
  int steps_with_loads = 0;
  std::map<Stream, size_t> first;  // index in calls
  size_t step_start = 0;
  for (size_t at = 0; at < calls.size(); ++at) {
    const auto& c = calls[at];
    if (c.kind == LoggingBackend::Call::copy && !first.count(c.stream)) first[c.stream] = at;
    if (c.kind != LoggingBackend::Call::synchronize) continue;
    if (first.count(Stream::cache_in)) {
      ++steps_with_loads;
      ASSERT_TRUE(first.count(Stream::compute) && first.count(Stream::cache_dev));
      EXPECT_LT(first[Stream::cache_in], first[Stream::compute]) << "step " << steps_with_loads;
      EXPECT_LT(first[Stream::cache_in], first[Stream::cache_dev]) << "step " << steps_with_loads;
      // Both mini-batches of layer 1 (one working set each) before the index upload.
      int loads_before = 0;
      for (size_t i = step_start; i < first[Stream::compute]; ++i)
        loads_before +=
            calls[i].kind == LoggingBackend::Call::copy && calls[i].stream == Stream::cache_in;
      EXPECT_GE(loads_before, 2) << "step " << steps_with_loads;
    }
    first.clear();
    step_start = at + 1;
  }
  EXPECT_GT(steps_with_loads, 0);
}

// Write-backs into the host cache go by the copy engines (copy_runs), even a decode step's one
// row a request: multiprocessors writing mapped host memory stalled the copy engines' loads
// from it (H100: 55 -> 5.5 GB/s H2D beside such a kernel). Write-backs into a device-resident
// cache keep the copy_rows kernel. demo-opt, caches of layers 1 and 3 on the host.
TEST(EngineStreamOrder, HostCacheWriteBacksGoByTheCopyEngines) {
  for (const int64_t resident : {0, 2}) {
    const std::vector<LoggingBackend::Call> calls =
        logged_run(test::hand_plan(Policy::kv, 0, 4, resident, 2));
    int by_engines = 0, by_kernel = 0;
    for (const auto& c : calls)
      if (c.kind == LoggingBackend::Call::copy && c.stream == Stream::cache_out)
        ++(c.by_kernel ? by_kernel : by_engines);
    // Every step writes back each host-cache layer by the engines; the kernel only ever writes
    // a resident cache, and with two resident layers it does.
    EXPECT_GT(by_engines, 0) << resident;
    if (resident == 0)
      EXPECT_EQ(by_kernel, 0);
    else
      EXPECT_GT(by_kernel, 0);
  }
}

// Each mini-batch's head runs as soon as it leaves the last layer, not after the last item:
// there the heads of every mini-batch ran while PCIe idled (~1.3 ms a step, opt-6.7b p256 kv
// on an H100). demo-opt, host caches on layers 1 and 3 (the last), two mini-batches: in every
// step the last layer's second write-back comes after the first head.
TEST(EngineStreamOrder, EachHeadFollowsItsMiniBatchsLastLayer) {
  const std::vector<LoggingBackend::Call> calls =
      logged_run(test::hand_plan(Policy::kv, 0, 4, 2, 2));
  int steps = 0, heads = 0, write_backs_after_first_head = 0;
  for (const auto& c : calls) {
    if (c.kind == LoggingBackend::Call::sample) ++heads;
    if (heads > 0 && c.kind == LoggingBackend::Call::copy && c.stream == Stream::cache_out)
      ++write_backs_after_first_head;
    if (c.kind != LoggingBackend::Call::synchronize) continue;
    if (heads == 0) continue;  // a synchronize outside a step
    ++steps;
    EXPECT_GE(heads, 2) << "step " << steps;
    EXPECT_GT(write_backs_after_first_head, 0) << "step " << steps;
    heads = write_backs_after_first_head = 0;
  }
  EXPECT_GT(steps, 1);
}

}  // namespace
}  // namespace hs

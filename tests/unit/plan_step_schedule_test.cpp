// The step's operation list (plan/step_schedule.h), checked rule by rule on shapes that mix
// streamed and resident layers, host and device caches, and several mini-batches. The engine
// runs this list (engine_stream_order_test checks it follows it) and the cost model times it.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "plan/step_schedule.h"
#include "util/error.h"

namespace hs {
namespace {

// 8 layers: weights streamed for layers 2, 5, 7 (and 0 where `first_streamed`), caches on the
// host for layers 1, 3, 4, 6, 7; 3 mini-batches with different bytes; checkpoints in two.
StepShape mixed_shape(bool first_streamed = false, bool decode = true) {
  StepShape s;
  s.layers = 8;
  s.streamed = {first_streamed, false, true, false, false, true, false, true};
  s.host_cache = {false, true, false, true, true, false, true, true};
  s.host_sets = 2;
  s.layer_bytes = 6000;
  s.load_bytes = decode ? std::vector<int64_t>{300, 500, 100} : std::vector<int64_t>{0, 0, 0};
  s.store_bytes = {10, 20, 30};
  s.recompute_rows = decode ? std::vector<int64_t>{16, 0, 8} : std::vector<int64_t>{0, 0, 0};
  return s;
}

std::vector<StepShape> shapes() {
  std::vector<StepShape> out = {mixed_shape(), mixed_shape(true), mixed_shape(false, false),
                                mixed_shape(true, false)};
  StepShape three_sets = mixed_shape();
  three_sets.host_sets = 3;
  out.push_back(three_sets);
  StepShape no_cache = mixed_shape();  // recompute-tokens: nothing loaded or stored
  no_cache.load_bytes = no_cache.store_bytes = {0, 0, 0};
  out.push_back(no_cache);
  StepShape one_mb = mixed_shape();
  one_mb.load_bytes = {400};
  one_mb.store_bytes = {5};
  one_mb.recompute_rows = {0};
  out.push_back(one_mb);
  return out;
}

int64_t item_of(const StepShape& s, const StepOp& op) {
  return static_cast<int64_t>(op.layer) * s.mini_batches() + op.mb;
}

bool waits_for(const StepOp& op, int32_t i) {
  return i >= 0 && std::find(op.waits.begin(), op.waits.end(), i) != op.waits.end();
}

TEST(StepSchedule, EveryWaitNamesAnEarlierOperation) {
  for (const StepShape& s : shapes()) {
    const StepSchedule sch = step_schedule(s);
    for (size_t i = 0; i < sch.ops.size(); ++i)
      for (int32_t w : sch.ops[i].waits) EXPECT_LT(w, static_cast<int32_t>(i));
  }
}

TEST(StepSchedule, EachItemRunsOnceInLayerMajorOrderAndEachHeadAfterItsLastLayer) {
  for (const StepShape& s : shapes()) {
    const StepSchedule sch = step_schedule(s);
    const int64_t M = s.mini_batches();
    int64_t next_item = 0;
    std::set<int32_t> heads;
    for (const StepOp& op : sch.ops) {
      if (op.kind == OpKind::layer) {
        EXPECT_EQ(item_of(s, op), next_item);
        ++next_item;
      }
      if (op.kind == OpKind::head) {
        // Right after the mini-batch's item of the last layer (and its write-back).
        EXPECT_EQ(next_item, (s.layers - 1) * M + op.mb + 1);
        EXPECT_TRUE(heads.insert(op.mb).second);
      }
      if (op.kind == OpKind::recompute) {
        EXPECT_EQ(item_of(s, op), next_item) << "a recompute comes right before its item";
        EXPECT_GT(s.recompute_rows[static_cast<size_t>(op.mb)], 0);
      }
    }
    EXPECT_EQ(next_item, s.layers * M);
    EXPECT_EQ(static_cast<int64_t>(heads.size()), M);
  }
}

TEST(StepSchedule, StreamedLayersArriveWholeBeforeTheirComputeAndResidentOnesNever) {
  for (const StepShape& s : shapes()) {
    const StepSchedule sch = step_schedule(s);
    std::map<int32_t, int64_t> bytes;  // by layer: bytes listed so far
    std::map<int32_t, int32_t> complete;
    for (size_t i = 0; i < sch.ops.size(); ++i) {
      const StepOp& op = sch.ops[i];
      if (op.kind == OpKind::weights) {
        ASSERT_TRUE(s.streamed[static_cast<size_t>(op.layer)]) << op.layer;
        EXPECT_EQ(op.begin, bytes[op.layer]) << "slices of a layer in order, back to back";
        EXPECT_EQ(op.bytes, op.end - op.begin);
        bytes[op.layer] = op.end;
        if (op.end == s.layer_bytes) complete[op.layer] = static_cast<int32_t>(i);
      }
      if (op.kind == OpKind::layer && s.streamed[static_cast<size_t>(op.layer)]) {
        ASSERT_TRUE(complete.count(op.layer)) << "layer " << op.layer << " computed before whole";
        // Its compute (or the recompute before it) waits for the final slice.
        const StepOp& first =
            i > 0 && sch.ops[i - 1].kind == OpKind::recompute ? sch.ops[i - 1] : op;
        EXPECT_TRUE(waits_for(first, complete[op.layer])) << "layer " << op.layer;
      }
    }
    for (int64_t l = 0; l < s.layers; ++l)
      EXPECT_EQ(bytes[static_cast<int32_t>(l)],
                s.streamed[static_cast<size_t>(l)] ? s.layer_bytes : 0);
    if (s.streamed[0]) {
      EXPECT_EQ(sch.ops[0].kind, OpKind::weights);  // layer 0 whole, first of all
      EXPECT_EQ(sch.ops[0].bytes, s.layer_bytes);
    }
  }
}

// The copy engines take host loads and weight slices first come, first served: each slice
// waits for the latest host load listed before it that belongs to an item up to the one after
// the slice's, and each host load for the latest slice that moves bytes.
TEST(StepSchedule, HostLoadsAndWeightSlicesWaitForEachOther) {
  for (const StepShape& s : shapes()) {
    const StepSchedule sch = step_schedule(s);
    int32_t last_slice = -1;
    int checked_loads = 0, checked_slices = 0;
    int64_t current_item = 0;                 // the item whose layer op comes next
    std::map<int64_t, int32_t> host_load_of;  // item -> its load
    for (size_t i = 0; i < sch.ops.size(); ++i) {
      const StepOp& op = sch.ops[i];
      if (op.kind == OpKind::layer) ++current_item;
      if (op.kind == OpKind::cache_load && op.host) {
        host_load_of[item_of(s, op)] = static_cast<int32_t>(i);
        if (last_slice >= 0) {
          EXPECT_TRUE(waits_for(op, last_slice)) << "load of item " << item_of(s, op);
          ++checked_loads;
        } else {
          for (int32_t w : op.waits)
            if (w >= 0) EXPECT_NE(sch.ops[static_cast<size_t>(w)].kind, OpKind::weights);
        }
      }
      if (op.kind == OpKind::weights) {
        if (op.bytes > 0) last_slice = static_cast<int32_t>(i);
        int32_t want = -1;  // the host load of the latest host item <= current_item + 1
        for (const auto& [item, load] : host_load_of)
          if (item <= current_item + 1) want = load;
        if (i == 0 && s.streamed[0]) want = -1;  // layer 0 whole: waits for nothing
        if (want >= 0) {
          EXPECT_TRUE(waits_for(op, want)) << "slice " << i << " of layer " << op.layer;
          ++checked_slices;
        }
      }
    }
    if (s.load_bytes[0] > 0 && s.mini_batches() > 1) {
      EXPECT_GT(checked_loads, 0);
      EXPECT_GT(checked_slices, 0);
    }
  }
}

// The host loads that start their working sets' turns wait for nothing in the step and come
// before the index upload; device-cache loads wait for the indices they read.
TEST(StepSchedule, TurnStartingHostLoadsComeFirst) {
  for (const StepShape& s : shapes()) {
    const StepSchedule sch = step_schedule(s);
    size_t indices = sch.ops.size();
    std::set<int64_t> early;
    for (size_t i = 0; i < sch.ops.size(); ++i) {
      const StepOp& op = sch.ops[i];
      if (op.kind == OpKind::indices) indices = i;
      if (op.kind != OpKind::cache_load) continue;
      const int64_t item = item_of(s, op);
      if (i < indices) {
        EXPECT_TRUE(op.host);
        EXPECT_LT(sch.turns[static_cast<size_t>(item)].previous, 0);
        early.insert(item);
      }
      if (!op.host) EXPECT_TRUE(waits_for(op, static_cast<int32_t>(indices)));
    }
    if (s.load_bytes[0] == 0) continue;
    for (int64_t item = 0; item < s.layers * s.mini_batches(); ++item)
      if (s.host_cache[static_cast<size_t>(item / s.mini_batches())] &&
          sch.turns[static_cast<size_t>(item)].previous < 0)
        EXPECT_TRUE(early.count(item)) << item;
  }
}

// A working set is reused only once the item before on it is done with it: that item's layer
// op (which reads it) and its write-back (which reads its new rows) come before the next load
// into it and the next compute on it.
TEST(StepSchedule, AWorkingSetIsReusedOnlyWhenItsPreviousItemIsDone) {
  for (const StepShape& s : shapes()) {
    const StepSchedule sch = step_schedule(s);
    std::map<int64_t, int32_t> layer_op, store_op, load_op;
    for (size_t i = 0; i < sch.ops.size(); ++i) {
      const StepOp& op = sch.ops[i];
      const int64_t item = op.layer >= 0 && op.mb >= 0 ? item_of(s, op) : -1;
      const int64_t prev = item >= 0 ? sch.turns[static_cast<size_t>(item)].previous : -1;
      if (op.kind == OpKind::cache_load) {
        load_op[item] = static_cast<int32_t>(i);
        if (prev >= 0) {
          EXPECT_TRUE(waits_for(op, layer_op.at(prev))) << item;
          if (store_op.count(prev)) EXPECT_TRUE(waits_for(op, store_op.at(prev))) << item;
        }
      }
      const bool first_compute =
          op.kind == OpKind::recompute ||
          (op.kind == OpKind::layer && (i == 0 || sch.ops[i - 1].kind != OpKind::recompute));
      if (first_compute) {
        if (prev >= 0 && store_op.count(prev))
          EXPECT_TRUE(waits_for(op, store_op.at(prev))) << item;
        if (load_op.count(item)) EXPECT_TRUE(waits_for(op, load_op.at(item))) << item;
      }
      if (op.kind == OpKind::layer) layer_op[item] = static_cast<int32_t>(i);
      if (op.kind == OpKind::store) {
        store_op[item] = static_cast<int32_t>(i);
        EXPECT_TRUE(waits_for(op, layer_op.at(item)));
      }
    }
    // Every item loads and stores exactly when its mini-batch has bytes to.
    for (int64_t item = 0; item < s.layers * s.mini_batches(); ++item) {
      const size_t mb = static_cast<size_t>(item % s.mini_batches());
      EXPECT_EQ(load_op.count(item) == 1, s.load_bytes[mb] > 0) << item;
      EXPECT_EQ(store_op.count(item) == 1, s.store_bytes[mb] > 0) << item;
    }
  }
}

// A window's first slice fills the buffer of the streamed layer two back: it waits for that
// layer's last compute.
TEST(StepSchedule, ASlicesBufferIsFreeBeforeItFills) {
  const StepShape s = mixed_shape();
  const StepSchedule sch = step_schedule(s);
  std::map<int32_t, int32_t> last_compute;  // layer -> its last layer op
  int checked = 0;
  for (size_t i = 0; i < sch.ops.size(); ++i) {
    const StepOp& op = sch.ops[i];
    if (op.kind == OpKind::layer) last_compute[op.layer] = static_cast<int32_t>(i);
    if (op.kind == OpKind::weights && op.begin == 0 && op.layer == 7) {
      // Streamed layers 2, 5, 7: layer 7 goes into layer 2's buffer.
      EXPECT_TRUE(waits_for(op, last_compute.at(2)));
      ++checked;
    }
  }
  EXPECT_EQ(checked, 1);
}

TEST(StepSchedule, StreamsFollowTheKinds) {
  for (const StepShape& s : shapes())
    for (const StepOp& op : step_schedule(s).ops) switch (op.kind) {
        case OpKind::weights:
          EXPECT_EQ(op.stream, Stream::weights);
          break;
        case OpKind::cache_load:
          EXPECT_EQ(op.stream, op.host ? Stream::cache_in : Stream::cache_dev);
          EXPECT_EQ(op.host, s.host_cache[static_cast<size_t>(op.layer)]);
          break;
        case OpKind::store:
          EXPECT_EQ(op.stream, Stream::cache_out);
          break;
        default:
          EXPECT_EQ(op.stream, Stream::compute) << op_kind_name(op.kind);
      }
}

bool same_ops(const StepSchedule& a, const StepSchedule& b) {
  if (a.ops.size() != b.ops.size()) return false;
  for (size_t i = 0; i < a.ops.size(); ++i) {
    const StepOp &x = a.ops[i], &y = b.ops[i];
    if (x.kind != y.kind || x.stream != y.stream || x.layer != y.layer || x.mb != y.mb ||
        x.bytes != y.bytes || x.begin != y.begin || x.end != y.end || x.host != y.host ||
        x.waits != y.waits)
      return false;
  }
  return true;
}

// The planner's scheduler reuses the list before where only bytes changed; it must give what a
// fresh build gives, through loads that grow step by step (moving the weight slices and, at
// some step, leaving a slice empty), mini-batches that start recomputing, and other shapes.
TEST(StepSchedule, TheSchedulerGivesWhatAFreshBuildGives) {
  StepScheduler scheduler;
  std::vector<StepShape> seq;
  for (const StepShape& s : shapes()) seq.push_back(s);
  for (int64_t grow = 0; grow < 40; ++grow) {
    StepShape s = mixed_shape(grow % 7 == 3);
    for (int64_t& b : s.load_bytes) b += grow * 97;
    for (int64_t& b : s.store_bytes) b += grow;
    if (grow > 20) s.recompute_rows[1] = 4;
    seq.push_back(s);
  }
  StepShape heavy = mixed_shape();  // loads above every slice's level: empty slices
  heavy.load_bytes = {50000, 1, 70000};
  seq.push_back(heavy);
  seq.push_back(mixed_shape());
  for (int64_t grow = 0; grow < 10; ++grow) {  // compressed weights: expand operations
    StepShape s = mixed_shape(grow % 2 == 0);
    s.expand = true;
    for (int64_t& b : s.load_bytes) b += grow * 1000;
    seq.push_back(s);
  }
  int empty_slices = 0;
  for (size_t i = 0; i < seq.size(); ++i) {
    const StepSchedule fresh = step_schedule(seq[i]);
    EXPECT_TRUE(same_ops(scheduler.schedule(seq[i]), fresh)) << "shape " << i;
    EXPECT_EQ(scheduler.schedule(seq[i]).turns.size(), fresh.turns.size());
    for (const StepOp& op : fresh.ops) empty_slices += op.kind == OpKind::weights && op.bytes == 0;
  }
  EXPECT_GT(empty_slices, 0);
}

// Compressed weights: each streamed layer is expanded once, on the expand stream, right after
// the first slice that completes it, and the layer's compute waits for the expansion.
TEST(StepSchedule, CompressedLayersAreExpandedOnceBeforeTheirCompute) {
  for (bool first_streamed : {false, true})
    for (const std::vector<int64_t>& loads :
         {std::vector<int64_t>{300, 500, 100}, std::vector<int64_t>{50000, 1, 70000}}) {
      StepShape s = mixed_shape(first_streamed);
      s.expand = true;
      s.load_bytes = loads;
      const StepSchedule sch = step_schedule(s);
      std::map<int32_t, int32_t> expand_of;  // layer -> its expand op
      for (size_t i = 0; i < sch.ops.size(); ++i) {
        const StepOp& op = sch.ops[i];
        if (op.kind == OpKind::expand) {
          EXPECT_EQ(op.stream, Stream::expand);
          EXPECT_TRUE(expand_of.emplace(op.layer, static_cast<int32_t>(i)).second) << op.layer;
          const StepOp& before = sch.ops[i - 1];
          EXPECT_EQ(before.kind, OpKind::weights);
          EXPECT_EQ(before.layer, op.layer);
          EXPECT_EQ(before.end, s.layer_bytes);
          EXPECT_TRUE(waits_for(op, static_cast<int32_t>(i - 1)));
        }
        const bool first_compute =
            op.kind == OpKind::recompute ||
            (op.kind == OpKind::layer && sch.ops[i - 1].kind != OpKind::recompute);
        if (first_compute && s.streamed[static_cast<size_t>(op.layer)])
          EXPECT_TRUE(waits_for(op, expand_of.at(op.layer))) << "layer " << op.layer;
      }
      int64_t streamed = 0;
      for (bool b : s.streamed) streamed += b;
      EXPECT_EQ(static_cast<int64_t>(expand_of.size()), streamed);
    }
}

TEST(StepSchedule, RefusesInconsistentShapes) {
  StepShape s = mixed_shape();
  s.store_bytes.pop_back();
  EXPECT_THROW(step_schedule(s), Error);
  s = mixed_shape();
  s.streamed.push_back(true);
  EXPECT_THROW(step_schedule(s), Error);
}

}  // namespace
}  // namespace hs

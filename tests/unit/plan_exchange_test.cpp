// The planner's weight exchange (Plan::exchange_ranks, `plan --weight-exchange`): N ranks of a
// node each copy 1/N of a streamed layer over PCIe and all-gather the other shares. Checked
// against the definition: the step list has one exchange per streamed layer, after the slice
// that completes this rank's share and before anything reads the layer; each rank's PCIe
// carries ceil(layer / N) a streamed layer; an all-gather slower than the link shows in the
// step as (N - 1) / N of every streamed layer at the exchange's rate, one layer after another.
#include <gtest/gtest.h>

#include <cmath>

#include "model/shapes.h"
#include "plan/cost_model.h"
#include "plan/planner.h"
#include "plan/step_schedule.h"
#include "util/error.h"

namespace hs {
namespace {

PlanOptions node_of(int64_t ranks, double exchange_gbps) {
  PlanOptions o;
  o.constants.h2d_gbps = 25;
  o.constants.d2h_gbps = 25;
  o.constants.gemm_tflops = 150;
  o.constants.exchange_gbps = exchange_gbps;
  o.gpu_mem_gib = 24;
  o.host_mem_gib = 4096;
  o.node.ranks = ranks;
  o.node.shared_weights = ranks > 1;
  o.exchange_ranks = ranks;
  return o;
}

TEST(PlanExchange, EachStreamedLayerIsExchangedOnceBeforeItIsRead) {
  for (const bool expand : {false, true}) {
    StepShape s;
    s.layers = 6;
    s.streamed = {true, false, true, true, false, true};
    s.host_cache.assign(6, true);
    s.layer_bytes = 1000;
    s.exchange_bytes = 3000;  // four ranks
    s.expand = expand;
    s.load_bytes = {64, 64};
    s.store_bytes = {8, 8};
    s.recompute_rows = {0, 4};
    const StepSchedule sch = step_schedule(s);
    int exchanges = 0;
    for (size_t i = 0; i < sch.ops.size(); ++i) {
      const StepOp& op = sch.ops[i];
      if (op.kind == OpKind::exchange) {
        ++exchanges;
        EXPECT_TRUE(s.streamed[static_cast<size_t>(op.layer)]);
        EXPECT_EQ(op.bytes, 3000);
        EXPECT_EQ(op.stream, Stream::expand);
        // It waits for the weight slice that completes its layer's share.
        ASSERT_GE(op.waits[0], 0);
        const StepOp& slice = sch.ops[static_cast<size_t>(op.waits[0])];
        EXPECT_EQ(slice.kind, OpKind::weights);
        EXPECT_EQ(slice.layer, op.layer);
        EXPECT_EQ(slice.end, s.layer_bytes);
      }
      if (op.kind == OpKind::expand) {  // expands the whole layer, after its exchange
        EXPECT_EQ(op.bytes, 4000);
        ASSERT_GE(op.waits[0], 0);
        EXPECT_EQ(sch.ops[static_cast<size_t>(op.waits[0])].kind, OpKind::exchange);
      }
      // The first compute op of each item of a streamed layer waits for its exchange (or the
      // expansion after it): the op that stands for the layer's weights.
      if ((op.kind == OpKind::layer || op.kind == OpKind::recompute) &&
          s.streamed[static_cast<size_t>(op.layer)] && op.waits[0] >= 0) {
        const OpKind ready = sch.ops[static_cast<size_t>(op.waits[0])].kind;
        EXPECT_EQ(ready, expand ? OpKind::expand : OpKind::exchange)
            << "layer " << op.layer << " op " << i;
      }
    }
    EXPECT_EQ(exchanges, 4);
  }
}

TEST(PlanExchange, EachRankCopiesItsShareOfTheStreamedWeights) {
  const ModelConfig c = model_shape("opt-30b");
  const Workload w = Workload::uniform(64, 512, 32);
  const Plan one = make_plan(c, w, node_of(1, 0));
  for (const int64_t n : {int64_t{2}, int64_t{4}, int64_t{8}}) {
    const Plan p = make_plan(c, w, node_of(n, 360));
    EXPECT_EQ(p.exchange_ranks, n);
    const int64_t layer = streamed_layer_bytes(c, p);
    EXPECT_EQ(layer, streamed_layer_bytes(c, one));  // the layer is the same, its copy is not
    const int64_t share = streamed_layer_share_bytes(c, p);
    EXPECT_EQ(share, (layer + n - 1) / n);
    const StepTraffic t = predict_step_traffic(c, p, std::vector<int64_t>(64, 520));
    EXPECT_EQ(t.weights_h2d, (c.n_layers - p.gpu_weight_layers) * share) << n << " ranks";
    // Fewer weight bytes a rank: a faster predicted step, at any batch the planner picks.
    EXPECT_GT(p.predicted_tokens_per_s, one.predicted_tokens_per_s) << n << " ranks";
    std::printf(
        "[exchange] opt-30b b64 p512 g32, 24 GiB, PCIe 25 GB/s, all-gather 360 GB/s: "
        "%lld ranks %.1f tok/s a rank (%.2fx one rank's %.1f)\n",
        static_cast<long long>(n), p.predicted_tokens_per_s,
        p.predicted_tokens_per_s / one.predicted_tokens_per_s, one.predicted_tokens_per_s);
  }
}

TEST(PlanExchange, ASlowAllGatherBoundsTheStep) {
  // Exchanges run one after another on one stream: the decode step takes at least every
  // streamed layer's (N - 1) / N at the exchange's rate.
  const ModelConfig c = model_shape("opt-6.7b");
  const Workload w = Workload::uniform(16, 128, 8);
  PlanOptions o = node_of(2, 0.5);  // 0.5 GB/s: far slower than PCIe
  o.gpu_mem_gib = 8;                // opt-6.7b (13 GB) streams most layers
  o.policy = Policy::kv;
  const Plan p = make_plan(c, w, o);
  const int64_t streamed = c.n_layers - p.gpu_weight_layers;
  ASSERT_GT(streamed, 0);
  const double gather_ms =
      static_cast<double>(streamed) *
      static_cast<double>(streamed_layer_bytes(c, p) - streamed_layer_share_bytes(c, p)) / 0.5e9 *
      1e3;
  const PhaseCost step = decode_step_cost(c, p, std::vector<int64_t>(16, 130));
  EXPECT_GE(step.total_ms, gather_ms);
  EXPECT_LT(step.total_ms, gather_ms * 1.2);  // and it is what binds
}

TEST(PlanExchange, RefusesAnExchangeTheNodeCannotRun) {
  const ModelConfig c = model_shape("opt-6.7b");
  const Workload w = Workload::uniform(8, 64, 8);
  PlanOptions o = node_of(2, 360);
  o.node.ranks = 1;  // two ranks' shares, one rank
  EXPECT_THROW(make_plan(c, w, o), Error);
  o = node_of(2, 0);  // no all-gather rate
  EXPECT_THROW(make_plan(c, w, o), Error);
}

}  // namespace
}  // namespace hs

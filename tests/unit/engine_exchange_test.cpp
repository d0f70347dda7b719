// The weight exchange (Plan::exchange_ranks; engine.h: join_step) on the cpu backend, its ranks
// threads of this process (thread_group.h; tests/system/exchange_test.sh runs it under
// mpirun): ranks given different requests, one of them none, each copy only their share of
// every streamed layer and all-gather the rest in lockstep, and each gets Hugging Face's tokens
// for its own requests under every cache policy (int8 weights: the lone engine's tokens), and
// the lone engine's logits bit for bit; the
// trace shows each rank's share crossing and the rest exchanged; layers stored on the device
// are not exchanged; plans the engine cannot run are refused.
#include <map>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "backend/backend.h"
#include "engine/engine.h"
#include "goldens.h"
#include "model/quant.h"
#include "model/weights.h"
#include "test_support.h"
#include "thread_group.h"
#include "util/error.h"

namespace hs {
namespace {

struct RankRun {
  std::vector<GenResult> out;
  test::LogitsRows logits;  // by (index in the rank's batch, step)
  std::vector<TraceEvent> trace;
  std::string error;
};

// Requests of rank r of n: r = 0 every other case from the first, r = 1 the others, and
// ranks 2.. none (they only take part in the others' steps).
std::vector<GenRequest> share_of(const std::vector<GenRequest>& all, int r, int n) {
  std::vector<GenRequest> out;
  for (size_t i = 0; i < all.size(); ++i)
    if ((n == 1 || r < 2) && (n == 1 || static_cast<int>(i % 2) == r)) out.push_back(all[i]);
  return out;
}

// Runs plan p on n thread ranks sharing the weights and exchanging them; rank r generates
// share_of(batch, r, n), then leaves.
std::vector<RankRun> run_ranks(const WeightSource& weights, Plan p, const Workload& w,
                               const std::vector<GenRequest>& batch, int n) {
  p.node.ranks = n;
  p.node.shared_weights = true;
  p.exchange_ranks = n;
  test::ThreadNode node(n);
  std::vector<RankRun> runs(static_cast<size_t>(n));
  std::vector<std::thread> ts;
  for (int r = 0; r < n; ++r)
    ts.emplace_back([&, r] {
      RankRun& run = runs[static_cast<size_t>(r)];
      test::ThreadRank g(node, r);
      MemoryLimits limits;
      limits.node = &g;
      try {
        HybridEngine e(weights, make_backend("cpu"), p, w, limits);
        e.set_logits_observer(test::record_logits(run.logits));
        const std::vector<GenRequest> mine = share_of(batch, r, n);
        if (!mine.empty()) run.out = e.generate(mine, SamplingParams{});
        run.trace = e.trace();
        while (e.join_step(/*leaving=*/true) != Lockstep::all_left) {
        }
      } catch (const std::exception& e) {
        run.error = e.what();
      }
    });
  for (auto& t : ts) t.join();
  return runs;
}

int64_t layer_bytes(const ModelConfig& c, WeightFormat f) {
  int64_t n = 0;
  for (const PartSpec& s : layer_parts(c, 0)) n += stored_part_bytes(s, DType::f32, f, 16);
  return n;
}

TEST(EngineExchange, RanksInLockstepGiveHuggingFacesTokensAndCopyOnlyTheirShare) {
  test::ShmDir dir;
  ::setenv("HYBRIDSERVE_SHM_DIR", dir.path.c_str(), 1);
  for (const std::string model : {"llama-gqa", "opt-tiny"})
    for (const WeightFormat f : {WeightFormat::native, WeightFormat::int8}) {
      const test::Golden golden = test::load_golden(model);
      const auto weights = open_model_dir(test::data_path("models/" + model));
      const ModelConfig& c = weights->config();
      const std::vector<GenRequest> batch = test::golden_batch(golden);
      const Workload w = test::workload_of(batch);
      const int64_t layer = layer_bytes(c, f);
      for (const auto& [policy, act] :
           {std::pair{Policy::kv, 0.0}, std::pair{Policy::act, 1.0}, std::pair{Policy::hybrid, 0.5},
            std::pair{Policy::recompute_tokens, 0.0}}) {
        Plan p = test::hand_plan(policy, act, /*gpu_weight_layers=*/0, 0, 2);
        p.weight_format = f;
        p.quant_group = 16;
        // The reference: Hugging Face's tokens, or for int8 weights the lone engine's; and
        // the lone engine's logits, bit for bit.
        std::vector<std::vector<int32_t>> want;
        test::LogitsRows lone_logits;
        HybridEngine lone(*weights, make_backend("cpu"), p, w);
        lone.set_logits_observer(test::record_logits(lone_logits));
        for (const GenResult& g : lone.generate(batch, SamplingParams{})) want.push_back(g.output);
        ASSERT_FALSE(lone_logits.empty());
        if (f == WeightFormat::native) {
          want.clear();
          for (const auto& k : golden.cases) want.push_back(k.greedy);
        }
        for (const int n : {2, 3}) {
          const std::string what =
              cat(model, " ", weight_format_name(f), " ", policy_name(policy), ", ", n, " ranks");
          const std::vector<RankRun> runs = run_ranks(*weights, p, w, batch, n);
          const int64_t share = (layer + n - 1) / n;
          for (int r = 0; r < n; ++r) {
            const RankRun& run = runs[static_cast<size_t>(r)];
            ASSERT_EQ(run.error, "") << what << ", rank " << r;
            // Tokens: each of the rank's requests as the reference has it.
            size_t k = 0;
            for (size_t i = 0; i < batch.size(); ++i) {
              if (n != 1 && (r >= 2 || static_cast<int>(i % 2) != r)) continue;
              ASSERT_LT(k, run.out.size()) << what;
              EXPECT_EQ(run.out[k].output, want[i]) << what << ", rank " << r << ", case " << i;
              for (int64_t step = 0; lone_logits.count({i, step}); ++step)
                EXPECT_EQ(run.logits.at({k, step}), lone_logits.at({i, step}))
                    << what << ", rank " << r << ", case " << i << ", step " << step;
              ++k;
            }
            EXPECT_EQ(k, run.out.size()) << what;
            // Bytes: per step, the rank's share of every layer crossed and the rest came from
            // its peers (the last rank's share is what is left of the layer).
            const int64_t own = std::max<int64_t>(0, std::min(layer, (r + 1) * share) - r * share);
            std::map<int64_t, int64_t> copied, exchanged;  // by step
            for (const TraceEvent& e : run.trace) {
              if (e.kind == TraceKind::weights) copied[e.step] += e.bytes;
              if (e.kind == TraceKind::exchange) exchanged[e.step] += e.bytes;
            }
            EXPECT_EQ(copied.size(), exchanged.size()) << what;
            for (const auto& [step, bytes] : copied) {
              EXPECT_EQ(bytes, c.n_layers * own) << what << ", rank " << r << ", step " << step;
              EXPECT_EQ(exchanged[step], c.n_layers * (layer - own))
                  << what << ", rank " << r << ", step " << step;
            }
            if (!run.out.empty()) {
              EXPECT_FALSE(copied.empty()) << what;
            }
          }
        }
      }
    }
  ::unsetenv("HYBRIDSERVE_SHM_DIR");
}

TEST(EngineExchange, LayersStoredOnTheDeviceAreNotExchanged) {
  test::ShmDir dir;
  ::setenv("HYBRIDSERVE_SHM_DIR", dir.path.c_str(), 1);
  const test::Golden golden = test::load_golden("opt-tiny");
  const auto weights = open_model_dir(test::data_path("models/opt-tiny"));
  const std::vector<GenRequest> batch = test::golden_batch(golden);
  const Workload w = test::workload_of(batch);
  Plan p = test::hand_plan(Policy::hybrid, 0.5, 0, 0, 2);
  p.weight_format = WeightFormat::int4;
  p.quant_group = 16;
  p.gpu_stored_weight_layers = 1;
  HybridEngine lone(*weights, make_backend("cpu"), p, w);
  const std::vector<GenResult> want = lone.generate(batch, SamplingParams{});
  const std::vector<RankRun> runs = run_ranks(*weights, p, w, batch, 2);
  std::set<int32_t> stored;
  for (int32_t l = 0; l < weights->config().n_layers; ++l)
    if (stores_weights_on_device(p, weights->config().n_layers, l)) stored.insert(l);
  ASSERT_EQ(stored.size(), 1u);
  for (int r = 0; r < 2; ++r) {
    const RankRun& run = runs[static_cast<size_t>(r)];
    ASSERT_EQ(run.error, "") << "rank " << r;
    for (size_t k = 0; k < run.out.size(); ++k)
      EXPECT_EQ(run.out[k].output, want[2 * k + static_cast<size_t>(r)].output) << "rank " << r;
    int64_t exchanges = 0;
    for (const TraceEvent& e : run.trace) {
      if (e.kind != TraceKind::exchange) continue;
      ++exchanges;
      EXPECT_EQ(stored.count(e.layer), 0u) << "layer " << e.layer << " is stored, yet exchanged";
    }
    EXPECT_GT(exchanges, 0) << "rank " << r;
  }
  ::unsetenv("HYBRIDSERVE_SHM_DIR");
}

TEST(EngineExchange, RefusesPlansItCannotRun) {
  const auto weights = open_model_dir(test::data_path("models/opt-tiny"));
  const test::Golden golden = test::load_golden("opt-tiny");
  const Workload w = test::workload_of(test::golden_batch(golden));
  Plan p = test::hand_plan(Policy::kv, 0, 0, 0, 2);
  p.exchange_ranks = 2;
  p.node.ranks = 2;
  auto error_of = [&](const Plan& plan, NodeGroup* g) {
    MemoryLimits limits;
    limits.node = g;
    try {
      HybridEngine e(*weights, make_backend("cpu"), plan, w, limits);
    } catch (const std::exception& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  // Alone, where the plan names two ranks.
  EXPECT_NE(error_of(p, nullptr)
                .find("exchanges weights among 2 ranks but this rank's node "
                      "group has 1"),
            std::string::npos);
  // Each rank with its own copy: there is no node copy to take the shares from.
  test::ThreadNode node(2);
  std::string errors[2];
  std::thread t1([&] {
    test::ThreadRank g(node, 1);
    errors[1] = error_of(p, &g);
  });
  test::ThreadRank g0(node, 0);
  errors[0] = error_of(p, &g0);
  t1.join();
  for (const std::string& e : errors)
    EXPECT_NE(e.find("it needs shared weights (--share-weights node)"), std::string::npos) << e;
}

}  // namespace
}  // namespace hs

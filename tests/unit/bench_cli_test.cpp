// hybridserve bench on the cpu backend, checked against closed forms rather than its own
// numbers: the throughput formulas, and the exact H2D bytes of a run that keeps no cache.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "test_support.h"

namespace hs {
namespace {

TEST(BenchCli, MatchesClosedForms) {
  const int64_t batch = 2, prompt = 8, gen = 3;
  auto r = test::run_cli({"bench", "--device", "cpu", "--model-shape", "opt-125m", "--batch",
                          std::to_string(batch), "--prompt-len", std::to_string(prompt),
                          "--gen-len", std::to_string(gen), "--policy", "recompute-tokens",
                          "--gpu-mem-gib", "0.3", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["policy"], "recompute-tokens");

  // The paper's metric and its two halves.
  const double prefill_s = j["prefill_s"], decode_s = j["decode_s"];
  ASSERT_GT(prefill_s, 0);
  ASSERT_GT(decode_s, 0);
  EXPECT_NEAR(j["total_tokens_per_s"].get<double>(), batch * gen / (prefill_s + decode_s), 1e-6);
  EXPECT_NEAR(j["prefill_tokens_per_s"].get<double>(), batch * prompt / prefill_s, 1e-6);
  EXPECT_NEAR(j["decode_tokens_per_s"].get<double>(), batch * (gen - 1) / decode_s, 1e-6);

  // No cache: H2D is only the streamed layers' weights, once per step (prefill + gen-1 decode
  // steps). OPT-125m layer: q,k,v,o (4h^2 + 4h), two LayerNorms (4h), fc1 and fc2 (8h^2 + 5h):
  // 12h^2 + 13h fp32 parameters, h = 768.
  const int64_t h = 768, layers = 12, layer_bytes = (12 * h * h + 13 * h) * 4;
  const int64_t resident = j["gpu_weight_layers"];
  ASSERT_LT(resident, layers) << "the budget should leave layers to stream";
  EXPECT_EQ(j["h2d_bytes"].get<int64_t>(), gen * (layers - resident) * layer_bytes);
  EXPECT_EQ(j["d2h_bytes"].get<int64_t>(), 0);
  const double busy = j["gpu_busy_fraction"];
  EXPECT_GT(busy, 0);
  EXPECT_LE(busy, 1.0 + 1e-9);

  // The link sampled by back-to-back 64 MiB copies (default 1 s, at least four copies; its
  // arithmetic is Profile.H2dSampleIsBytesOverTimeWithTheHalfRateCopiesCounted): a rate by time
  // lies between the slowest and the fastest copy, and the share reported is the achieved rate
  // over it.
  const auto& link = j["h2d_sample"];
  EXPECT_GE(link["copies"].get<int64_t>(), 4);
  EXPECT_EQ(link["copy_bytes"].get<int64_t>(), int64_t(64) << 20);
  const double sustained = j["h2d_gbps_sustained"], best = link["best_gbps"],
               slowest = link["slowest_gbps"];
  EXPECT_GT(slowest, 0);
  EXPECT_LE(slowest, sustained * (1 + 1e-9));
  EXPECT_LE(sustained, best * (1 + 1e-9));
  EXPECT_LE(link["half_rate_copies"].get<int64_t>(), link["copies"].get<int64_t>() - 1);
  EXPECT_NEAR(j["h2d_fraction_of_sustained"].get<double>(),
              j["h2d_gbps_achieved"].get<double>() / sustained, 1e-12);
}

TEST(BenchCli, RefusesANegativeH2dSample) {
  auto r = test::run_cli({"bench", "--device", "cpu", "--model-shape", "opt-125m", "--batch", "1",
                          "--prompt-len", "4", "--gen-len", "2", "--h2d-sample-ms", "-5"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("--h2d-sample-ms"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace hs

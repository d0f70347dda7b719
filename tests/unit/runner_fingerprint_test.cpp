// A job's fingerprint: equal for the same model, input and generation options; each kind of
// change is named in the difference list (what --resume prints for a foreign journal).
#include <gtest/gtest.h>

#include <filesystem>

#include "runner/job/fingerprint.h"
#include "test_support.h"

namespace hs {
namespace {

bool mentions(const std::vector<std::string>& diffs, const std::string& what) {
  for (const std::string& d : diffs)
    if (d.find(what) != std::string::npos) return true;
  return false;
}

struct FingerprintTest : ::testing::Test {
  std::string dir = test::temp_dir();
  FingerprintInputs in;
  void SetUp() override {
    std::filesystem::copy(test::data_path("models/opt-tiny"), dir + "/model");
    test::write_file(dir + "/in.jsonl", "{\"id\": \"a\", \"input_ids\": [1, 2]}\n");
    in.model_dir = dir + "/model";
    in.input_path = dir + "/in.jsonl";
    in.max_new_tokens = 8;
  }
};

TEST_F(FingerprintTest, SameJobSameFingerprint) {
  EXPECT_TRUE(fingerprint_differences(job_fingerprint(in), job_fingerprint(in)).empty());
  // The fingerprint survives its JSON text (the journal stores it so).
  const auto j = job_fingerprint(in);
  EXPECT_TRUE(fingerprint_differences(nlohmann::json::parse(j.dump()), j).empty());
}

TEST_F(FingerprintTest, EachChangeIsNamed) {
  const auto before = job_fingerprint(in);
  test::write_file(in.input_path, "{\"id\": \"a\", \"input_ids\": [1, 3]}\n");  // same size
  auto d = fingerprint_differences(before, job_fingerprint(in));
  ASSERT_EQ(d.size(), 1u);
  EXPECT_TRUE(mentions(d, "input file contents (input.fnv1a64)"));

  const auto before2 = job_fingerprint(in);
  in.max_new_tokens = 9;
  in.sampling.temperature = 0.5f;
  in.stop = {"\n"};
  d = fingerprint_differences(before2, job_fingerprint(in));
  EXPECT_EQ(d.size(), 3u);
  EXPECT_TRUE(mentions(d, "--max-new-tokens (generation.max_new_tokens): journal 8, this run 9"));
  EXPECT_TRUE(mentions(d, "--temperature"));
  EXPECT_TRUE(mentions(d, "--stop strings"));

  const auto before3 = job_fingerprint(in);
  test::write_file(in.model_dir + "/tokenizer.json", "{}");
  std::filesystem::resize_file(in.model_dir + "/model.safetensors", 10);
  d = fingerprint_differences(before3, job_fingerprint(in));
  EXPECT_TRUE(mentions(d, "model tokenizer.json contents"));
  EXPECT_TRUE(mentions(d, "model weight files (name:bytes)"));
}

// A lossy weight format changes the tokens, so it belongs to the job; native adds no field, so
// journals written before the formats existed resume as they did.
TEST_F(FingerprintTest, ALossyWeightFormatIsPartOfTheJob) {
  const auto native = job_fingerprint(in);
  EXPECT_FALSE(native.contains("weights.format"));
  in.weight_format = "fp16";  // the element type itself: native
  EXPECT_TRUE(fingerprint_differences(native, job_fingerprint(in)).empty());
  in.weight_format = "int4";
  const auto int4 = job_fingerprint(in);
  auto d = fingerprint_differences(native, int4);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_TRUE(mentions(d,
                       "--weight-format and --weight-group (weights.format): journal "
                       "\"(absent)\", this run \"int4 group 64\""));
  in.weight_group = 32;
  EXPECT_EQ(fingerprint_differences(int4, job_fingerprint(in)).size(), 1u);
  in.weight_format = "int8";
  EXPECT_EQ(job_fingerprint(in)["weights.format"], "int8");
}

}  // namespace
}  // namespace hs

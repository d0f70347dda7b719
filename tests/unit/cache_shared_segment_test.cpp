// The node's shared weight segment and loading together: the segment is owner-only and loses its
// name once mapped; a name that exists already is refused and left as it was; a tmpfs too small
// says what to change; leftovers of dead makers are removed, nothing else; together() makes every
// rank fail when one does; and two ranks (threads here, MPI ranks in tests/system/
// node_pool_test.sh) that share one segment, each loading half of it, give Hugging Face's tokens.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>

#include "backend/backend.h"
#include "cache/node_group.h"
#include "cache/shared_segment.h"
#include "engine/engine.h"
#include "goldens.h"
#include "model/weights.h"
#include "test_support.h"
#include "thread_group.h"
#include "util/error.h"

namespace hs {
namespace {

namespace fs = std::filesystem;

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

// A group whose other ranks are told by the test: all_ok answers `others_ok && ok`.
class ScriptedGroup final : public NodeGroup {
 public:
  explicit ScriptedGroup(bool others_ok) : others_ok_(others_ok) {}
  int rank() const override { return 0; }
  int size() const override { return 2; }
  std::string name() const override { return "n1"; }
  std::string broadcast(const std::string& v) override { return v; }
  int64_t min(int64_t v) override { return v; }
  bool all_ok(bool ok) override {
    said.push_back(ok);
    return ok && others_ok_;
  }
  void all_gather(void*, const std::vector<int64_t>&) override {}
  std::vector<bool> said;

 private:
  bool others_ok_;
};

using test::ThreadNode;
using test::ThreadRank;

using test::ShmDir;

TEST(Together, ThisRanksErrorIsRethrownAfterTheOthersHearOfIt) {
  ScriptedGroup g(/*others_ok=*/true);
  const std::string msg = error_of([&] { together(g, "loading", [] { fail("disk on fire"); }); });
  EXPECT_EQ(msg, "disk on fire");
  EXPECT_EQ(g.said, std::vector<bool>{false});
}

TEST(Together, AnotherRanksFailureStopsThisOneWithWhatItWasDoing) {
  ScriptedGroup g(/*others_ok=*/false);
  bool ran = false;
  const std::string msg =
      error_of([&] { together(g, "loading the weights", [&] { ran = true; }); });
  EXPECT_TRUE(ran);
  EXPECT_NE(msg.find("another rank of node 'n1' failed while loading the weights"),
            std::string::npos)
      << msg;
  EXPECT_EQ(g.said, std::vector<bool>{true});
}

TEST(Together, ReturnsWhenEveryRankSucceeded) {
  ScriptedGroup g(/*others_ok=*/true);
  EXPECT_NO_THROW(together(g, "x", [] {}));
}

TEST(SharedSegment, IsOwnerOnlyWritableMemoryWhoseNameGoesOnceMapped) {
  ShmDir dir;
  LoneGroup g;
  SegmentOptions o;
  o.dir = dir.path;
  o.name = "seg";
  const size_t bytes = size_t(3) << 20;
  SharedSegment s(g, bytes, o);
  EXPECT_EQ(s.path(), dir.path + "/seg");
  EXPECT_FALSE(fs::exists(s.path()));  // every rank (one) maps it: the name is gone
  ASSERT_NE(s.base(), nullptr);
  std::memset(s.base(), 0x5a, bytes);  // writable, every byte reserved
  // The mapping's file, as the kernel shows it to its owner: a regular file of this uid, 0600.
  char range[64];
  std::snprintf(range, sizeof range, "%lx-%lx", reinterpret_cast<unsigned long>(s.base()),
                reinterpret_cast<unsigned long>(static_cast<char*>(s.base()) + bytes));
  struct stat st {};
  ASSERT_EQ(::stat((std::string("/proc/self/map_files/") + range).c_str(), &st), 0)
      << std::strerror(errno);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(st.st_uid, geteuid());
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(static_cast<size_t>(st.st_size), bytes);
}

TEST(SharedSegment, ANameThatExistsIsRefusedAndLeftAsItWas) {
  ShmDir dir;
  test::write_file(dir.path + "/taken", "someone's bytes");
  LoneGroup g;
  SegmentOptions o;
  o.dir = dir.path;
  o.name = "taken";
  const std::string msg = error_of([&] { SharedSegment s(g, 4096, o); });
  EXPECT_NE(msg.find("'" + dir.path + "/taken': the name exists already (owner uid " +
                     std::to_string(geteuid()) + ")"),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find("never opened"), std::string::npos) << msg;
  EXPECT_EQ(test::read_file(dir.path + "/taken"), "someone's bytes");
}

TEST(SharedSegment, ASymlinkedNameIsRefused) {
  ShmDir dir;
  test::write_file(dir.path + "/target", "x");
  fs::create_symlink(dir.path + "/target", dir.path + "/link");
  LoneGroup g;
  SegmentOptions o;
  o.dir = dir.path;
  o.name = "link";
  EXPECT_NE(error_of([&] { SharedSegment s(g, 4096, o); }).find("exists already"),
            std::string::npos);
  EXPECT_EQ(test::read_file(dir.path + "/target"), "x");
}

TEST(SharedSegment, ATmpfsTooSmallSaysWhatToChange) {
  // More than the whole of /dev/shm: the kernel refuses the reservation at once.
  struct statvfs v {};
  ASSERT_EQ(::statvfs("/dev/shm", &v), 0);
  ASSERT_GT(v.f_blocks, 0u) << "/dev/shm has no size limit here";
  const size_t total = static_cast<size_t>(v.f_blocks) * v.f_frsize;
  ShmDir dir;
  LoneGroup g;
  SegmentOptions o;
  o.dir = dir.path;
  const std::string msg = error_of([&] { SharedSegment s(g, total + (size_t(1) << 30), o); });
  EXPECT_NE(msg.find("the node's shared weight segment needs"), std::string::npos) << msg;
  EXPECT_NE(msg.find("free"), std::string::npos) << msg;
  EXPECT_NE(msg.find("HYBRIDSERVE_SHM_DIR"), std::string::npos) << msg;
  EXPECT_NE(msg.find("--share-weights none"), std::string::npos) << msg;
  EXPECT_TRUE(fs::is_empty(dir.path));  // nothing left behind
}

TEST(SharedSegment, LeftoversOfDeadMakersAreRemovedAndNothingElse) {
  ShmDir dir;
  const pid_t child = fork();
  if (child == 0) _exit(0);
  ASSERT_GT(child, 0);
  ASSERT_EQ(waitpid(child, nullptr, 0), child);  // its pid is now nobody's
  const std::string mine = "hybridserve-w-" + std::to_string(geteuid()) + "-";
  const std::string dead = dir.path + "/" + mine + std::to_string(child) + "-aa";
  const std::string live = dir.path + "/" + mine + std::to_string(getpid()) + "-bb";
  const std::string other = dir.path + "/hybridserve-w-" + std::to_string(geteuid() + 1) + "-" +
                            std::to_string(child) + "-cc";
  const std::string unrelated = dir.path + "/something-else";
  for (const auto& p : {dead, live, other, unrelated}) test::write_file(p, "x");
  EXPECT_EQ(remove_stale_segments(dir.path), 1);
  EXPECT_FALSE(fs::exists(dead));
  EXPECT_TRUE(fs::exists(live));
  EXPECT_TRUE(fs::exists(other));  // another uid's name is not this user's to judge
  EXPECT_TRUE(fs::exists(unrelated));
}

TEST(SharedSegment, TheOtherRanksMapWhatTheFirstMade) {
  ShmDir dir;
  ThreadNode node(3);
  std::vector<std::string> seen(3), errors(3);
  std::vector<std::thread> ts;
  for (int r = 0; r < 3; ++r)
    ts.emplace_back([&, r] {
      ThreadRank g(node, r);
      SegmentOptions o;
      o.dir = dir.path;
      try {
        SharedSegment s(g, 1 << 20, o);
        if (r == 0) std::strcpy(static_cast<char*>(s.base()), "written by rank 0");
        g.all_ok(true);  // rank 0 has written
        seen[static_cast<size_t>(r)] = static_cast<const char*>(s.base());
        g.all_ok(true);  // everyone has read before anyone unmaps
      } catch (const std::exception& e) {
        errors[static_cast<size_t>(r)] = e.what();
      }
    });
  for (auto& t : ts) t.join();
  for (int r = 0; r < 3; ++r) {
    EXPECT_EQ(errors[static_cast<size_t>(r)], "") << "rank " << r;
    EXPECT_EQ(seen[static_cast<size_t>(r)], "written by rank 0") << "rank " << r;
  }
  EXPECT_TRUE(fs::is_empty(dir.path));
}

// Two engines on two threads, each a rank of one node: they lay the streamed weights out once in
// a shared segment and each reads half of them. Both give Hugging Face's greedy tokens (a rank
// that loaded only its half, or read the wrong half, could not), for each cache policy.
TEST(SharedWeights, TwoRanksLoadingHalfEachGiveHuggingFacesTokens) {
  const test::Golden golden = test::load_golden("llama-tiny");
  const auto weights = open_model_dir(test::data_path("models/llama-tiny"));
  const std::vector<GenRequest> batch = test::golden_batch(golden);
  Workload w;
  for (const auto& r : batch) {
    w.prompt_lens.push_back(static_cast<int64_t>(r.prompt.size()));
    w.gen_lens.push_back(golden.max_new_tokens);
  }
  ShmDir dir;
  ::setenv("HYBRIDSERVE_SHM_DIR", dir.path.c_str(), 1);
  for (const auto& [policy, f] :
       {std::pair{Policy::kv, 0.0}, std::pair{Policy::act, 1.0}, std::pair{Policy::hybrid, 0.5}}) {
    Plan p;
    p.policy = policy;
    p.act_fraction = f;
    p.block_tokens = 4;
    p.mini_batch_size = 3;
    p.dtype = DType::f32;
    p.gpu_weight_layers = 0;  // every layer streamed from the shared segment
    p.node.ranks = 2;
    p.node.shared_weights = true;
    ThreadNode node(2);
    std::vector<std::vector<GenResult>> out(2);
    std::vector<std::string> errors(2);
    std::vector<int64_t> shared(2);
    std::vector<std::thread> ts;
    for (int r = 0; r < 2; ++r)
      ts.emplace_back([&, r] {
        ThreadRank g(node, r);
        MemoryLimits limits;
        limits.node = &g;
        try {
          HybridEngine e(*weights, make_backend("cpu"), p, w, limits);
          shared[static_cast<size_t>(r)] = e.shared_weight_bytes();
          out[static_cast<size_t>(r)] = e.generate(batch, SamplingParams{});
        } catch (const std::exception& e) {
          errors[static_cast<size_t>(r)] = e.what();
        }
      });
    for (auto& t : ts) t.join();
    for (int r = 0; r < 2; ++r) {
      ASSERT_EQ(errors[static_cast<size_t>(r)], "") << policy_name(policy) << " rank " << r;
      EXPECT_GT(shared[static_cast<size_t>(r)], 0);
      ASSERT_EQ(out[static_cast<size_t>(r)].size(), golden.cases.size());
      for (size_t i = 0; i < golden.cases.size(); ++i)
        EXPECT_EQ(out[static_cast<size_t>(r)][i].output, golden.cases[i].greedy)
            << policy_name(policy) << " rank " << r << " case " << i;
    }
  }
  ::unsetenv("HYBRIDSERVE_SHM_DIR");
  EXPECT_TRUE(fs::is_empty(dir.path));
}

}  // namespace
}  // namespace hs

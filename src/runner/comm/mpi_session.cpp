#include "runner/comm/mpi_session.h"

#include <chrono>
#include <climits>
#include <cstdlib>
#include <functional>
#include <thread>

#ifdef HS_HAVE_MPI
#include <mpi.h>
#endif

#include "util/error.h"

namespace hs {
namespace {

const char* env(const char* name) {
  const char* v = std::getenv(name);
  return (v && *v) ? v : nullptr;
}

// Which launcher started us, from the variables each one sets; "none" if none did.
std::string detect_launcher() {
  if (env("OMPI_COMM_WORLD_SIZE")) return "mpirun";
  if (env("PMIX_RANK")) return env("SLURM_STEP_ID") ? "srun" : "pmix";
  if (env("PMI_RANK")) return "pmi";
  return "none";
}

int env_int(const char* name, int fallback) {
  const char* v = env(name);
  return v ? std::atoi(v) : fallback;
}

std::string node_name() {
  LoneGroup host;
  const char* split = env("HYBRIDSERVE_NODE");
  return split ? host.name() + "/" + split : host.name();
}

#ifdef HS_HAVE_MPI
// Waits for a nonblocking collective, polling with the same back-off as receive(): a blocking
// one spins a core at 100% while the ranks of a node load their shares of the weights.
void wait_polling(MPI_Request& r) {
  auto wait = std::chrono::microseconds(10);
  for (;;) {
    int done = 0;
    MPI_Test(&r, &done, MPI_STATUS_IGNORE);
    if (done) return;
    std::this_thread::sleep_for(wait);
    wait = std::min(wait * 2, std::chrono::microseconds(250));
  }
}

class MpiNodeGroup final : public NodeGroup {
 public:
  explicit MpiNodeGroup(MPI_Comm comm) : comm_(comm), name_(node_name()) {
    MPI_Comm_rank(comm_, &rank_);
    MPI_Comm_size(comm_, &size_);
  }
  ~MpiNodeGroup() override {
    if (!leave_) MPI_Comm_free(&comm_);
  }
  void leave() { leave_ = true; }  // after abandon(): no more MPI calls

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string name() const override { return name_; }
  std::string broadcast(const std::string& value) override {
    int64_t n = static_cast<int64_t>(value.size());
    MPI_Request r;
    MPI_Ibcast(&n, 1, MPI_INT64_T, 0, comm_, &r);
    wait_polling(r);
    HS_CHECK(n >= 0 && n <= INT_MAX, "node broadcast of ", n, " bytes");
    std::string out = rank_ == 0 ? value : std::string(static_cast<size_t>(n), '\0');
    MPI_Ibcast(out.data(), static_cast<int>(n), MPI_BYTE, 0, comm_, &r);
    wait_polling(r);
    return out;
  }
  int64_t min(int64_t value) override {
    int64_t out = 0;
    MPI_Request r;
    MPI_Iallreduce(&value, &out, 1, MPI_INT64_T, MPI_MIN, comm_, &r);
    wait_polling(r);
    return out;
  }
  bool all_ok(bool ok) override {
    int in = ok ? 1 : 0, out = 0;
    MPI_Request r;
    MPI_Iallreduce(&in, &out, 1, MPI_INT, MPI_LAND, comm_, &r);
    wait_polling(r);
    return out != 0;
  }
  void all_gather(void* buf, const std::vector<int64_t>& counts) override {
    HS_CHECK(counts.size() == static_cast<size_t>(size_), "node all-gather of ", counts.size(),
             " shares among ", size_, " ranks");
    std::vector<int> n(counts.size()), at(counts.size());
    int64_t offset = 0;
    for (size_t r = 0; r < counts.size(); ++r) {
      HS_CHECK(counts[r] >= 0 && counts[r] <= INT_MAX && offset <= INT_MAX,
               "node all-gather of a share of ", counts[r], " bytes at ", offset,
               " (MPI counts are int)");
      n[r] = static_cast<int>(counts[r]);
      at[r] = static_cast<int>(offset);
      offset += counts[r];
    }
    MPI_Request r;
    MPI_Iallgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, buf, n.data(), at.data(), MPI_BYTE, comm_,
                    &r);
    wait_polling(r);
  }

 private:
  MPI_Comm comm_;
  std::string name_;
  int rank_ = 0, size_ = 1;
  bool leave_ = false;
};
#endif

}  // namespace

MpiSession::MpiSession() {
  launcher_ = detect_launcher();
  node_ = std::make_unique<LoneGroup>();
  if (launcher_ == "none") {
    // srun without --mpi=pmix starts N copies that know nothing of each other: N jobs writing
    // one output file. Refuse rather than let them race.
    const int step_tasks = env_int("SLURM_STEP_NUM_TASKS", 1);
    HS_CHECK(step_tasks <= 1, "started by srun with ", step_tasks,
             " tasks but without MPI: use 'srun --mpi=pmix' (or mpirun) so the tasks form one "
             "job");
    return;
  }
#ifdef HS_HAVE_MPI
  int provided = 0;
  MPI_Init_thread(nullptr, nullptr, MPI_THREAD_MULTIPLE, &provided);
  active_ = true;
  thread_multiple_ = provided >= MPI_THREAD_MULTIPLE;
  if (provided < MPI_THREAD_FUNNELED) {
    MPI_Finalize();
    active_ = false;
    fail("the MPI library does not support MPI_THREAD_FUNNELED (rank 0 runs an engine thread)");
  }
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
  MPI_Comm local;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &local);
  MPI_Comm_rank(local, &local_rank_);
  MPI_Comm_size(local, &local_size_);
  MPI_Comm node;
  const char* split = env("HYBRIDSERVE_NODE");
  const int color = split ? static_cast<int>(std::hash<std::string>{}(split) % INT_MAX) : 0;
  MPI_Comm_split(local, color, rank_, &node);
  MPI_Comm_free(&local);
  node_ = std::make_unique<MpiNodeGroup>(node);
#else
  const int size = env_int("OMPI_COMM_WORLD_SIZE", env_int("SLURM_STEP_NUM_TASKS", 1));
  HS_CHECK(size <= 1, "started by ", launcher_, " with ", size,
           " ranks, but this hybridserve was built without MPI (HS_WITH_MPI=OFF)");
#endif
}

MpiSession::~MpiSession() {
#ifdef HS_HAVE_MPI
  if (auto* g = dynamic_cast<MpiNodeGroup*>(node_.get()); g && abandoned_) g->leave();
  node_.reset();
  if (active_ && !abandoned_) MPI_Finalize();
#endif
}

int MpiSession::device_index() const {
  const char* visible = env("CUDA_VISIBLE_DEVICES");
  if (visible && std::string(visible).find(',') == std::string::npos) return 0;
  return local_rank_;
}

void MpiSession::send(int to_rank, MsgKind kind, const std::string& payload) const {
#ifdef HS_HAVE_MPI
  HS_CHECK(payload.size() <= static_cast<size_t>(INT_MAX), "message of ", payload.size(),
           " bytes to rank ", to_rank,
           " exceeds MPI's 2 GiB count limit (use a smaller "
           "--batch-size)");
  MPI_Send(payload.data(), static_cast<int>(payload.size()), MPI_BYTE, to_rank,
           static_cast<int>(kind), MPI_COMM_WORLD);
#else
  (void)to_rank, (void)kind, (void)payload;
  fail("MpiSession::send without MPI");
#endif
}

std::optional<Message> MpiSession::try_receive(int from_rank) const {
#ifdef HS_HAVE_MPI
  int flag = 0;
  MPI_Status st;
  MPI_Iprobe(from_rank < 0 ? MPI_ANY_SOURCE : from_rank, MPI_ANY_TAG, MPI_COMM_WORLD, &flag, &st);
  if (!flag) return std::nullopt;
  int count = 0;
  MPI_Get_count(&st, MPI_BYTE, &count);
  Message m;
  m.rank = st.MPI_SOURCE;
  m.kind = static_cast<MsgKind>(st.MPI_TAG);
  m.payload.resize(static_cast<size_t>(count));
  MPI_Recv(m.payload.data(), count, MPI_BYTE, st.MPI_SOURCE, st.MPI_TAG, MPI_COMM_WORLD,
           MPI_STATUS_IGNORE);
  return m;
#else
  (void)from_rank;
  fail("MpiSession::try_receive without MPI");
#endif
}

std::optional<Message> MpiSession::receive_for(int from_rank,
                                               std::chrono::microseconds limit) const {
  const auto end = std::chrono::steady_clock::now() + limit;
  auto wait = std::chrono::microseconds(10);
  for (;;) {
    if (auto m = try_receive(from_rank)) return m;
    const auto now = std::chrono::steady_clock::now();
    if (now >= end) return std::nullopt;
    // Back-off, not synchronisation: the message is taken whenever it is there; this only
    // bounds how long a waiting rank sleeps between looks (at most 250 us: ~4000 cheap MPI_Iprobe
    // calls a second while idle, and at most that much added to a unit round trip).
    std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(wait, end - now));
    wait = std::min(wait * 2, std::chrono::microseconds(250));
  }
}

Message MpiSession::receive(int from_rank) const {
  for (;;)
    if (auto m = receive_for(from_rank, std::chrono::hours(1))) return std::move(*m);
}

}  // namespace hs

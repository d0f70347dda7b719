// A rank's worker: builds the rank's engine on the thread that runs it (a CUDA device is
// current per thread), then asks the coordinator for work units until told to stop. Rank 0 runs
// it on a second thread beside the coordinator; the other ranks on their main thread.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "cache/node_group.h"
#include "engine/factory.h"  // Lockstep
#include "engine/generator.h"
#include "engine/trace.h"
#include "runner/comm/worker_link.h"

namespace hs {

// What a rank computes with. Made by the EngineFactory that `run` passes in, so that the runner
// never names an engine or a backend.
struct RankEngine {
  std::unique_ptr<Generator> generator;
  std::string device_name;  // for /meta hardware, e.g. "cpu" or "NVIDIA H100 80GB HBM3"
  std::string plan_json;    // the engine's plan, if it has one (for /meta plan)
  double load_s = 0;        // seconds the engine took to build (memory and weights)
  int64_t batch = 0;        // the engine batch: requests per work unit this rank is handed
  std::string batch_why;    // how it was chosen (--batch-size auto: the planner's reasons)
  // The engine's trace events since the last call (empty function: the engine keeps none).
  std::function<std::vector<TraceEvent>()> take_trace;
  // Where the engine exchanges weights with the node's ranks (engine/factory.h: lockstep_of),
  // its part in their steps while this rank has no unit; empty otherwise.
  std::function<Lockstep(bool leaving)> join_step;
};
// The envelope of the requests a rank may be handed (over the whole dataset, sent by rank 0 with
// `start`), so that every rank's engine can plan memory for the longest request it will see.
struct JobShape {
  int64_t max_prompt_tokens = 0;
  int64_t max_new_tokens = 0;  // the largest per-request max_new_tokens (the default included)
  int64_t max_batch = 0;       // the job's requests per rank: a larger batch would idle ranks
};
// Where a rank runs: its GPU, and the ranks of its node, with which it may hold one copy of the
// weights (cache/node_group.h).
struct RankPlace {
  int device_index = 0;
  NodeGroup* node = nullptr;
  // The node group's share of this machine's ranks (1 unless HYBRIDSERVE_NODE splits it): the
  // share of the machine's memory its default host budget may take.
  double machine_share = 1;
  // Whether the node group's collectives may run on this thread (MpiSession).
  bool collectives_ok = true;
};
using EngineFactory = std::function<RankEngine(const RankPlace& place, const JobShape& shape)>;

struct WorkerOptions {
  std::string model_dir;  // its tokenizer.json, if any, decodes outputs and --stop
  SamplingParams sampling;
  std::vector<std::string> stop;  // a request ends when its decoded text contains one
  RankPlace place;
  bool keep_trace = true;  // forward the engine's trace events to the coordinator
};

// Runs until the coordinator says stop. With a weight exchange (RankEngine::join_step) the rank
// takes part in its peers' steps whenever it waits for a message, and leaves only once every
// rank of the node leaves. Never throws: a rank that cannot go on (its engine
// does not build, a message is corrupt) reports `failed` with the reason and returns, and the
// job goes on without it. A request whose generation throws is retried alone; if it fails
// alone too, it gets an error result and the rest of its unit goes on.
void run_worker(WorkerLink& link, const EngineFactory& make_engine, const WorkerOptions& o);

// "host (cpu model)" facts of this process's machine, as JSON: {"host", "cpu"}.
std::string host_facts_json();

}  // namespace hs

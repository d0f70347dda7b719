#include "runner/job/worker.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>

#include <nlohmann/json.hpp>

#include "model/tokenizer.h"
#include "runner/job/work_unit.h"
#include "util/error.h"

namespace hs {
namespace {

using json = nlohmann::json;

std::string cpu_model() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("model name", 0) == 0) {
      const size_t colon = line.find(':');
      if (colon != std::string::npos) return line.substr(line.find_first_not_of(" \t", colon + 1));
    }
  }
  return "unknown";
}

struct RankState {
  RankEngine engine;
  std::optional<Tokenizer> tokenizer;
};

// Generates requests `which` of unit u together, with sampling p; a request ends at the job's
// --stop strings and its own. Throws what the engine throws.
std::vector<GenResult> generate(RankState& s, const WorkUnit& u, const std::vector<size_t>& which,
                                const SamplingParams& p, const WorkerOptions& o) {
  std::vector<GenRequest> batch;
  std::vector<std::vector<std::string>> stops;
  std::vector<std::vector<int32_t>> stop_ids;
  for (size_t i : which) {
    batch.push_back(u.requests[i]);
    stops.push_back(o.stop);
    stop_ids.emplace_back();
    if (i < u.options.size()) {
      stops.back().insert(stops.back().end(), u.options[i].stop.begin(), u.options[i].stop.end());
      stop_ids.back() = u.options[i].stop_ids;
    }
  }
  StopFn stop;
  const bool any_ids =
      std::any_of(stop_ids.begin(), stop_ids.end(), [](auto& v) { return !v.empty(); });
  const bool any_strings =
      s.tokenizer && std::any_of(stops.begin(), stops.end(), [](auto& v) { return !v.empty(); });
  if (any_ids || any_strings) {
    stop = [&](size_t index, const std::vector<int32_t>& output) {
      const std::vector<int32_t>& ids = stop_ids[index];
      if (!output.empty() && std::find(ids.begin(), ids.end(), output.back()) != ids.end())
        return true;
      if (!s.tokenizer || stops[index].empty()) return false;
      const std::string text = s.tokenizer->decode(output, /*skip_special_tokens=*/true);
      for (const std::string& str : stops[index])
        if (text.find(str) != std::string::npos) return true;
      return false;
    };
  }
  std::vector<GenResult> out = s.engine.generator->generate(batch, p, stop);
  HS_CHECK(out.size() == batch.size(), "engine returned ", out.size(), " results for ",
           batch.size(), " requests");
  for (size_t i = 0; i < out.size(); ++i)
    HS_CHECK(out[i].id == batch[i].id, "engine returned result '", out[i].id, "' in place of '",
             batch[i].id, "'");
  return out;
}

RequestResult to_result(RankState& s, int64_t row, const GenResult& g) {
  RequestResult r;
  r.row = row;
  r.id = g.id;
  r.output_ids = g.output;
  r.finish_reason = g.finish_reason;
  if (s.tokenizer) r.text = s.tokenizer->decode(g.output, /*skip_special_tokens=*/true);
  return r;
}

UnitResult run_unit(RankState& s, const WorkUnit& u, int rank, const WorkerOptions& o) {
  UnitResult r;
  r.unit = u.index;
  r.rank = rank;
  const auto t0 = std::chrono::steady_clock::now();
  auto sampling_of = [&](size_t i) {
    return i < u.options.size() ? u.options[i].over(o.sampling) : o.sampling;
  };
  // Requests that sample alike run as one batch (the engine samples a batch one way); most
  // units are one such group.
  std::vector<std::pair<SamplingParams, std::vector<size_t>>> groups;
  for (size_t i = 0; i < u.requests.size(); ++i) {
    const SamplingParams p = sampling_of(i);
    auto same = [&](const auto& g) {
      return g.first.temperature == p.temperature && g.first.top_k == p.top_k &&
             g.first.top_p == p.top_p && g.first.seed == p.seed;
    };
    auto it = std::find_if(groups.begin(), groups.end(), same);
    if (it == groups.end()) it = groups.insert(groups.end(), {p, {}});
    it->second.push_back(i);
  }
  std::vector<RequestResult> results(u.requests.size());
  try {
    for (const auto& [p, which] : groups) {
      std::vector<GenResult> gen = generate(s, u, which, p, o);
      for (size_t k = 0; k < which.size(); ++k)
        results[which[k]] = to_result(s, u.rows[which[k]], gen[k]);
    }
  } catch (const std::exception& batch_error) {
    // One bad request must not fail its neighbours: retry each alone, keep what succeeds.
    for (size_t i = 0; i < u.requests.size(); ++i) {
      try {
        std::vector<GenResult> one = generate(s, u, {i}, sampling_of(i), o);
        results[i] = to_result(s, u.rows[i], one[0]);
      } catch (const std::exception& e) {
        RequestResult bad;
        bad.row = u.rows[i];
        bad.id = u.requests[i].id;
        bad.ok = false;
        bad.error = cat("generation failed: ", e.what());
        results[i] = std::move(bad);
      }
    }
  }
  r.results = std::move(results);
  r.compute_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  if (s.engine.take_trace) {
    r.trace = s.engine.take_trace();  // drained either way, so the engine does not keep it
    if (!o.keep_trace) r.trace.clear();
  }
  return r;
}

}  // namespace

std::string host_facts_json() {
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  return json{{"host", host}, {"cpu", cpu_model()}}.dump();
}

void run_worker(WorkerLink& link, const EngineFactory& make_engine, const WorkerOptions& o) {
  const int rank = link.rank();
  RankState s;  // outlives the try: a failed rank still takes part in its peers' steps
  std::function<Lockstep(bool)> join;
  // The coordinator's next message. With a weight exchange, the rank takes part in its peers'
  // steps while it waits (their all-gathers need its share), looking for a message between
  // them, and waiting up to 1 ms for one while no rank runs a step.
  auto next = [&]() -> Message {
    if (!join) return link.receive();
    for (;;) {
      if (auto m = link.receive_for(std::chrono::microseconds(0))) return std::move(*m);
      if (join(false) == Lockstep::idle)
        if (auto m = link.receive_for(std::chrono::milliseconds(1))) return std::move(*m);
    }
  };
  // Told to stop: with a weight exchange, steps go on until every rank of the node is leaving.
  auto leave = [&] {
    if (join)
      while (join(true) != Lockstep::all_left) {
      }
  };
  try {
    const Message start = link.receive();
    if (start.kind != MsgKind::start) return;  // the job stopped before it began (or had no work)
    const json shape_json = json::parse(start.payload);
    JobShape shape;
    shape.max_prompt_tokens = shape_json.at("max_prompt_tokens").get<int64_t>();
    shape.max_new_tokens = shape_json.at("max_new_tokens").get<int64_t>();
    shape.max_batch = shape_json.value("max_batch", int64_t{0});
    s.engine = make_engine(o.place, shape);
    HS_CHECK(s.engine.generator != nullptr, "the engine factory made no generator");
    join = s.engine.join_step;
    if (Tokenizer::available(o.model_dir)) s.tokenizer = Tokenizer::from_model_dir(o.model_dir);
    json hello = json::parse(host_facts_json());
    hello["rank"] = rank;
    hello["pid"] = static_cast<int64_t>(getpid());
    hello["device"] = s.engine.device_name;
    hello["device_index"] = o.place.device_index;
    hello["plan"] = s.engine.plan_json;
    hello["load_s"] = s.engine.load_s;
    hello["batch"] = s.engine.batch;
    hello["batch_choice"] = s.engine.batch_why;
    const json plan = s.engine.plan_json.empty() ? json::object()
                                                 : json::parse(s.engine.plan_json, nullptr, false);
    const int64_t shared_weight_bytes =
        plan.contains("node") ? plan.at("node").value("shared_weight_bytes", int64_t(0)) : 0;
    const NodeGroup* node = o.place.node;
    hello["node"] = {{"name", node ? node->name() : std::string()},
                     {"ranks", node ? node->size() : 1},
                     {"rank", node ? node->rank() : 0},
                     {"shared_weight_bytes", shared_weight_bytes}};
    std::fprintf(
        stderr,
        "hybridserve: rank %d (pid %d, %s, node %s, %d rank%s): engine ready in %.2f s, %s%s\n",
        rank, static_cast<int>(getpid()), s.engine.device_name.c_str(),
        node ? node->name().c_str() : "-", node ? node->size() : 1,
        node && node->size() > 1 ? "s" : "", s.engine.load_s, s.engine.batch_why.c_str(),
        shared_weight_bytes > 0 ? cat(", sharing ", shared_weight_bytes,
                                      " bytes of streamed weights with the node's ranks")
                                      .c_str()
                                : "");
    link.send(MsgKind::hello, hello.dump());
    for (;;) {
      Message m = next();
      if (m.kind != MsgKind::unit) {  // stop
        leave();
        return;
      }
      const WorkUnit u = decode_work_unit(m.payload);
      link.send(MsgKind::result, encode_unit_result(run_unit(s, u, rank, o), /*with_trace=*/true));
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "hybridserve: rank %d: %s\n", rank, e.what());
    link.send(MsgKind::failed, e.what());
    // The coordinator answers `failed` with stop; wait for it so that no message is left
    // in flight when the rank leaves.
    while (next().kind != MsgKind::stop) {
    }
    leave();
  }
}

}  // namespace hs

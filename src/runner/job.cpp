#include "runner/job.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "model/config.h"
#include "model/tokenizer.h"
#include "runner/coordinator.h"
#include "runner/coordinator_link.h"
#include "runner/dataset.h"
#include "runner/fingerprint.h"
#include "runner/interrupt.h"
#include "runner/job_output.h"
#include "runner/mpi_session.h"
#include "runner/progress.h"
#include "util/error.h"

namespace hs {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

std::string iso_now() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// The command line as the shell would show it (arguments with spaces quoted).
std::string command_line() {
  std::ifstream f("/proc/self/cmdline", std::ios::binary);
  std::string all((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  std::string out, arg;
  std::istringstream in(all);
  while (std::getline(in, arg, '\0')) {
    if (!out.empty()) out += ' ';
    out += arg.find_first_of(" \t\"'") == std::string::npos ? arg : json(arg).dump();
  }
  return out;
}

std::string read_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

void check_options(const JobOptions& o) {
  validate(o.sampling);
  HS_CHECK(o.max_new_tokens >= 0, "--max-new-tokens must be >= 0");
  HS_CHECK(o.batch_size > 0, "--batch-size must be > 0");
  HS_CHECK(o.checkpoint_s >= 0, "--checkpoint-s must be >= 0");
  HS_CHECK(o.progress_s > 0, "--progress-s must be > 0");
  for (const std::string& s : o.stop) HS_CHECK(!s.empty(), "--stop strings must not be empty");
  HS_CHECK(!o.retry_failed || o.resume, "--retry-failed goes with --resume");
}

void check_input(const std::string& path) {
  std::error_code ec;
  HS_CHECK(fs::exists(path, ec), "cannot open input file '", path, "': no such file");
  HS_CHECK(!fs::is_directory(path, ec), "cannot open input file '", path, "': it is a directory");
  std::ifstream f(path, std::ios::binary);
  HS_CHECK(f.good(), "cannot open input file '", path, "': not readable");
}

// Everything rank 0 prepares before the first unit: checked output, journal, results rows.
struct PreparedJob {
  JobOutput output;
  JobResults results;
  int64_t skipped = 0;  // requests with results from earlier sessions
};

PreparedJob prepare(const JobOptions& o, int ranks, const std::string& start_time) {
  // Everything that can be wrong with the command is found before the journal is created, so a
  // failed start leaves no files behind that the next attempt would have to be told about.
  check_input(o.input);
  check_output_rules(o.output, o.resume, o.overwrite);
  const ModelConfig cfg = load_model_config(o.model_dir);
  const bool has_tokenizer = fs::exists(fs::path(o.model_dir) / "tokenizer.json");
  HS_CHECK(o.stop.empty() || has_tokenizer, "--stop needs the model's tokenizer, but '",
           (fs::path(o.model_dir) / "tokenizer.json").string(), "' does not exist");
  std::optional<Tokenizer> tok;
  DatasetOptions dopt;
  dopt.model = &cfg;
  if (has_tokenizer) {
    tok = Tokenizer::from_model_dir(o.model_dir);
    dopt.encode = [&tok](const std::string& text) { return tok->encode(text, true); };
  }
  std::vector<DatasetEntry> entries = read_dataset(o.input, dopt);
  FingerprintInputs fi{o.model_dir, o.input, o.max_new_tokens, o.sampling, o.stop};
  const json fingerprint = job_fingerprint(fi);

  PreparedJob p;
  JobOutputRequest req{o.output,       o.resume,   o.overwrite, fingerprint,
                       command_line(), start_time, ranks};
  p.output = open_job_output(req);
  JobResults& res = p.results;
  res.has_text = has_tokenizer;
  res.model_name = fs::path(o.model_dir).lexically_normal().filename().string();
  if (res.model_name.empty())
    res.model_name = fs::path(o.model_dir).lexically_normal().parent_path().filename().string();
  res.rows.reserve(entries.size());
  // An OpenAI batch file gets batch output lines for every line, those that could not be read
  // as any format included.
  const bool openai_file =
      std::any_of(entries.begin(), entries.end(), [](const DatasetEntry& e) { return e.openai; });
  for (DatasetEntry& e : entries) {
    RequestRecord r;
    r.line = e.line;
    r.id = e.id.value_or("");
    r.prompt_ids = std::move(e.input_ids);
    r.prompt_text = std::move(e.prompt);
    r.max_new_tokens = e.max_new_tokens.value_or(o.max_new_tokens);
    r.options = std::move(e.options);
    r.openai = openai_file;
    if (!e.ok()) {
      // Decided by the input alone, so not journaled: a resume decides the same again.
      r.done = true;
      r.error = e.error;
      r.session = p.output.session;
    }
    res.rows.push_back(std::move(r));
  }
  for (UnitResult& u : p.output.replayed) {
    if (o.retry_failed)
      u.results.erase(std::remove_if(u.results.begin(), u.results.end(),
                                     [](const RequestResult& q) { return !q.ok; }),
                      u.results.end());
    p.skipped += res.apply(u).requests;
  }
  p.output.replayed.clear();
  res.trace_path = p.output.paths.trace;
  res.trace_rows = p.output.trace->rows();

  JobMeta& m = res.meta;
  m.command_line = req.command_line;
  m.job_config = o.config_toml;
  m.model_config = read_text((fs::path(o.model_dir) / "config.json").string());
  m.fingerprint = fingerprint.dump();
  m.version = HS_VERSION;
  m.start_time = start_time;
  m.first_start_time = p.output.first_start_time;
  m.sessions = p.output.session + 1;
  return p;
}

void run_coordinator(const JobOptions& o, const EngineFactory& make_engine, MpiSession& mpi,
                     const WorkerOptions& wo) {
  const auto t0 = std::chrono::steady_clock::now();
  auto to_local = std::make_shared<Mailbox>(), from_local = std::make_shared<Mailbox>();
  CoordinatorLink link(mpi, to_local, from_local);
  const std::string start_time = iso_now();
  PreparedJob p;
  try {
    p = prepare(o, link.ranks(), start_time);
  } catch (...) {
    for (int r = 1; r < link.ranks(); ++r) link.send(r, MsgKind::stop);
    throw;
  }
  JobResults& res = p.results;
  const int64_t total = static_cast<int64_t>(res.rows.size());
  int64_t failed_before = 0;
  for (const RequestRecord& r : res.rows) failed_before += (r.done && !r.ok) ? 1 : 0;
  if (!p.output.journal_note.empty())
    std::fprintf(stderr, "hybridserve: %s\n", p.output.journal_note.c_str());
  if (p.output.session > 0)
    std::fprintf(stderr,
                 "hybridserve: resuming (session %d, journal '%s'): %lld of %lld requests already "
                 "done, skipped: %lld; to compute: %lld\n",
                 p.output.session, p.output.paths.journal.c_str(),
                 static_cast<long long>(p.skipped), static_cast<long long>(total),
                 static_cast<long long>(p.skipped),
                 static_cast<long long>(total - res.done_count()));
  std::fprintf(stderr, "hybridserve: %lld requests from '%s' on %d rank%s (launcher: %s) -> '%s'\n",
               static_cast<long long>(total), o.input.c_str(), link.ranks(),
               link.ranks() == 1 ? "" : "s", mpi.launcher().c_str(), o.output.c_str());

  std::thread local_worker([to_local, from_local, make_engine, wo] {
    LocalWorkerLink l(from_local, to_local);
    run_worker(l, make_engine, wo);
  });
  Progress progress(total, res.done_count(), failed_before, link.ranks(),
                    ::isatty(STDERR_FILENO) == 1, o.progress_s);
  Coordinator* coordinator = nullptr;
  auto checkpoint = [&] {
    res.meta.end_time = iso_now();
    res.meta.hardware = coordinator->hardware_json();
    res.meta.plan = coordinator->plan_json();
    res.meta.complete = res.done_count() == total;
    res.write_trace = res.meta.complete;  // checkpoints leave the (large) trace out
    write_results_file(p.output.paths, res);
  };
  CoordinatorOptions copt;
  copt.unit_size = o.batch_size;
  copt.checkpoint_s = o.checkpoint_s;
  copt.session = p.output.session;
  Coordinator coord(res, link, *p.output.journal, *p.output.trace, progress, checkpoint, copt);
  coordinator = &coord;
  try {
    coord.run();
  } catch (...) {
    progress.finish();
    try {
      checkpoint();  // whatever is done is in the journal; make the results file say so too
    } catch (const std::exception& e) {
      std::fprintf(stderr, "hybridserve: could not write a last checkpoint: %s\n", e.what());
    }
    const std::vector<int> busy = coord.ranks_busy();
    // A busy rank cannot be stopped before its unit is done. Rank 0's engine thread is left
    // to end with the process; other ranks make MPI_Finalize wait forever, so leave without it
    // and let the launcher end them.
    if (std::find(busy.begin(), busy.end(), 0) != busy.end())
      local_worker.detach();
    else
      local_worker.join();
    if (std::any_of(busy.begin(), busy.end(), [](int r) { return r != 0; })) mpi.abandon();
    throw;
  }
  local_worker.join();
  progress.finish();
  checkpoint();
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  int64_t ok = 0, failed = 0, tokens = 0;
  for (const RequestRecord& r : res.rows) {
    ok += r.ok ? 1 : 0;
    failed += r.ok ? 0 : 1;
    if (r.session == p.output.session) tokens += static_cast<int64_t>(r.output_ids.size());
  }
  std::fprintf(stderr,
               "hybridserve run: %lld ok, %lld failed, %lld skipped (done before); %lld units, "
               "%lld tokens generated in %.2f s -> %s\n",
               static_cast<long long>(ok), static_cast<long long>(failed),
               static_cast<long long>(p.skipped), static_cast<long long>(coord.units_done()),
               static_cast<long long>(tokens), s, o.output.c_str());
}

}  // namespace

void run_job(const JobOptions& o, const EngineFactory& make_engine) {
  check_options(o);
  output_paths(o.output);  // the name's format, on every rank before MPI starts
  MpiSession mpi;
  InterruptGuard interrupts;
  // JSONL has no place for a trace: the ranks need not send one.
  const bool trace = o.trace && output_paths(o.output).format == OutputFormat::hdf5;
  RankPlace place;
  place.device_index = mpi.device_index();
  place.node = &mpi.node();
  place.machine_share = double(mpi.node().size()) / std::max(1, mpi.local_size());
  // Rank 0 builds its engine on a thread of its own, beside the coordinator; every rank asks
  // the same of the library, so the ranks of a node agree.
  place.collectives_ok = mpi.node_collectives_any_thread();
  WorkerOptions wo{o.model_dir, o.sampling, o.stop, place, trace};
  if (mpi.rank() != 0) {
    MpiWorkerLink link(mpi);
    run_worker(link, make_engine, wo);
    return;
  }
  run_coordinator(o, make_engine, mpi, wo);
}

}  // namespace hs

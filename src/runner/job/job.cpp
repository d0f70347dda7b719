#include "runner/job/job.h"

#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "model/config.h"
#include "model/gguf_model.h"
#include "model/tokenizer.h"
#include "runner/comm/coordinator_link.h"
#include "runner/comm/mpi_session.h"
#include "runner/io/dataset.h"
#include "runner/io/results_sink.h"
#include "runner/job/coordinator.h"
#include "runner/job/fingerprint.h"
#include "runner/job/interrupt.h"
#include "runner/job/job_output.h"
#include "runner/job/progress.h"
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

std::string read_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

void check_options(const JobOptions& o) {
  validate(o.sampling);
  HS_CHECK(o.max_new_tokens >= 0, "--max-new-tokens must be >= 0");
  HS_CHECK(o.batch_size >= 0, "--batch-size must be > 0 (or auto)");
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

// The dataset's unfinished requests as work units, read line by line as ranks ask for them.
// Lines that cannot run become error rows of the results file as they are read.
class DatasetUnits : public UnitSource {
 public:
  DatasetUnits(const std::string& path, const DatasetOptions& opt, const DatasetSummary& summary,
               const std::vector<bool>& done, int64_t default_max_new, ResultsSink& sink,
               int32_t session)
      : reader_(path, opt, summary),
        done_(done),
        default_max_new_(default_max_new),
        sink_(sink),
        session_(session) {}

  std::optional<PendingUnit> next(int64_t size) override {
    PendingUnit u;
    DatasetEntry e;
    while (static_cast<int64_t>(u.unit.rows.size()) < size) {
      const int64_t row = reader_.next_row();
      const bool done = row < static_cast<int64_t>(done_.size()) && done_[row];
      if (!reader_.next(e, !done)) break;
      if (done) continue;
      if (!e.ok()) {
        // Decided by the input alone, so not journaled: a resume decides the same again.
        RequestRecord r;
        r.row = e.row;
        r.line = e.line;
        r.id = e.id.value_or("");
        r.prompt_ids = std::move(e.input_ids);
        r.prompt_text = std::move(e.prompt);
        r.error = e.error;
        r.chat = e.chat;
        r.session = session_;
        sink_.add(std::move(r));
        continue;
      }
      u.unit.rows.push_back(e.row);
      u.unit.requests.push_back(
          {*e.id, std::move(e.input_ids), e.max_new_tokens.value_or(default_max_new_), {}});
      u.unit.options.push_back(std::move(e.options));
      u.lines.push_back(e.line);
      u.prompt_texts.push_back(std::move(e.prompt));
      u.chats.push_back(e.chat);
    }
    if (u.unit.rows.empty()) return std::nullopt;
    return u;
  }

 private:
  DatasetReader reader_;
  const std::vector<bool>& done_;
  int64_t default_max_new_;
  ResultsSink& sink_;
  int32_t session_;
};

// Peak resident memory and bytes written by this process so far, from /proc/self (0 if absent).
std::pair<int64_t, int64_t> peak_rss_and_written() {
  int64_t hwm_kb = 0, wchar = 0;
  std::ifstream status("/proc/self/status"), io("/proc/self/io");
  for (std::string line; std::getline(status, line);)
    if (line.rfind("VmHWM:", 0) == 0) hwm_kb = std::atoll(line.c_str() + 6);
  for (std::string line; std::getline(io, line);)
    if (line.rfind("wchar:", 0) == 0) wchar = std::atoll(line.c_str() + 6);
  return {hwm_kb * 1024, wchar};
}

// CPU seconds of the calling thread (rank 0's coordinator: its bookkeeping, not the engine's).
double thread_cpu_s() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + ts.tv_nsec * 1e-9;
}

// `text` as one word of the shell.
std::string shell_quote(const std::string& text) {
  std::string out = "'";
  for (char ch : text) out += ch == '\'' ? std::string("'\\''") : std::string(1, ch);
  return out + "'";
}

// Runs the --on-checkpoint command through the shell, its variables set on its command line
// (not with setenv: the engine's thread may read the environment meanwhile); its failure is
// reported, not thrown.
void run_on_checkpoint(const std::string& command, const std::string& output, int64_t done) {
  const std::string line = "HYBRIDSERVE_OUTPUT=" + shell_quote(output) +
                           " HYBRIDSERVE_ROWS_DONE=" + std::to_string(done) + " /bin/sh -c " +
                           shell_quote(command);
  const int rc = std::system(line.c_str());
  if (rc != 0)
    std::fprintf(stderr, "\nhybridserve: --on-checkpoint command failed (status %d): %s\n", rc,
                 command.c_str());
}

int64_t file_bytes(const std::string& path) {
  std::error_code ec;
  const auto n = fs::file_size(path, ec);
  return ec ? 0 : static_cast<int64_t>(n);
}

// Everything rank 0 prepares before the first unit: the output side, the dataset's summary,
// the results file with what the journal holds restored into it.
struct PreparedJob {
  JobOutput output;
  std::unique_ptr<ResultsSink> sink;
  ModelConfig model;  // what dataset_options check prompts against
  DatasetOptions dataset_options;
  std::optional<Tokenizer> tokenizer;
  std::optional<ChatFormat> chat;  // the model's chat layout, when it has one that is read
  std::string chat_error;          // else why "messages" rows cannot run
  DatasetSummary summary;
  std::vector<bool> done;  // rows with a result from an earlier session
  JobMeta meta;
  int64_t skipped = 0;                       // requests with results from earlier sessions
  int64_t ok_before = 0, failed_before = 0;  // of them
};

std::unique_ptr<PreparedJob> prepare(const JobOptions& o, int ranks,
                                     const std::string& start_time) {
  // Everything that can be wrong with the command is found before the journal is created, so a
  // failed start leaves no files behind that the next attempt would have to be told about.
  check_input(o.input);
  check_output_rules(o.output, o.resume, o.overwrite);
  auto p = std::make_unique<PreparedJob>();
  const ModelConfig cfg = load_model_config(o.model_dir);
  const bool has_tokenizer = Tokenizer::available(o.model_dir);
  HS_CHECK(o.stop.empty() || has_tokenizer, "--stop needs the model's tokenizer, but '",
           (fs::path(o.model_dir) / "tokenizer.json").string(), "' does not exist");
  p->model = cfg;
  DatasetOptions& dopt = p->dataset_options;
  dopt.model = &p->model;
  if (has_tokenizer) {
    p->tokenizer = Tokenizer::from_model_dir(o.model_dir);
    Tokenizer* tok = &*p->tokenizer;
    dopt.encode = [tok](const std::string& text) { return tok->encode(text, true); };
    // "messages" rows: the chat template's layout, or why the model has none that is read.
    const std::string jinja = model_chat_template(o.model_dir);
    try {
      if (jinja.empty()) fail(o.model_dir, ": the model has no chat template");
      p->chat = ChatFormat::from_template(jinja, *tok, o.model_dir);
      // A chat row ends at the template's end of turn, as at the model's EOS.
      const auto& eos = p->model.eos_token_ids;
      if (std::find(eos.begin(), eos.end(), p->chat->end_of_turn_id()) == eos.end())
        dopt.chat_stop_ids = {p->chat->end_of_turn_id()};
    } catch (const Error& e) {
      p->chat_error = e.what();
    }
    const std::optional<std::string> system =
        o.system.empty() ? std::nullopt : std::optional<std::string>(o.system);
    const PreparedJob* job = p.get();
    dopt.chat = [job, tok, system](const std::vector<ChatMessage>& messages, std::string& text) {
      if (!job->chat) fail(job->chat_error);
      text = job->chat->format(messages, system);
      return tok->encode(text, false);  // the template wrote the special tokens
    };
  }
  FingerprintInputs fi{o.model_dir,    o.input,      o.max_new_tokens, o.sampling,
                       o.stop,         o.system,     o.weight_format,  o.weight_group,
                       o.cache_format, o.cache_group};
  const json fingerprint = job_fingerprint(fi);

  JobOutputRequest req{o.output,   o.resume, o.overwrite, fingerprint, process_command_line(),
                       start_time, ranks};
  p->output = open_job_output(req);
  const std::string& journal = p->output.paths.journal;

  // What earlier sessions finished (the first result of a row wins; --retry-failed drops the
  // failed ones, which are computed again). A row of the input takes at least two bytes (a
  // character and a newline) but the last, which bounds the rows a journal can name.
  auto kept = [&](const RequestResult& q) { return q.ok || !o.retry_failed; };
  int64_t first_retried = -1;
  if (p->output.replayed_units > 0) {
    std::error_code ec;
    const uintmax_t input_bytes = fs::file_size(o.input, ec);
    HS_CHECK(!ec, "cannot open input file '", o.input, "': ", ec.message());
    DoneRows d =
        replay_done_rows(journal, o.retry_failed, static_cast<int64_t>(input_bytes / 2 + 1));
    p->done = std::move(d.done);
    p->skipped = d.results;
    p->ok_before = d.ok;
    p->failed_before = d.failed;
    first_retried = d.first_retried;
  }
  p->summary = summarize_dataset(o.input, dopt, [&](int64_t row) {
    return row < static_cast<int64_t>(p->done.size()) && p->done[row];
  });
  HS_CHECK(static_cast<int64_t>(p->done.size()) <= p->summary.rows, "journal '", journal,
           "' holds results for rows beyond the input's ", p->summary.rows);

  ResultsLayout layout;
  layout.total = p->summary.rows;
  layout.has_text = has_tokenizer;
  layout.openai = p->summary.openai;
  layout.model_name = fs::path(o.model_dir).lexically_normal().filename().string();
  if (layout.model_name.empty())
    layout.model_name = fs::path(o.model_dir).lexically_normal().parent_path().filename().string();
  layout.fingerprint = fingerprint.dump();
  layout.trace_path = p->output.paths.trace;
  JobMeta& m = p->meta;
  m.command_line = req.command_line;
  m.job_config = o.config_toml;
  m.model_config = is_gguf_path(o.model_dir)
                       ? gguf_config_json(o.model_dir).dump()
                       : read_text((fs::path(o.model_dir) / "config.json").string());
  m.fingerprint = layout.fingerprint;
  m.version = HS_VERSION;
  m.start_time = start_time;
  m.first_start_time = p->output.first_start_time;
  m.sessions = p->output.session + 1;
  m.requests_total = layout.total;
  m.hardware = "[]";
  std::string note;
  p->sink = ResultsSink::open(p->output.paths, layout, m, p->output.session > 0, &note);
  if (!note.empty()) std::fprintf(stderr, "hybridserve: %s\n", note.c_str());
  if (first_retried >= 0) p->sink->rewrite_from(first_retried);
  // Restore what the journal holds and the file does not (rows after its last checkpoint).
  if (p->output.replayed_units > 0) {
    int64_t index = 0;
    replay_units(journal, [&](UnitResult&& u) {
      for (const RequestResult& q : u.results)
        if (kept(q) && p->sink->missing(index, q.row)) p->sink->add(record_of(u, q));
      ++index;
    });
  }

  return p;
}

void run_coordinator(const JobOptions& o, const EngineFactory& make_engine, MpiSession& mpi,
                     const WorkerOptions& wo) {
  const auto t0 = std::chrono::steady_clock::now();
  auto to_local = std::make_shared<Mailbox>(), from_local = std::make_shared<Mailbox>();
  CoordinatorLink link(mpi, to_local, from_local);
  const std::string start_time = iso_now();
  const double cpu0 = thread_cpu_s();
  std::unique_ptr<PreparedJob> prepared;
  try {
    prepared = prepare(o, link.ranks(), start_time);
  } catch (...) {
    for (int r = 1; r < link.ranks(); ++r) link.send(r, MsgKind::stop);
    throw;
  }
  PreparedJob& p = *prepared;
  const double prepare_cpu_s = thread_cpu_s() - cpu0;
  const DatasetSummary& sum = p.summary;
  const int64_t total = sum.rows;
  const int64_t done_before = p.skipped + sum.bad_rows;
  const int64_t to_compute = total - done_before;
  if (!p.output.journal_note.empty())
    std::fprintf(stderr, "hybridserve: %s\n", p.output.journal_note.c_str());
  // What earlier sessions lost (at most a screenful; the journal has all of them).
  const size_t lost = p.output.lost_units.size();
  for (size_t i = 0; i < std::min<size_t>(lost, 8); ++i)
    std::fprintf(stderr, "hybridserve: lost: %s; computing it again\n",
                 p.output.lost_units[i].c_str());
  if (lost > 8)
    std::fprintf(stderr, "hybridserve: lost: %zu more units (journal '%s', records of type 4)\n",
                 lost - 8, p.output.paths.journal.c_str());
  if (p.output.session > 0)
    std::fprintf(stderr,
                 "hybridserve: resuming (session %d, journal '%s'): %lld of %lld requests already "
                 "done, skipped: %lld; to compute: %lld\n",
                 p.output.session, p.output.paths.journal.c_str(),
                 static_cast<long long>(p.skipped), static_cast<long long>(total),
                 static_cast<long long>(p.skipped), static_cast<long long>(to_compute));
  std::fprintf(stderr, "hybridserve: %lld requests from '%s' on %d rank%s (launcher: %s) -> '%s'\n",
               static_cast<long long>(total), o.input.c_str(), link.ranks(),
               link.ranks() == 1 ? "" : "s", mpi.launcher().c_str(), o.output.c_str());

  std::thread local_worker([to_local, from_local, make_engine, wo] {
    LocalWorkerLink l(from_local, to_local);
    run_worker(l, make_engine, wo);
  });
  Progress progress(total, done_before, p.failed_before + sum.bad_rows, link.ranks(),
                    ::isatty(STDERR_FILENO) == 1, o.progress_s);
  DatasetUnits units(o.input, p.dataset_options, sum, p.done, o.max_new_tokens, *p.sink,
                     p.output.session);
  Coordinator* coordinator = nullptr;
  int64_t checkpoints = 0;
  double checkpoint_max_s = 0, checkpoint_total_s = 0;
  auto checkpoint = [&](int64_t journal_units) {
    const auto c0 = std::chrono::steady_clock::now();
    JobMeta& m = p.meta;
    m.end_time = iso_now();
    m.hardware = coordinator->hardware_json();
    m.plan = coordinator->plan_json();
    m.requests_done = done_before + coordinator->requests_ok() + coordinator->requests_failed();
    m.complete = m.requests_done == total;
    p.sink->checkpoint(m, journal_units, p.output.trace->rows());
    const double took =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - c0).count();
    ++checkpoints;
    checkpoint_total_s += took;
    checkpoint_max_s = std::max(checkpoint_max_s, took);
    if (!o.on_checkpoint.empty()) run_on_checkpoint(o.on_checkpoint, o.output, m.requests_done);
  };
  CoordinatorOptions copt;
  copt.unit_size = o.batch_size;
  copt.checkpoint_s = o.checkpoint_s;
  copt.session = p.output.session;
  copt.to_compute = to_compute;
  copt.max_prompt_tokens = sum.max_prompt_tokens;
  copt.max_new_tokens = std::max(sum.max_new_tokens, o.max_new_tokens);
  copt.journal_units = p.output.replayed_units;
  Coordinator coord(units, *p.sink, link, *p.output.journal, *p.output.trace, progress, checkpoint,
                    copt);
  coordinator = &coord;
  try {
    coord.run();
  } catch (...) {
    progress.finish();
    try {
      checkpoint(coord.journal_units());  // what is done is in the journal; the file says so too
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
  // Lines after the last unit that cannot run (or all of them, when none could).
  HS_CHECK(!units.next(1), "internal error: work units left after every rank stopped");
  progress.finish();
  checkpoint(coord.journal_units());
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::fprintf(stderr,
               "hybridserve run: %lld ok, %lld failed, %lld skipped (done before); %lld units, "
               "%lld tokens generated in %.2f s -> %s\n",
               static_cast<long long>(p.ok_before + coord.requests_ok()),
               static_cast<long long>(p.failed_before + sum.bad_rows + coord.requests_failed()),
               static_cast<long long>(p.skipped), static_cast<long long>(coord.units_done()),
               static_cast<long long>(coord.tokens_generated()), s, o.output.c_str());
  // Rank 0's own costs, for sizing jobs (tools/bench_coordinator.sh reads these lines): the
  // coordinator thread's CPU time is its bookkeeping (summary pass, hand-out, journal, results
  // file), apart from the engine it runs beside.
  const auto [peak, written] = peak_rss_and_written();
  const double run_cpu_s = thread_cpu_s() - cpu0 - prepare_cpu_s;
  const int64_t handled = coord.requests_ok() + coord.requests_failed();
  std::fprintf(stderr,
               "hybridserve run: rank 0 peak memory %.1f MB; wrote %.1f MB (results file %.1f MB, "
               "journal %.1f MB, trace %.1f MB now)\n",
               peak / 1e6, written / 1e6, file_bytes(o.output) / 1e6,
               file_bytes(p.output.paths.journal) / 1e6, file_bytes(p.output.paths.trace) / 1e6);
  std::fprintf(stderr,
               "hybridserve run: rank 0 bookkeeping: %.2f s CPU to read the input and open the "
               "output (%.0f lines/s), %.2f s CPU for %lld requests (%.0f requests/s); %lld "
               "checkpoints, %.1f ms each on average, %.1f ms at most\n",
               prepare_cpu_s, total / std::max(prepare_cpu_s, 1e-9), run_cpu_s,
               static_cast<long long>(handled), handled / std::max(run_cpu_s, 1e-9),
               static_cast<long long>(checkpoints),
               1e3 * checkpoint_total_s / std::max<int64_t>(checkpoints, 1),
               1e3 * checkpoint_max_s);
}

}  // namespace

std::string process_command_line() {
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
  if (o.check_place) o.check_place(place);
  WorkerOptions wo{o.model_dir, o.sampling, o.stop, place, trace};
  if (mpi.rank() != 0) {
    MpiWorkerLink link(mpi);
    run_worker(link, make_engine, wo);
    return;
  }
  run_coordinator(o, make_engine, mpi, wo);
}

}  // namespace hs

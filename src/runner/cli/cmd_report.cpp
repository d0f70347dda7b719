// hybridserve report: a trace made readable. Reads a job's results file, or a bench trace, once
// and in chunks, and writes a Perfetto timeline (--perfetto), a self-contained HTML page with
// plots (--html) and/or the summary as text (--text, the default when nothing else is asked).
#include <memory>

#include "runner/cli/commands.h"
#include "runner/report/report.h"

namespace hs {

void add_report_command(CLI::App& app) {
  auto o = std::make_shared<ReportOptions>();
  auto rank = std::make_shared<int32_t>(-1);
  auto timeline_step = std::make_shared<int64_t>(-1);
  CLI::App* cmd = app.add_subcommand(
      "report",
      "Make a trace readable: a Perfetto timeline, an HTML report with plots, a text summary.\n"
      "TRACE is a job's results file (run --output x.h5), or a bench trace (bench --trace-out\n"
      "x.h5 or x.csv). Without --perfetto or --html the summary is printed.\n"
      "  hybridserve report out/demo.h5 --html report.html --perfetto trace.json\n"
      "Open trace.json in ui.perfetto.dev (or chrome://tracing); report.html in any browser,\n"
      "offline.");
  cmd->add_option("trace", o->input, "Results .h5, bench trace .h5 or bench trace .csv")
      ->type_name("TRACE")
      ->required();
  cmd->add_option("--perfetto", o->perfetto,
                  "Write the timeline as Chrome trace-event JSON: a process per rank, a thread\n"
                  "per stream, an event per trace row")
      ->type_name("FILE.json");
  cmd->add_option("--html", o->html,
                  "Write a self-contained HTML report (inline SVG plots, no network needed)")
      ->type_name("FILE.html");
  cmd->add_flag("--text", o->text, "Print the summary (the default without --perfetto or --html)");
  cmd->add_option("--rank", *rank, "Only this rank's rows")->check(CLI::NonNegativeNumber);
  cmd->add_option("--steps", o->steps,
                  "Only these steps (0 = prefill), inclusive: A:B, A:, :B or A")
      ->type_name("A:B");
  cmd->add_option("--timeline-step", *timeline_step,
                  "The step the HTML's timeline draws (default: the first decode step)")
      ->check(CLI::NonNegativeNumber);
  cmd->callback([o, rank, timeline_step] {
    if (*rank >= 0) o->rank = *rank;
    if (*timeline_step >= 0) o->timeline_step = *timeline_step;
    run_report(*o);
  });
}

}  // namespace hs

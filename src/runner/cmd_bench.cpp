// Placeholder until the bench subcommand lands: it says so instead of pretending.
#include "runner/commands.h"
#include "util/error.h"

namespace hs {

void add_bench_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("bench", "(not built yet in this version)");
  cmd->callback([] { fail("'bench' is not available in this build yet"); });
}

}  // namespace hs

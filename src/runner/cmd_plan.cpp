// Placeholder until the plan subcommand lands: it says so instead of pretending.
#include "runner/commands.h"
#include "util/error.h"

namespace hs {

void add_plan_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("plan", "(not built yet in this version)");
  cmd->callback([] { fail("'plan' is not available in this build yet"); });
}

}  // namespace hs

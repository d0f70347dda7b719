// Placeholder until the tokenize subcommand lands: it says so instead of pretending.
#include "runner/commands.h"
#include "util/error.h"

namespace hs {

void add_tokenize_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("tokenize", "(not built yet in this version)");
  cmd->callback([] { fail("'tokenize' is not available in this build yet"); });
}

}  // namespace hs

// hybridserve: offloaded LLM batch inference with activation checkpoints and hybrid caching.
// Subcommands are defined in src/runner/cli/cmd_*.cpp; main() alone decides the exit code.
#include <cstdio>
#include <exception>

#include "runner/cli/commands.h"
#include "util/error.h"

int main(int argc, char** argv) {
  CLI::App app{
      "HybridServe: bulk LLM inference on GPUs whose memory is too small for the model.\n"
      "Weights and caches live in host memory and stream to the GPU layer by layer; an\n"
      "activation cache lets the GPU recompute K/V instead of moving them over PCIe.\n",
      "hybridserve"};
  app.set_version_flag("--version", std::string("hybridserve ") + HS_VERSION);
  app.require_subcommand(1);
  app.footer("Run 'hybridserve SUBCOMMAND --help' for the options of one subcommand.");
  hs::add_run_command(app);
  hs::add_tokenize_command(app);
  hs::add_plan_command(app);
  hs::add_bench_command(app);
  hs::add_perplexity_command(app);
  hs::add_report_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const hs::Error& e) {
    std::fprintf(stderr, "hybridserve: error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "hybridserve: internal error: %s\n", e.what());
    return 2;
  }
  return 0;
}

#!/usr/bin/env bash
# The sanitizer part of tools/test.sh: builds the tests and the fuzz targets with ASan+UBSan
# (clang, -O1 -g, frame pointers, every report fatal) in build-asan, cpu backend only, runs the
# tests that exercise the parsers, the engine, the journal and resume under the sanitizers, then
# each fuzz target for HS_FUZZ_SECONDS (60). Expects tools/setup.sh to have run (clang).
#   bash tools/sanitize.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${HS_ASAN_BUILD_DIR:-$root/build-asan}"
jobs="${HS_BUILD_JOBS:-$(nproc)}"
t0=$(date +%s)

# The sanitized selection: unit test executables (NAME or NAME:GTEST_FILTER) and system tests.
# Left out, as they add time and no parser or memory path the selection lacks: the planner's
# arithmetic (plan_*), the cache and memory accounting tests, the CLI option tests, the Slurm
# test (a cluster of its own), the node pool test (it measures memory, which ASan's shadow
# changes), the SmolLM2 GGUF test (a 93 MB model: minutes under ASan; fuzz_gguf and the GGUF unit
# tests cover its reader), EngineSpread (3 minutes under ASan for layer interleaving that
# engine_generate_test's paths already run), the tokenizer's 1 MiB speed bound (sized for the
# optimised build; ASan makes it about 1 s) and the MPI test (4 minutes under ASan of the ranks'
# paths that the resume and rank death tests run too).
tests=(dataset_test "tokenizer_test:-Tokenizer.OneMegabyteLineWithoutSpacesIsFastAndRoundTrips"
       chat_template_test gguf_test gguf_model_test
       gguf_tokenizer_test model_loading_test quant_test hostile_input_test runner_journal_test
       runner_work_unit_test runner_fingerprint_test hdf5_writer_test engine_generate_test
       engine_exchange_test
       "engine_policies_test:-EngineSpread.*" reference_parity_test sampler_test
       run_text_errors_test)
systems=(resume_test rank_death_test errors_test openai_batch_test)

cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=clang \
  -DCMAKE_CXX_COMPILER=clang++ -DHS_FUZZ=ON -DHS_WITH_CUDA=OFF >"$build.configure.log" 2>&1 ||
  { cat "$build.configure.log"; exit 1; }
cmake --build "$build" -j"$jobs" --target hybridserve fuzz_all "${tests[@]%%:*}" \
  >"$build.build.log" 2>&1 || { grep -E -A5 "error" "$build.build.log" | head -n 80; exit 1; }
echo "[sanitize] built $build in $(($(date +%s) - t0)) s"

# halt_on_error: the first report fails the test. Leaks are checked in the unit tests (the
# suppressions name MPI's libraries, which keep tables to the end of a process by design).
export ASAN_OPTIONS="abort_on_error=1:halt_on_error=1:detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1"
export LSAN_OPTIONS="suppressions=$root/tools/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
sym=$(command -v llvm-symbolizer || command -v llvm-symbolizer-14 || true)
[ -n "$sym" ] && export ASAN_SYMBOLIZER_PATH="$sym" UBSAN_SYMBOLIZER_PATH="$sym"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

t1=$(date +%s)
logs="$build/sanitize-logs"
rm -rf "$logs"
mkdir -p "$logs"
printf '%s\n' "${tests[@]}" | xargs -P "$(nproc)" -I{} bash -c '
  name=${1%%:*}; filter=${1#*:}; [ "$filter" = "$1" ] && filter="*"
  if "$2/tests/$name" --gtest_filter="$filter" >"$3/$name.log" 2>&1; then
    echo "[sanitize] $name: $(grep -o "[0-9]* tests\? from [0-9]* test suites\? ran.*" "$3/$name.log")"
  else
    echo "[sanitize] $name FAILED:"; grep -E -A30 "ERROR|runtime error|FAILED" "$3/$name.log" | head -n 60
    exit 255
  fi' _ {} "$build" "$logs"
echo "[sanitize] sanitized unit tests ran in $(($(date +%s) - t1)) s"

# The system tests run hybridserve under mpirun. OpenMPI's components are plugins it loads and
# unloads itself; LSan cannot name the frames of an unloaded plugin (<unknown module>), so their
# end-of-process tables cannot be suppressed by library and leak checking is off here. ASan's
# and UBSan's other checks stay on.
t2=$(date +%s)
regex="^system\\.($(IFS='|'; echo "${systems[*]}"))\$"
ASAN_OPTIONS="$ASAN_OPTIONS:detect_leaks=0" \
  ctest --test-dir "$build" -R "$regex" --output-on-failure -j"$(nproc)" --timeout 900
echo "[sanitize] sanitized system tests ran in $(($(date +%s) - t2)) s"

t3=$(date +%s)
HS_FUZZ_BUILD_DIR="$build" HS_SKIP_BUILD=1 bash "$root/tools/fuzz.sh" "${HS_FUZZ_SECONDS:-60}"
echo "[sanitize] fuzz targets ran in $(($(date +%s) - t3)) s; the sanitizer part took $(($(date +%s) - t0)) s"

#!/usr/bin/env bash
# Builds the libFuzzer targets of fuzz/ (clang, ASan+UBSan, HS_FUZZ=ON) and runs each for
# SECONDS, two or more at once, printing one line per target: executions, coverage (edges) and
# features, corpus size, and findings (crash-*, leak-*, timeout-*, oom-* inputs). Exits 1 when a
# target found something; its inputs are in BUILD/fuzz-findings/TARGET/ (docs/FUZZING.md says
# how to reproduce and minimise one).
#   bash tools/fuzz.sh 60                     # every target, 60 s each
#   bash tools/fuzz.sh 600 fuzz_gguf          # one target, 10 minutes
# Environment: HS_FUZZ_BUILD_DIR (default build-fuzz), HS_FUZZ_JOBS (targets at once, default
# nproc), HS_SKIP_BUILD=1 (use the targets already built), HS_BUILD_JOBS (compile jobs).
# Seeds come from the test data each run (tools/fuzz_seeds.py); inputs that found new coverage
# stay in BUILD/fuzz-corpus/TARGET/, so a later run starts where this one ended.
set -euo pipefail
secs=${1:?usage: bash tools/fuzz.sh SECONDS [TARGET...]}
shift
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${HS_FUZZ_BUILD_DIR:-$root/build-fuzz}"
jobs="${HS_FUZZ_JOBS:-$(nproc)}"

if [ "${HS_SKIP_BUILD:-0}" != 1 ]; then
  if ! grep -q '^HS_FUZZ:BOOL=ON' "$build/CMakeCache.txt" 2>/dev/null; then
    cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=clang \
      -DCMAKE_CXX_COMPILER=clang++ -DHS_FUZZ=ON -DHS_WITH_CUDA=OFF >"$build.configure.log" 2>&1 ||
      { cat "$build.configure.log"; exit 1; }
  fi
  cmake --build "$build" --target fuzz_all -j"${HS_BUILD_JOBS:-$(nproc)}" >"$build.fuzz.log" 2>&1 ||
    { grep -E -A5 "error" "$build.fuzz.log" | head -n 80; exit 1; }
fi

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for f in "$root"/fuzz/fuzz_*.cpp; do
    t=$(basename "$f" .cpp)
    [ "$t" = fuzz_util ] || targets+=("$t")
  done
fi
declare -A dict=([fuzz_safetensors]=json [fuzz_config]=json [fuzz_tokenizer_json]=json
                 [fuzz_dataset]=json [fuzz_journal]=json [fuzz_job_config]=toml [fuzz_gguf]=gguf)

seeds="$build/fuzz-seeds"
rm -rf "$seeds"
"$(command -v /usr/bin/python3 || command -v python3)" "$root/tools/fuzz_seeds.py" "$seeds"
export TMPDIR="$build/fuzz-tmp"
mkdir -p "$TMPDIR"
export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:allocator_may_return_null=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
sym=$(command -v llvm-symbolizer || command -v llvm-symbolizer-14 || true)
[ -n "$sym" ] && export ASAN_SYMBOLIZER_PATH="$sym" UBSAN_SYMBOLIZER_PATH="$sym"

run_one() {
  local t=$1 corpus="$build/fuzz-corpus/$1" found="$build/fuzz-findings/$1" args=()
  mkdir -p "$corpus" "$found" "$seeds/$t"
  [ -n "${dict[$t]:-}" ] && args+=(-dict="$root/fuzz/${dict[$t]}.dict")
  # -rss_limit_mb (and malloc_limit_mb, which follows it): an allocation of 2 GiB from a small
  # input is a finding (an unbounded allocation), not a machine out of memory.
  "$build/fuzz/$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$found/" "${args[@]}" "$corpus" "$seeds/$t" >"$build/fuzz-$t.log" 2>&1 || true
}

for t in "${targets[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
  run_one "$t" &
done
wait

status=0
for t in "${targets[@]}"; do
  log="$build/fuzz-$t.log"
  execs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | tail -1 | awk '{print $2}' || true)
  last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
  cov=$(echo "$last" | grep -o 'cov: [0-9]*' | awk '{print $2}' || true)
  ft=$(echo "$last" | grep -o 'ft: [0-9]*' | awk '{print $2}' || true)
  corpus=$(ls "$build/fuzz-corpus/$t" | wc -l)
  findings=$(find "$build/fuzz-findings/$t" -type f | wc -l)
  printf '%-22s %4ss  execs %-10s cov %-6s ft %-7s corpus %-6s findings %s\n' "$t" "$secs" \
    "${execs:-?}" "${cov:-?}" "${ft:-?}" "$corpus" "$findings"
  if [ "$findings" -gt 0 ] || [ -z "$execs" ]; then
    status=1
    grep -E -m3 'ERROR|FUZZ FINDING|runtime error|terminate called|what\(\)' "$log" | sed 's/^/    /' || true
    echo "    log: $log; inputs: $build/fuzz-findings/$t/"
  fi
done
exit $status

# Shared set-up of the system tests (sourced; not a test itself: tests are tests/system/*.sh).
# Each test runs as `bash tests/system/NAME.sh <hybridserve binary> <source dir>`.
set -euo pipefail
BIN=$(realpath "${1:?usage: $0 <hybridserve binary> <source dir>}")
SRC=$(realpath "${2:?usage: $0 <hybridserve binary> <source dir>}")
PY=$(bash "$SRC/tools/h5py_python.sh")  # the checks read .h5 files with h5py
CHECK="$PY $SRC/tests/system/lib/hs_results.py"
MODEL=$SRC/tests/models/opt-tiny
GOLDEN=$SRC/tests/goldens/opt-tiny.json
TMP=$(mktemp -d "${TMPDIR:-/tmp}/hs-system-XXXXXX")
cleanup_tmp() { [ -n "${KEEP_TMP:-}" ] || rm -rf "$TMP"; }  # KEEP_TMP=1: keep it to look at
trap cleanup_tmp EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# 2 cores in CI, up to 4 ranks: oversubscribe, and let idle ranks yield the core.
export OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_mpi_yield_when_idle=1
T0=$(date +%s%N)
step() { echo "== [$(( ($(date +%s%N) - T0) / 1000000 )) ms] $*"; }
die() { echo "FAIL: $*" >&2; exit 1; }

# expect_error EXPECTED_TEXT CMD...: CMD must exit non-zero and print EXPECTED_TEXT on stderr.
expect_error() {
  local want=$1; shift
  local rc=0
  "$@" >"$TMP/stdout" 2>"$TMP/stderr" || rc=$?
  [ "$rc" -ne 0 ] || { cat "$TMP/stderr"; die "expected failure of: $*"; }
  grep -qF -- "$want" "$TMP/stderr" || { cat "$TMP/stderr"; die "stderr lacks '$want'"; }
  echo "   error as expected (rc $rc): $(grep -F -- "$want" "$TMP/stderr" | head -1 | cut -c1-160)"
}
# mpirun_rank_pid LAUNCHER_PID RANK: prints the pid of that rank, the child of mpirun whose
# environment says OMPI_COMM_WORLD_RANK=RANK (waits up to 10 s for it to start).
mpirun_rank_pid() {
  local launcher=$1 rank=$2 p
  for _ in $(seq 200); do
    for p in $(pgrep -P "$launcher" || true); do
      if tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$rank"; then
        echo "$p"
        return 0
      fi
    done
    sleep 0.05
  done
  die "rank $rank of mpirun (pid $launcher) not found"
}

#!/usr/bin/env bash
# Kill soak (not in CI): a 3-rank job on the cpu backend (the shipped tiny OPT model) whose ranks
# are killed with kill -9, one at a time at random (rank 0 included), every few seconds, each
# time continued with the same command plus --resume, until it finishes; then every request must
# be in the results exactly once with the tokens of an uninterrupted run. Rounds (a fresh output
# each) repeat until DURATION_S has passed. Prints kills survived and time lost: a round's wall
# time beyond the uninterrupted 3-rank run's.
#   bash tools/kill_soak.sh DURATION_S [BIN]          # e.g. 1800 build/src/hybridserve
# Environment: SOAK_REQUESTS (per round, default 3000), SOAK_KILL_MIN_S / SOAK_KILL_MAX_S (the
# random wait before each kill, default 2 and 6), SOAK_SEED, SOAK_DIR (keep the files there).
set -euo pipefail
duration=${1:?usage: bash tools/kill_soak.sh DURATION_S [BIN]}
root="$(cd "$(dirname "$0")/.." && pwd)"
bin=$(realpath "${2:-$root/build/src/hybridserve}")
requests=${SOAK_REQUESTS:-3000}
kmin=${SOAK_KILL_MIN_S:-2}
kmax=${SOAK_KILL_MAX_S:-6}
RANDOM=${SOAK_SEED:-$$}
py=$(bash "$root/tools/h5py_python.sh")
check="$py $root/tests/system/lib/hs_results.py"
dir=${SOAK_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/hs-soak-XXXXXX")}
mkdir -p "$dir"
cd "$dir"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_mpi_yield_when_idle=1
now_ms() { echo $(($(date +%s%N) / 1000000)); }
log() { echo "[soak $(($(now_ms) - T0))ms] $*"; }
T0=$(now_ms)

$check make-dataset data.jsonl --goldens "$root/tests/goldens/opt-tiny.json" --n "$requests" \
  --long-every 2 >/dev/null
args=(run --model "$root/tests/models/opt-tiny" --input data.jsonl --batch-size 4 --device cpu
      --checkpoint-s 0.5 --progress-s 5)

t=$(now_ms)
mpirun -np 3 "$bin" "${args[@]}" --output ref.jsonl 2>ref.log || { cat ref.log; exit 1; }
ref_ms=$(($(now_ms) - t))
$check once ref.jsonl data.jsonl --errors 0 >/dev/null
log "uninterrupted 3-rank run: $requests requests in $ref_ms ms"

# rank_pid LAUNCHER RANK: the pid of that rank (the child of mpirun with OMPI_COMM_WORLD_RANK),
# empty if it is not running.
rank_pid() {
  local p
  for p in $(pgrep -P "$1" 2>/dev/null || true); do
    tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$2" &&
      { echo "$p"; return 0; }
  done
  return 0
}

rounds=0 kills=0 torn=0 lost_ms=0 starts=0
declare -A by_rank=([0]=0 [1]=0 [2]=0)
end=$(($(now_ms) + duration * 1000))
while [ "$(now_ms)" -lt "$end" ]; do
  rm -f out.h5 out.h5.journal out.h5.trace
  round_t0=$(now_ms) round_kills=0
  while :; do
    starts=$((starts + 1))
    mpirun -np 3 "$bin" "${args[@]}" --output out.h5 --resume 2>>"run-$rounds.log" &
    job=$!
    sleep "$((kmin + RANDOM % (kmax - kmin + 1))).$((RANDOM % 10))"
    killed=
    if kill -0 "$job" 2>/dev/null; then
      rank=$((RANDOM % 3))
      pid=$(rank_pid "$job" "$rank")
      if [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; then
        killed=$rank
        kills=$((kills + 1)) round_kills=$((round_kills + 1))
        by_rank[$rank]=$((by_rank[$rank] + 1))
      fi
    fi
    rc=0
    wait "$job" || rc=$?
    if [ -z "$killed" ]; then
      [ "$rc" -eq 0 ] && break
      tail -n 30 "run-$rounds.log"
      log "FAIL: round $rounds: the job failed (rc $rc) without being killed; files in $dir"
      exit 1
    fi
    # A kill inside a checkpoint's write may tear out.h5 until the resume rewrites it.
    if [ -f out.h5 ] && ! h5dump -H out.h5 >/dev/null 2>&1; then torn=$((torn + 1)); fi
  done
  if ! $check once out.h5 data.jsonl --errors 0 >"check-$rounds.txt" 2>&1 ||
     ! $check same ref.jsonl out.h5 >>"check-$rounds.txt" 2>&1; then
    cat "check-$rounds.txt"
    log "FAIL: round $rounds: results lost, duplicated or different after $round_kills kills; files in $dir"
    exit 1
  fi
  round_ms=$(($(now_ms) - round_t0))
  lost_ms=$((lost_ms + round_ms - ref_ms))
  log "round $rounds: $round_kills kills, done in $round_ms ms (uninterrupted: $ref_ms ms); every request once, tokens equal"
  rounds=$((rounds + 1))
done
# What the resumes said they repaired: a results file made again from the journal (a kill inside
# a checkpoint's write), a torn last journal record dropped, units lost with a rank and computed
# again.
remade=$(cat run-*.log | grep -c "made again from the journal" || true)
dropped=$(cat run-*.log | grep -c "dropped its" || true)
lost=$(cat run-*.log | grep -c "lost: session" || true)
log "SUMMARY: $rounds rounds of $requests requests, $kills kills survived (rank 0: ${by_rank[0]}, rank 1: ${by_rank[1]}, rank 2: ${by_rank[2]}), $starts starts, time lost $((lost_ms / 1000)) s ($((lost_ms / (kills > 0 ? kills : 1))) ms a kill); resumes: $remade results files made again from the journal, $torn left unopenable by h5dump, $dropped torn journal records dropped, $lost lost units computed again"
[ -n "${SOAK_DIR:-}" ] || rm -rf "$dir"

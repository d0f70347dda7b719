#!/bin/bash
# The body of every slurm/*.sbatch script (they differ only in their #SBATCH resources).
# Runs `hybridserve run` as ONE job over all tasks of the allocation (srun --mpi=pmix, or
# mpirun), one engine per task on its own GPU, always with --resume: a requeued job continues
# from OUT.journal where the last run stopped, and a finished one is not computed again.
# On the warning signal before the time limit (#SBATCH --signal=B:USR1@300) it requeues the
# job (scontrol requeue; needs #SBATCH --requeue), so an overnight job spans as many time slots
# as it needs. Preemption with PreemptMode=REQUEUE requeues it the same way.
#
#   usage: (from an sbatch script) hybridserve-job.sh JOB.toml [more `run` options...]
#   env:   HS_BIN      the hybridserve binary (default: $HS_ROOT/build/src/hybridserve)
#          HS_ROOT     the HybridServe checkout (the sbatch scripts default it to theirs)
#          HS_DEVICE   cuda (default) or cpu (CI)
#          HS_OUTPUT   results file, overriding the job config's `output`
#          HS_LAUNCH   srun (default: srun --mpi=pmix) or mpirun
#          HS_PROGRESS_S  seconds between progress lines in the log (default 60)
# The log (%x-%j.out) gets one line per run start, the job's progress lines and, at the end,
# "HYBRIDSERVE-JOB-DONE" when every request has its result.
set -uo pipefail

log() { echo "[hybridserve-job $(date -u +%FT%TZ)] $*"; }
config=${1:?usage: sbatch slurm/<script>.sbatch JOB.toml [run options...]}
shift
: "${HS_ROOT:?HS_ROOT: the HybridServe checkout (the sbatch scripts set it)}"
bin=${HS_BIN:-$HS_ROOT/build/src/hybridserve}
device=${HS_DEVICE:-cuda}
args=(run --config "$config" --device "$device" --resume --progress-s "${HS_PROGRESS_S:-60}")
[ -n "${HS_OUTPUT:-}" ] && args+=(--output "$HS_OUTPUT")
args+=("$@")

log "job ${SLURM_JOB_ID} (restart ${SLURM_RESTART_COUNT:-0}) on ${SLURM_JOB_NODELIST}:" \
    "${SLURM_NTASKS:-1} task(s), device $device, config $config"
[ -x "$bin" ] || { log "no hybridserve binary at $bin (set HS_BIN or HS_ROOT)"; exit 2; }

requeued=0
requeue() {
  log "signal $1: time limit near or preempted; requeueing job $SLURM_JOB_ID (the next run" \
      "resumes from the journal)"
  requeued=1
  scontrol requeue "$SLURM_JOB_ID" || log "scontrol requeue failed"
}
trap 'requeue USR1' USR1
trap 'log "signal TERM: the job is being stopped (requeue, preemption or scancel)"' TERM

case ${HS_LAUNCH:-srun} in
  srun) srun --mpi=pmix --kill-on-bad-exit=1 "$bin" "${args[@]}" & ;;
  mpirun) mpirun "$bin" "${args[@]}" & ;;
  *) log "HS_LAUNCH must be srun or mpirun"; exit 2 ;;
esac
step=$!
# Bash runs a trap only between commands: wait in the background job's place, and wait again
# while the step lives (a trapped signal ends `wait` early).
while :; do
  wait "$step"
  rc=$?
  kill -0 "$step" 2>/dev/null || break
done
if [ "$requeued" = 1 ]; then
  log "run stopped (rc $rc) for the requeue"
  exit 0
fi
if [ "$rc" -eq 0 ]; then
  log "HYBRIDSERVE-JOB-DONE: every request has its result"
else
  log "run failed (rc $rc); after fixing the cause, resubmit: it resumes from the journal"
fi
exit "$rc"

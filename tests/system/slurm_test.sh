# The shipped Slurm script on a real one-node Slurm (munged, slurmctld, slurmd on localhost as
# root, all state under a temp dir): slurm/one-node.sbatch with 2 tasks on the cpu backend
# (srun --mpi=pmix, 2 ranks). Mid-run the batch shell gets the time-limit warning signal (USR1,
# as #SBATCH --signal=B:USR1@300 sends it); its trap requeues the job, the job starts again and
# resumes. Checked: the job ends COMPLETED after one restart, its log (%x-%j.out) has both runs
# and the sentinel line, the results equal a plain one-process run, every request exactly once,
# and the resumed run skipped exactly the requests finished before the requeue. The cluster is
# shut down, and its daemons waited for, even when a check fails.
source "$(dirname "$0")/lib/common.bash"
source "$SRC/tests/system/lib/slurm_cluster.bash"
if [ "$(id -u)" != 0 ]; then echo "SKIPPED: the throw-away Slurm cluster needs root"; exit 0; fi
for c in slurmctld slurmd sbatch scontrol munged mungekey; do
  command -v "$c" >/dev/null || die "$c not installed (tools/setup.sh installs Slurm and munge)"
done
trap 'slurm_stop; cleanup_tmp' EXIT
chmod 755 "$TMP"  # munged wants every directory above its socket open to all
cd "$TMP"

# Long enough that the requeue lands while the job runs: at 600 requests the two ranks could
# finish the last three quarters before the batch shell's trap had requeued the job.
$CHECK make-dataset data.jsonl --goldens "$GOLDEN" --n 2400 --long-every 2 --with-goldens
TOTAL=$(grep -c . data.jsonl)
step "reference: one process"
"$BIN" run --model "$MODEL" --input data.jsonl --batch-size 4 --output ref.jsonl 2>/dev/null
cat >job.toml <<TOML
model = "$MODEL"
input = "$TMP/data.jsonl"
output = "$TMP/out.h5"
batch-size = 4
checkpoint-s = 1
TOML

step "start Slurm"
slurm_start "$TMP/slurm"
step "sbatch slurm/one-node.sbatch, 2 tasks, HS_DEVICE=cpu"
jid=$(HS_BIN="$BIN" HS_DEVICE=cpu HS_PROGRESS_S=1 \
  sbatch --parsable --ntasks-per-node=2 --cpus-per-task=1 "$SRC/slurm/one-node.sbatch" "$TMP/job.toml")
log="$TMP/hybridserve-$jid.out"
$CHECK wait-journal out.h5.journal --requests $((TOTAL / 4)) --timeout 120 >/dev/null ||
  { cat "$log"; die "job $jid made no progress"; }
step "time-limit warning: USR1 to the batch shell"
scancel --signal=USR1 --batch "$jid"
# A requeued job waits (Reason=BeginTime) before it may start again; a site's scheduler decides
# how long. Let this one go as soon as it is pending, and record what Slurm said.
for _ in $(seq 240); do
  [ "$(slurm_job_field "$jid" JobState)" = PENDING ] && break
  sleep 0.25
done
echo "   requeued: $(scontrol show job "$jid" -o | grep -oP '(JobState|Reason|Restarts|StartTime)=\S+' | tr '\n' ' ')"
scontrol update JobId="$jid" StartTime=now
slurm_wait_job "$jid" 180
step "job $jid: $JOB_STATE after $JOB_RESTARTS restart(s)"
sed 's/^/   | /' "$log" | grep -v "^   | \[hybridserve\] [0-9]" | grep -v "^   | [a-z_]* *[0-9]" || true
[ "$JOB_STATE" = COMPLETED ] || die "job ended $JOB_STATE"
[ "$JOB_RESTARTS" = 1 ] || die "expected one restart (the requeue), got $JOB_RESTARTS"
for want in "(restart 0)" "signal USR1" "(restart 1)" "on 2 ranks (launcher: srun)" \
  "HYBRIDSERVE-JOB-DONE"; do
  grep -qF -- "$want" "$log" || die "job log lacks '$want'"
done
# Not a terminal: plain progress lines (HS_PROGRESS_S=1), no carriage returns.
grep -q "^\[hybridserve\] [0-9]*/$TOTAL done" "$log" || die "no progress lines in the job log"
! grep -q $'\r' "$log" || die "carriage returns in the job log"
$CHECK once out.h5 data.jsonl --errors 0
$CHECK same ref.jsonl out.h5
$CHECK h5check out.h5
before=$($CHECK count out.h5 session 0)
grep -q "skipped: $before;" "$log" || die "the resumed run did not skip the $before requests of the first"
[ "$before" -gt 0 ] && [ "$before" -lt "$TOTAL" ] || die "the requeue did not land mid-run ($before)"
echo "   first run finished $before of $TOTAL requests; the requeued run skipped them"
step "stop Slurm"
slurm_stop
step "slurm_test passed"

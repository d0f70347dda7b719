# kill -9 at several points and --resume: every request ends up exactly once, with the tokens of
# an uninterrupted run; requests finished before a kill are not computed again (the resumed run
# says how many it skipped, equal to what an independent reader finds in the journal, and their
# rows keep their earlier session number); a torn last journal record is dropped; the results
# file is readable (h5dump, h5py) after every kill. Kill points are found by polling the journal.
source "$(dirname "$0")/lib/common.bash"
cd "$TMP"

# ~800 requests, half of them 64-token prompts with 40-60 new tokens: a few seconds of work.
$CHECK make-dataset data.jsonl --goldens "$GOLDEN" --n 800 --long-every 2 --with-goldens
TOTAL=$(grep -c . data.jsonl)
ARGS=(run --model "$MODEL" --input data.jsonl --batch-size 4 --checkpoint-s 0.2 --progress-s 1)

step "uninterrupted reference run"
"$BIN" "${ARGS[@]}" --output ref.jsonl 2>ref.log
$CHECK goldens ref.jsonl "$GOLDEN"
$CHECK once ref.jsonl data.jsonl --errors 0

# start_job OUT [LAUNCHER...]: the same command every time, always with --resume (as the Slurm
# scripts do), in the background; PID in $JOB.
start_job() {
  local out=$1; shift
  "$@" "$BIN" "${ARGS[@]}" --output "$out" --resume 2>>"$out.log" &
  JOB=$!
}
# start_held OUT N: start_job, with an --on-checkpoint hook that, once N or more rows are done,
# marks OUT.held and blocks on the fifo OUT.fifo: the job is then between two checkpoints, its
# file complete and closed, and stays so until it is killed.
start_held() {
  local out=$1 n=$2
  mkfifo "$out.fifo"
  "$BIN" "${ARGS[@]}" --output "$out" --resume --on-checkpoint \
    "[ \"\$HYBRIDSERVE_ROWS_DONE\" -lt $n ] || { : >'$out.held'; read _ <'$out.fifo'; }" \
    2>>"$out.log" &
  JOB=$!
}
# kill_held OUT: waits for the hook's mark, kill -9, then releases the hook's shell (which the
# kill left running) through the fifo.
kill_held() {
  $CHECK wait-file "$1.held" --pid "$JOB"
  kill -9 "$JOB"
  wait "$JOB" 2>/dev/null || true
  echo >"$1.fifo"
  rm -f "$1.fifo" "$1.held"
}
# kill_when OUT N PID_TO_KILL: waits until OUT's journal holds >= N requests, kill -9.
kill_when() {
  $CHECK wait-journal "$1.journal" --requests "$2" --pid "$3" >/dev/null
  kill -9 "$3"
  wait "$JOB" 2>/dev/null || true
}
# after_kill OUT K: checks of the files a kill left, saves the journaled ids as done-K.txt.
after_kill() {
  local out=$1 k=$2
  $CHECK journal-ids "$out.journal" >"$out.done-$k.txt"
  local n; n=$(wc -l <"$out.done-$k.txt")
  [ "$n" -lt "$TOTAL" ] || die "kill $k came too late: the job had finished"
  echo "   killed with $n of $TOTAL requests journaled"
  [ -f "$out" ] || return 0
  # The last checkpoint is readable, except where the kill landed inside its write (a few ms
  # every --checkpoint-s, far more under sanitizers; docs/OUTPUT.md, "A crash"): then the
  # resume writes its rows again. A kill between checkpoints (HELD=1) must leave it readable.
  case $out in
    *.h5)
      if ! { h5dump -H "$out" >/dev/null 2>&1 && $CHECK h5check "$out" 2>"$out.torn"; }; then
        [ "${HELD:-0}" = 0 ] || die "a kill between checkpoints left $out unreadable: $(tail -1 "$out.torn")"
        echo "   the kill tore the checkpoint being written: $(tail -1 "$out.torn" | cut -c1-120)"
        return 0
      fi ;;
  esac
  $CHECK subset "$out" "$out.journal"
}
# resumed_ok OUT K: the log of the run that followed kill K says it skipped exactly those.
resumed_ok() {
  local out=$1 k=$2 n; n=$(wc -l <"$out.done-$k.txt")
  grep -q "skipped: $n;" "$out.log" || { cat "$out.log"; die "resume after kill $k did not skip $n"; }
}

step "h5: kill -9 after the first unit"
start_job out.h5
kill_when out.h5 1 "$JOB"; after_kill out.h5 1
step "h5: resume, kill -9 mid-way, between two checkpoints"
start_held out.h5 $((TOTAL / 2))
kill_held out.h5; HELD=1 after_kill out.h5 2; resumed_ok out.h5 1
step "h5: tear the last journal record, resume, kill -9 near the end"
printf 'HSRC\003\000\000\000\377\000\000\000\000\000\000\000{"unit": 7, "res' >>out.h5.journal
start_job out.h5
kill_when out.h5 $((TOTAL * 9 / 10)) "$JOB"; after_kill out.h5 3; resumed_ok out.h5 2
grep -q "torn record" out.h5.log || { cat out.h5.log; die "torn record not reported"; }
step "h5: resume to the end"
start_job out.h5; wait "$JOB" || { cat out.h5.log; die "final resume failed"; }
resumed_ok out.h5 3
$CHECK once out.h5 data.jsonl --errors 0
$CHECK same ref.jsonl out.h5
for k in 1 2 3; do $CHECK not-recomputed out.h5 "out.h5.done-$k.txt" "$k"; done
h5dump out.h5 >/dev/null
$CHECK h5check out.h5
"$PY" -c "import h5py,sys; m=h5py.File('out.h5')['meta'].attrs; sys.exit(0 if (m['sessions'], m['complete']) == (4, 1) else 1)" ||
  die "/meta should say 4 sessions, complete"

step "jsonl: kill -9 mid-way, resume"
start_job out.jsonl
kill_when out.jsonl $((TOTAL / 2)) "$JOB"; after_kill out.jsonl 1
start_job out.jsonl; wait "$JOB" || { cat out.jsonl.log; die "resume failed"; }
resumed_ok out.jsonl 1
$CHECK once out.jsonl data.jsonl --errors 0
$CHECK same ref.jsonl out.jsonl
$CHECK not-recomputed out.jsonl out.jsonl.done-1.txt 1

step "mpirun -np 2: kill -9 rank 0 mid-way, resume on 3 ranks"
start_job mpi.h5 mpirun -np 2
rank0=$(mpirun_rank_pid "$JOB" 0)
kill_when mpi.h5 $((TOTAL / 2)) "$rank0"; after_kill mpi.h5 1
sed -i 's/^/   | /' mpi.h5.log
ARGS_SAVED=("${ARGS[@]}")
start_job mpi.h5 mpirun -np 3; wait "$JOB" || { cat mpi.h5.log; die "mpirun resume failed"; }
resumed_ok mpi.h5 1
$CHECK once mpi.h5 data.jsonl --errors 0
$CHECK same ref.jsonl mpi.h5
$CHECK not-recomputed mpi.h5 mpi.h5.done-1.txt 1
step "resume_test passed"

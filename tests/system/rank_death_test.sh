# A worker rank killed (kill -9) under `mpirun -np 3`: mpirun ends the job and names the rank;
# the journal holds the unit the rank was given (a dispatch record without results), and the
# resume says which rank, host and unit were lost (checked against an independent reading of the
# journal), computes it again, and every line ends up exactly once with the tokens of an
# uninterrupted run. The kill point is found by polling the journal.
source "$(dirname "$0")/lib/common.bash"
cd "$TMP"

$CHECK make-dataset data.jsonl --goldens "$GOLDEN" --n 800 --long-every 2 --with-goldens
ARGS=(run --model "$MODEL" --input data.jsonl --batch-size 4 --checkpoint-s 0.2 --progress-s 1)

step "uninterrupted reference run"
"$BIN" "${ARGS[@]}" --output ref.jsonl 2>ref.log
$CHECK once ref.jsonl data.jsonl --errors 0

step "mpirun -np 3: kill -9 rank 1 once it holds work"
mpirun -np 3 "$BIN" "${ARGS[@]}" --output out.h5 --resume 2>first.log &
JOB=$!
rank1=$(mpirun_rank_pid "$JOB" 1)
$CHECK wait-dispatch out.h5.journal --rank 1 --units 3
kill -9 "$rank1"
rc=0
wait "$JOB" || rc=$?
[ "$rc" -ne 0 ] || { cat first.log; die "mpirun succeeded although rank 1 was killed"; }
grep -q "process rank 1 .*exited on signal 9" first.log ||
  { cat first.log; die "the job's log does not name rank 1 as killed"; }
echo "   mpirun ended (rc $rc): $(grep -m1 "process rank 1 " first.log | cut -c1-150)"
$CHECK lost out.h5.journal >lost.txt
grep -q "^0 [0-9]* 1 $(hostname) " lost.txt || { cat lost.txt; die "the journal has no lost unit of rank 1"; }
echo "   journal: $(wc -l <lost.txt) unit(s) handed out and never returned: $(tr '\n' ';' <lost.txt)"

step "resume on 3 ranks: the log names each lost unit's rank, host and lines"
mpirun -np 3 "$BIN" "${ARGS[@]}" --output out.h5 --resume 2>second.log ||
  { cat second.log; die "resume failed"; }
while read -r session unit rank host first last; do
  want="lost: session $session: unit $unit (lines $first-$last, "
  grep -F "$want" second.log | grep -qF "was handed to rank $rank (host $host," ||
    { cat second.log; die "resume log lacks: $want ... rank $rank (host $host"; }
done <lost.txt
grep "lost:" second.log | sed 's/^/   /' | cut -c1-160
$CHECK once out.h5 data.jsonl --errors 0
$CHECK same ref.jsonl out.h5
step "rank_death_test passed"

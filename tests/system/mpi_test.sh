# MPI ranks on the cpu backend: `mpirun -np 1..4` give the same results as one process without
# MPI (same ids, tokens, finish reasons, in input order, each line exactly once), for .jsonl and
# .h5, and uneven prompt lengths are balanced by handing units out on demand (the `balance`
# check in lib/hs_results.py states exactly what is checked). The one-process run is itself
# checked against the Hugging Face goldens of opt-tiny.
source "$(dirname "$0")/lib/common.bash"
cd "$TMP"

# 8 HF golden cases, then 400 requests where every 4th has the longest prompt (64 tokens) and
# 40-60 new tokens while the rest have <= 9 tokens and 2-6 new ones (~30x less work), and one
# malformed line.
$CHECK make-dataset data.jsonl --goldens "$GOLDEN" --n 400 --long-every 4 --with-goldens --bad-line
# run OUTPUT [LAUNCHER...]
run() {
  local out=$1; shift
  "$@" "$BIN" run --model "$MODEL" --input data.jsonl --batch-size 4 --progress-s 5 --output "$out"
}

step "one process, no MPI"
run ref.jsonl 2>single.log
grep -q "on 1 rank (launcher: none)" single.log || { cat single.log; die "not a plain single process"; }
$CHECK goldens ref.jsonl "$GOLDEN"
$CHECK once ref.jsonl data.jsonl --errors 1
grep -q '"error":"line 209: not valid JSON"' ref.jsonl || die "the malformed line is not reported"
run ref.h5 2>/dev/null
$CHECK same ref.jsonl ref.h5

for n in 1 2 3 4; do
  step "mpirun -np $n (.jsonl)"
  run "mpi$n.jsonl" mpirun -np "$n" 2>"mpi$n.log" || { cat "mpi$n.log"; die "mpirun -np $n failed"; }
  grep -q "on $n rank.* (launcher: mpirun)" "mpi$n.log" || { cat "mpi$n.log"; die "not $n MPI ranks"; }
  $CHECK same ref.jsonl "mpi$n.jsonl"
  $CHECK once "mpi$n.jsonl" data.jsonl --errors 1
  $CHECK balance "mpi$n.jsonl" --min-ranks "$([ "$n" -gt 1 ] && echo 2 || echo 1)"
done
for n in 2 4; do
  step "mpirun -np $n (.h5)"
  run "mpi$n.h5" mpirun -np "$n" 2>"mpi$n-h5.log" || { cat "mpi$n-h5.log"; die "mpirun -np $n failed"; }
  $CHECK same ref.h5 "mpi$n.h5"
  $CHECK once "mpi$n.h5" data.jsonl --errors 1
  $CHECK balance "mpi$n.h5" --min-ranks 2
  $CHECK h5check "mpi$n.h5"
  h5dump -H "mpi$n.h5" >/dev/null
done
step "mpi_test passed"

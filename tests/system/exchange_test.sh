# The weight exchange's host stand-in (run --weight-exchange host) under mpirun, on the cpu
# backend with a model made here (8 layers, every layer's weights streamed):
#  - 2 and 4 ranks give the tokens of one process for every cache policy (kv, act, hybrid,
#    recompute-tokens), and for int8 weights;
#  - per rank and step, the weight bytes copied from the host are the rank's share of every
#    streamed layer (1/N, the last rank what is left) and the rest is all-gathered (the trace's
#    weights and exchange rows), against the layer bytes the 1-process run copies whole;
#  - what cannot run is refused before anything loads, saying what to change;
#  - a rank killed mid-job ends the job (no rank is left waiting in an all-gather) and --resume
#    completes it with the same tokens.
source "$(dirname "$0")/lib/common.bash"
cd "$TMP"

step "make the model and the requests"
$PY "$SRC/tools/make_model.py" model --hidden 256 --layers 8 --heads 4 --kv-heads 2 --ffn 512 \
  --vocab 1024 --max-positions 128 --seed 3
$CHECK random-ids data.jsonl --n 24 --vocab 1024 --min-len 4 --max-len 40 --seed 5
# --gpu-mem-gib 0.008 holds two of the 2.4 MB layers in flight and no resident layer.
opts() {
  local out=$1 policy=$2; shift 2
  echo run --model model --input data.jsonl --output "$out" --max-new-tokens 8 --batch-size 4 \
    --gpu-mem-gib 0.008 --policy "$policy" "$@"
}

# check_bytes ONE.h5 N.h5 N: the trace's weight and exchange bytes of every (rank, unit, step) of
# the N-rank run against the layer bytes of the 1-process run.
check_bytes() {
  $PY - "$@" <<'EOF'
import collections, json, sys
import h5py
one, many, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
def sums(path):
    with h5py.File(path, "r") as f:
        t = f["trace"]
        plan = json.loads(f["meta"].attrs["plan"])
        names = dict(h5py.check_enum_dtype(t["kind"].dtype).items())
        rows = zip(t["rank"][:], t["session"][:], t["unit"][:], t["step"][:], t["layer"][:],
                   t["kind"][:], t["bytes"][:])
        out = collections.defaultdict(lambda: collections.Counter())
        layers = set()
        for rank, session, unit, step, layer, kind, nbytes in rows:
            key = (int(rank), int(session), int(unit), int(step))
            if kind == names["weights"]:
                out[key]["weights"] += int(nbytes)
                layers.add(int(layer))
            elif kind == names["exchange"]:
                out[key]["exchange"] += int(nbytes)
    return out, layers, plan
ref, streamed, plan1 = sums(one)
per_step = {v["weights"] for v in ref.values()}
if len(per_step) != 1 or len(streamed) != 8 or plan1["gpu_weight_layers"] != 0:
    sys.exit(f"FAIL: the 1-process run should copy all 8 layers every step: {per_step}, "
             f"{sorted(streamed)}")
layer = per_step.pop() // len(streamed)
share = -(-layer // n)
got, _, plan = sums(many)
if plan["exchange_ranks"] != n:
    sys.exit(f"FAIL: the {n}-rank plan says exchange_ranks {plan['exchange_ranks']}")
bad = []
for (rank, session, unit, step), v in sorted(got.items()):
    own = max(0, min(layer, (rank + 1) * share) - rank * share)
    want = {"weights": 8 * own, "exchange": 8 * (layer - own)}
    if dict(v) != want:
        bad.append(f"rank {rank} unit {unit} step {step}: {dict(v)}, want {want}")
ranks = {k[0] for k in got}
print(f"   {n} ranks: {len(got)} steps on ranks {sorted(ranks)}; a layer is {layer} bytes, "
      f"each rank copies {share} of it (the last what is left) and all-gathers the rest")
if bad:
    sys.exit("FAIL: " + "; ".join(bad[:5]))
if len(ranks) < 2:
    sys.exit(f"FAIL: only ranks {sorted(ranks)} computed a unit: the lockstep was not exercised")
EOF
}

for policy in kv act hybrid recompute-tokens; do
  step "$policy: one process, then 2 and 4 ranks exchanging the weights"
  "$BIN" $(opts "one-$policy.h5" "$policy") 2>"one-$policy.log" ||
    { cat "one-$policy.log"; die "one process ($policy)"; }
  for n in 2 4; do
    mpirun -np "$n" "$BIN" $(opts "n$n-$policy.h5" "$policy" --weight-exchange host) \
      2>"n$n-$policy.log" || { cat "n$n-$policy.log"; die "$n ranks ($policy)"; }
    $CHECK same "one-$policy.h5" "n$n-$policy.h5"
    $CHECK once "n$n-$policy.h5" data.jsonl --errors 0
    check_bytes "one-$policy.h5" "n$n-$policy.h5" "$n"
  done
done

step "int8 weights: 2 ranks exchange the compressed bytes"
"$BIN" $(opts one-int8.h5 hybrid --weight-format int8) 2>one-int8.log ||
  { cat one-int8.log; die "one process (int8)"; }
mpirun -np 2 "$BIN" $(opts n2-int8.h5 hybrid --weight-format int8 --weight-exchange host) \
  2>n2-int8.log || { cat n2-int8.log; die "2 ranks (int8)"; }
$CHECK same one-int8.h5 n2-int8.h5
check_bytes one-int8.h5 n2-int8.h5 2

step "refused, saying what to change"
expect_error "start 2 or more ranks on each node" "$BIN" $(opts e1.h5 kv --weight-exchange host)
expect_error "it needs --share-weights node" \
  mpirun -np 2 "$BIN" $(opts e2.h5 kv --weight-exchange host --share-weights none)
expect_error "--weight-exchange nccl: it gathers GPU memory: it runs with --device cuda" \
  "$BIN" $(opts e3.h5 kv --weight-exchange nccl)
expect_error "it runs with --device cpu" "$BIN" $(opts e4.h5 kv --weight-exchange host --device cuda)
expect_error "--exchange-gbps is the weight exchange's rate" "$BIN" $(opts e5.h5 kv --exchange-gbps 5)
for f in e1.h5 e2.h5 e3.h5 e4.h5 e5.h5; do [ ! -e "$f" ] || die "$f was made by a refused run"; done

step "kill -9 a rank mid-job: the job ends; --resume completes it"
$CHECK random-ids big.jsonl --n 400 --vocab 1024 --min-len 4 --max-len 40 --seed 9
bigopts=(run --model model --input big.jsonl --max-new-tokens 8 --batch-size 4 --gpu-mem-gib 0.008
         --policy hybrid --checkpoint-s 0.2 --resume)
"$BIN" "${bigopts[@]}" --output ref.h5 2>ref.log || { cat ref.log; die "reference run"; }
mpirun -np 2 "$BIN" "${bigopts[@]}" --output kill.h5 --weight-exchange host 2>kill.log &
JOB=$!
rank1=$(mpirun_rank_pid "$JOB" 1)
$CHECK wait-journal kill.h5.journal --requests 100 --pid "$rank1" >/dev/null
kill -9 "$rank1"
# The bound only turns a hang into a failure: a job whose rank died ends in seconds.
$CHECK wait-gone "$JOB" --timeout 120 || { cat kill.log; die "the job hung after rank 1 was killed"; }
rc=0
wait "$JOB" || rc=$?
[ "$rc" -ne 0 ] || { cat kill.log; die "the job succeeded although rank 1 was killed"; }
done_before=$($CHECK journal-ids kill.h5.journal | wc -l)
[ "$done_before" -lt 400 ] || die "the kill came too late: the job had finished"
echo "   the job ended (exit $rc) with $done_before of 400 requests journaled"
mpirun -np 2 "$BIN" "${bigopts[@]}" --output kill.h5 --weight-exchange host 2>>kill.log ||
  { cat kill.log; die "--resume failed"; }
grep -q "skipped: $done_before;" kill.log || { cat kill.log; die "resume did not skip $done_before"; }
$CHECK once kill.h5 big.jsonl --errors 0
$CHECK same ref.h5 kill.h5
step "exchange_test passed"

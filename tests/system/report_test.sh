# hybridserve report on the traces people have: a 2-rank job's results (opt-tiny on the cpu
# backend, caches streamed, half as activation checkpoints, so every stream has events) and a
# bench run's trace as CSV and as HDF5. The Perfetto timeline is checked row by row against
# /trace (and by trace_processor where one is installed); the HTML page is rendered in headless
# Chromium with no network, its sections and charts found, its screenshot not blank; bad input
# is refused with the file named.
source "$(dirname "$0")/lib/common.bash"
cd "$TMP"
REPORT="$PY $SRC/tests/system/lib/check_report.py"

step "a 2-rank job with streamed caches"
$CHECK make-dataset data.jsonl --goldens "$GOLDEN" --n 40 --long-every 4
mpirun -np 2 "$BIN" run --model "$MODEL" --input data.jsonl --batch-size 4 --output job.h5 \
  --gpu-mem-gib 0.001 --policy hybrid --act-fraction 0.5 2>job.log || { cat job.log; die "run failed"; }

step "report: text (the default), Perfetto timeline, HTML"
"$BIN" report job.h5 >job.txt || die "report failed"
grep -Eq "requests +40 ok, 0 errors of 40" job.txt || { cat job.txt; die "summary"; }
grep -q "2 rank/session clocks" job.txt || { cat job.txt; die "not 2 ranks"; }
"$BIN" report job.h5 --perfetto job.json --html job.html 2>report.log || { cat report.log; die "report failed"; }
[ "$("$BIN" report job.h5 --perfetto j2.json 2>/dev/null | wc -c)" = 0 ] ||
  die "--perfetto alone printed the summary"
$REPORT perfetto job.json job.h5
$REPORT html job.html html --kinds kv,act,recompute,attention,write-back

step "--rank and --steps select rows"
"$BIN" report job.h5 --rank 1 --steps 1: --perfetto sel.json >/dev/null
$PY - job.h5 sel.json <<'PY'
import json, sys, h5py
with h5py.File(sys.argv[1]) as f:
    t = f["trace"]
    want = int(((t["rank"][:] == 1) & (t["step"][:] >= 1)).sum())
got = sum(1 for e in json.load(open(sys.argv[2]))["traceEvents"] if e["ph"] == "X")
assert got == want and want > 0, (got, want)
print(f"   rank 1, steps 1 on: {got} events, the rows /trace has of them")
PY

step "a bench trace, as CSV and as HDF5"
bench() {
  "$BIN" bench --device cpu --model-shape opt-125m --batch 4 --prompt-len 16 --gen-len 4 \
    --gpu-mem-gib 0.3 --policy hybrid --h2d-sample-ms 0 "$@"
}
bench --trace-out bench.csv >/dev/null 2>&1 || die "bench --trace-out .csv failed"
bench --trace-out bench.h5 --json >bench.json 2>/dev/null || die "bench --trace-out .h5 failed"
"$BIN" report bench.csv --perfetto bench-csv.json --html bench-csv.html --text >bench-csv.txt
"$BIN" report bench.h5 --perfetto bench-h5.json --html bench-h5.html --text >bench-h5.txt
$REPORT perfetto bench-csv.json bench.csv
$REPORT perfetto bench-h5.json bench.h5
$REPORT decode-step bench-h5.txt bench.json
grep -Eq "model +opt-125m" bench-h5.txt || { cat bench-h5.txt; die "the bench .h5 lost its shape"; }
$REPORT html bench-h5.html html-bench --kinds weights,ffn

step "bad input is refused, naming the file"
expect_error "cannot open 'missing.h5'" "$BIN" report missing.h5
printf 'step,layer,mini_batch,kind,bytes,start_ms,end_ms,stream\n0,0,0,ffn,0,1,x,0\n' >bad.csv
expect_error "'bad.csv' line 2, column 'end_ms': 'x' is not a number" "$BIN" report bad.csv
expect_error "--steps '5:2'" "$BIN" report job.h5 --steps 5:2
"$BIN" run --model "$MODEL" --input data.jsonl --batch-size 4 --output notrace.h5 --no-trace 2>/dev/null
"$BIN" report notrace.h5 >notrace.txt || die "a job without a trace"
grep -Eq "trace +0 of 0 rows" notrace.txt || { cat notrace.txt; die "empty trace"; }

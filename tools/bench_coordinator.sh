#!/usr/bin/env bash
# Rank 0's cost against the size of a job: datasets of N requests through the smallest model
# (tests/models/opt-tiny, 1 new token, cpu backend, one rank), and for each the wall time, rank
# 0's peak memory, its bookkeeping rate (requests per CPU second of the coordinator thread:
# hand-out, journal, results file; the engine runs on another thread), the bytes it wrote
# against the final results file plus journal, and the checkpoints' time. A "text" row runs text
# prompts through the demo model's tokenizer (tokenized on rank 0, twice: summary and hand-out).
# Prints a Markdown table (docs/BENCHMARKS.md, "Rank 0 at scale").
#   bash tools/bench_coordinator.sh BINARY [N ...]      (default N: 10000 100000 1000000)
# Needs about 600 bytes of disk per request (dataset, results, journal) in $TMPDIR.
set -euo pipefail
bin=$(realpath "${1:?usage: bench_coordinator.sh BINARY [N ...]}")
shift
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(10000 100000 1000000)
src=$(cd "$(dirname "$0")/.." && pwd)
py=$(bash "$src/tools/h5py_python.sh")
work=$(mktemp -d "${TMPDIR:-/tmp}/bench-coordinator-XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"

# row LABEL MODEL DATASET OUT: one run, one table row.
row() {
  local label=$1 model=$2 data=$3 out=$4
  local t0 t1
  t0=$(date +%s.%N)
  "$bin" run --model "$model" --input "$data" --output "$out" --overwrite --max-new-tokens 1 \
    --batch-size 256 --checkpoint-s 20 --progress-s 3600 2>log.txt ||
    { cat log.txt; exit 1; }
  t1=$(date +%s.%N)
  "$py" - "$label" "$t0" "$t1" "$out" <<'PY'
import os, re, sys
label, t0, t1, out = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
log = open("log.txt").read()
n = int(re.search(r"run: (\d+) ok", log).group(1))
m = re.search(r"peak memory ([\d.]+) MB; wrote ([\d.]+) MB \(results file ([\d.]+) MB, "
              r"journal ([\d.]+) MB", log)
b = re.search(r"([\d.]+) s CPU to read the input and open the output \((\d+) lines/s\), ([\d.]+) s CPU "
              r"for \d+ requests \((\d+) requests/s\); (\d+) checkpoints, ([\d.]+) ms each on "
              r"average, ([\d.]+) ms at most", log)
peak, wrote, res, jrn = map(float, m.groups())
wall = t1 - t0
print(f"| {label} | {n} | {wall:.1f} | {n / wall:.0f} | {b.group(2)} | {b.group(4)} | {peak:.1f} | "
      f"{wrote:.1f} | {res:.1f} | {jrn:.1f} | {wrote / (res + jrn):.2f} | {b.group(5)}: "
      f"{b.group(6)} / {b.group(7)} |")
PY
}

echo "| dataset | requests | wall s | requests/s | input lines/s (rank 0 CPU) | bookkeeping requests/s (rank 0 CPU) | rank 0 peak MB | written MB | results MB | journal MB | written / (results + journal) | checkpoints: avg / max ms |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
for n in "${sizes[@]}"; do
  "$py" "$src/tests/system/lib/hs_results.py" random-ids "ids-$n.jsonl" --n "$n" --vocab 512 \
    --min-len 8 --max-len 48 --seed 1
  row "ids, 8-48 tokens" "$src/tests/models/opt-tiny" "ids-$n.jsonl" "out-$n.h5"
  rm -f "out-$n.h5"* "ids-$n.jsonl"
done
# Text prompts: the sample docstrings, repeated under unique ids.
"$py" - "$src/datasets/python-docstrings.jsonl" text.jsonl 5000 <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
with open(sys.argv[2], "w") as f:
    for i in range(int(sys.argv[3])):
        f.write(json.dumps({"id": f"t{i}", "prompt": lines[i % len(lines)]["prompt"]}) + "\n")
PY
row "text (demo-opt BPE)" "$src/tests/models/demo-opt" text.jsonl out-text.h5

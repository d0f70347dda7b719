#!/usr/bin/env bash
# `run --batch-size auto` against `--batch-size 16` on one GPU: a generated LLaMA of 1.2B
# parameters (fp16, 2.4 GB) under a small GPU budget, so every step streams most layers' weights
# and the batch amortises them; the same 512 requests (100-128 prompt tokens, 32 new) both ways.
# Prints the batch auto chose (and `plan --batch auto`'s choice for the same shape), and for both
# runs the tokens per second of engine time (generated tokens / the units' compute time) and of
# the whole run (its wall time, engine load included); and checks the tokens are the same.
#   bash tools/gpu_batch_auto.sh BINARY OUT_DIR [GPU_MEM_GIB]
set -uo pipefail
bin=$(realpath "${1:?usage: gpu_batch_auto.sh BINARY OUT_DIR [GPU_MEM_GIB]}")
out=$(realpath "${2:?usage: gpu_batch_auto.sh BINARY OUT_DIR [GPU_MEM_GIB]}")
gpu=${3:-2}
src=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/gpu-batch-auto-XXXXXX)
trap 'cp "$work"/*.log "$work"/plan.txt "$out"/ 2>/dev/null; rm -rf "$work"' EXIT
cd "$work" || exit 1
python3 "$src/tools/make_model.py" model --hidden 2048 --layers 22 --heads 16 --kv-heads 16 \
  --ffn 5632 --vocab 32000 --max-positions 512 --dtype fp16 --seed 5
python3 "$src/tests/system/lib/hs_results.py" random-ids data.jsonl --n 512 --vocab 32000 \
  --min-len 100 --max-len 128 --seed 7
"$bin" plan --model model --batch auto --prompt-len 128 --gen-len 32 --gpu-mem-gib "$gpu" \
  >plan.txt 2>&1
grep -A30 "batch auto" plan.txt
for b in auto 16; do
  "$bin" run --device cuda --model model --input data.jsonl --output "b$b.h5" --overwrite \
    --max-new-tokens 32 --batch-size "$b" --gpu-mem-gib "$gpu" --progress-s 1000 2>"b$b.log"
  echo "batch-size $b: rc $?; $(grep -m1 -o 'engine ready in .*' "b$b.log" | cut -c1-200)"
done
python3 - <<'PY'
import collections, re
import h5py
res = {}
for b in ("auto", "16"):
    with h5py.File(f"b{b}.h5", "r") as f:
        r = f["requests"]
        units = dict(zip(r["unit"][:].tolist(), r["compute_ms"][:].tolist()))
        toks = int(r["output_len"][:].sum())
        sizes = collections.Counter(r["unit"][:].tolist())
        res[b] = [x.tolist() for x in r["output_ids"][:]]
    wall = float(re.search(r"tokens generated in ([\d.]+) s", open(f"b{b}.log").read()).group(1))
    engine_s = sum(units.values()) / 1e3
    print(f"RESULT batch-size {b}: units of {max(sizes.values())}, {len(units)} units, {toks} tokens; "
          f"{toks / engine_s:.1f} tok/s of engine time ({engine_s:.1f} s), "
          f"{toks / wall:.1f} tok/s of the whole run ({wall:.1f} s)")
print("RESULT tokens identical:", res["auto"] == res["16"])
PY

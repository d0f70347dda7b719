#!/usr/bin/env bash
# What compressed weights (or caches) cost on a real model: SmolLM2-135M-Instruct (models/, from
# tools/fetch_smollm2.sh) answers the first N questions of datasets/questions.jsonl greedily,
# GEN tokens each, with every layer's weights streamed as native (fp32 on the cpu backend) and
# in each compressed format; for each format, how many answers match native token for token
# and where the others first diverge. Runs on the cpu backend (a minute or two on 2 cores).
# Environment:
#   HS_FORMATS        the formats compared with native (default: int8 int4)
#   HS_FORMAT_OPTION  --weight-format (default) or --cache-format; for caches pass
#                     --policy kv --max-gpu-cache-layers 0, so every layer's cache is on the host
#                     and compressed, and a budget that holds the working set
#   HS_GPU_MEM_GIB    the GPU budget (default 0.15 GiB: no layer's weights fit, all stream)
#   HS_DEVICE         cuda runs it on a GPU (fp16 there)
#   bash tools/weight_format_fidelity.sh BINARY OUT_DIR [N] [GEN] [run options...]
set -euo pipefail
usage="usage: weight_format_fidelity.sh BINARY OUT_DIR [N] [GEN] [run options...]"
bin=$(realpath "${1:?$usage}")
out=${2:?$usage}
n=${3:-10}
gen=${4:-32}
shift $(($# < 4 ? $# : 4))
root=$(cd "$(dirname "$0")/.." && pwd)
model="$root/models/SmolLM2-135M-Instruct.Q4_1.gguf"
[ -f "$model" ] || { echo "no $model: run tools/fetch_smollm2.sh first" >&2; exit 1; }
mkdir -p "$out"
head -n "$n" "$root/datasets/questions.jsonl" >"$out/questions.jsonl"
device=${HS_DEVICE:-cpu}
option=${HS_FORMAT_OPTION:---weight-format}
case "$option" in --weight-format | --cache-format) ;; *)
  echo "HS_FORMAT_OPTION must be --weight-format or --cache-format, got $option" >&2; exit 2 ;;
esac
formats=${HS_FORMATS:-int8 int4}  # compared with native
for f in native $formats; do
  # A GPU budget that leaves room for no layer's weights or cache: every layer streams and keeps
  # its cache on the host, so the format applies to all of them.
  "$bin" run --model "$model" --input "$out/questions.jsonl" --output "$out/$f.jsonl" \
    --overwrite --max-new-tokens "$gen" --device "$device" --gpu-mem-gib "${HS_GPU_MEM_GIB:-0.15}" \
    "$option" "$f" --progress-s 1000 "$@" 2>"$out/$f.log" ||
    { echo "run with $option $f failed: see $out/$f.log" >&2; exit 1; }
  grep -m1 -o "engine ready.*" "$out/$f.log" | cut -c1-160 || true
done
python3 - "$out" $formats <<'PY'
import json, sys
out = sys.argv[1]
def rows(f):
    return {r["id"]: r["output_ids"] for r in map(json.loads, open(f"{out}/{f}.jsonl"))}
base = rows("native")
for f in sys.argv[2:]:
    got = rows(f)
    firsts = []
    for k, want in base.items():
        have = got[k]
        d = next((i for i, (a, b) in enumerate(zip(want, have)) if a != b),
                 None if len(want) == len(have) else min(len(want), len(have)))
        firsts.append(d)
    same = sum(d is None for d in firsts)
    print(f"{f}: {same}/{len(firsts)} answers identical to native; first divergence at "
          f"{sorted(d for d in firsts if d is not None)} (token positions)")
PY

#!/usr/bin/env bash
# Two builds of hybridserve side by side on the same GPU: `bench` on each workload with binary
# A, then B, then A and B again (alternating, so a drift of the machine shows as a difference
# between the two rounds, not between the builds). Prints one line per run (tokens/s, the
# plan's prediction and step, the plan chosen, the share of the link used) and keeps each run's JSON under OUT_DIR.
# For checking that a change which should not touch speed does not.
#   bash tools/bench_ab.sh BIN_A BIN_B OUT_DIR "WORKLOAD" ["WORKLOAD" ...]
# where a WORKLOAD is bench's options, e.g. "--model-shape opt-13b --batch 64 --prompt-len 512
# --gen-len 32 --gpu-mem-gib 24".
set -uo pipefail
usage="usage: bench_ab.sh BIN_A BIN_B OUT_DIR WORKLOAD..."
a=$(realpath "${1:?$usage}")
b=$(realpath "${2:?$usage}")
out=${3:?$usage}
shift 3
[ $# -gt 0 ] || { echo "$usage" >&2; exit 2; }
mkdir -p "$out"
n=0
for w in "$@"; do
  n=$((n + 1))
  echo "workload $n: $w"
  for round in 1 2; do
    for side in A B; do
      bin=$a
      [ "$side" = B ] && bin=$b
      json="$out/w$n-$side-$round.json"
      # shellcheck disable=SC2086  # a workload is several options
      "$bin" bench $w --json >"$json" 2>"$out/w$n-$side-$round.log"
      rc=$?
      python3 - "$json" "$side" "$round" "$rc" <<'PY'
import json, sys
path, side, rnd, rc = sys.argv[1:]
try:
    j = json.load(open(path))
except Exception as e:  # the run failed: say so, keep going
    print(f"  {side} round {rnd}: rc {rc}, no JSON ({e})")
    sys.exit(0)
g = lambda k: j.get(k, "?")
print(f"  {side} round {rnd}: {g('total_tokens_per_s'):.1f} tok/s (predicted "
      f"{g('predicted_tokens_per_s'):.1f}); {g('policy')} {g('num_mini_batches')} x "
      f"{g('mini_batch_size')}, {g('gpu_weight_layers')} weight / {g('gpu_cache_layers')} cache "
      f"layers resident; step {g('measured_step_ms'):.2f} ms (predicted "
      f"{g('predicted_step_ms'):.2f}); H2D {g('h2d_fraction_of_sustained'):.3f} of sustained")
PY
    done
  done
done

# --batch-size auto (the default): the rank's planner picks the engine batch, and it is the batch
# `plan --batch auto` picks for the same model, budgets and dataset shape (an independent call of
# the planner through another command), for two GPU budgets that bind at different batches; the
# work units follow it (their sizes in /requests), /meta hardware and the log say what was chosen
# and why; a fixed --batch-size still wins, and a bad one is refused.
source "$(dirname "$0")/lib/common.bash"
cd "$TMP"

# 300 requests of 40-48 tokens, 8 new tokens each: the plan's shape is prompt 48 + gen 8.
$CHECK random-ids data.jsonl --n 300 --vocab 512 --min-len 40 --max-len 48 --seed 3
[ "$("$PY" -c 'import json; print(max(len(json.loads(l)["input_ids"]) for l in open("data.jsonl")))')" = 48 ] ||
  die "the dataset's longest prompt is not 48 tokens"
BUDGET=(--device cpu --host-mem-gib 1)

for gpu in 0.002 0.004; do
  step "--gpu-mem-gib $gpu: plan --batch auto, then run without --batch-size"
  "$BIN" plan --model "$MODEL" --batch auto --prompt-len 48 --gen-len 8 --gpu-mem-gib "$gpu" \
    "${BUDGET[@]}" --json >plan.json
  want=$("$PY" -c 'import json; print(json.load(open("plan.json"))["batch_choice"]["batch"])')
  "$BIN" run --model "$MODEL" --input data.jsonl --output "out-$gpu.h5" --max-new-tokens 8 \
    --gpu-mem-gib "$gpu" "${BUDGET[@]}" 2>"run-$gpu.log" || { cat "run-$gpu.log"; die "run failed"; }
  grep -q "engine ready in .* s, batch $want: predicted .* (--batch-size auto, " "run-$gpu.log" ||
    { cat "run-$gpu.log"; die "the log does not say batch $want was chosen"; }
  "$PY" - "out-$gpu.h5" "$want" <<'PY'
import collections, json, sys
import h5py
path, want = sys.argv[1], int(sys.argv[2])
with h5py.File(path, "r") as f:
    hw = json.loads(f["meta"].attrs["hardware"])[0]
    assert hw["batch"] == want, (hw["batch"], want)
    assert hw["batch_choice"].startswith(f"batch {want}: predicted"), hw["batch_choice"]
    units = collections.Counter(f["requests"]["unit"][:].tolist())
sizes = sorted(units.values(), reverse=True)
assert sizes[0] == want and all(s == want for s in sizes[:-1]), sizes
print(f"   batch {want} (as plan chose), units of {sizes[0]} (last {sizes[-1]}): {hw['batch_choice']}")
PY
done
[ "$(grep -o 'batch [0-9]*:' run-0.002.log)" != "$(grep -o 'batch [0-9]*:' run-0.004.log)" ] ||
  die "the two budgets chose the same batch: the test would not see the budget"

step "a fixed --batch-size wins; a bad one is refused"
"$BIN" run --model "$MODEL" --input data.jsonl --output fixed.jsonl --max-new-tokens 8 \
  --gpu-mem-gib 0.004 "${BUDGET[@]}" --batch-size 4 2>fixed.log
grep -q "batch 4 (--batch-size)" fixed.log || { cat fixed.log; die "--batch-size 4 not used"; }
expect_error "--batch-size must be a positive integer or auto" \
  "$BIN" run --model "$MODEL" --input data.jsonl --output bad.jsonl --batch-size 0
expect_error "--batch-size must be a positive integer or auto" \
  "$BIN" run --model "$MODEL" --input data.jsonl --output bad.jsonl --batch-size many
step "batch_auto_test passed"

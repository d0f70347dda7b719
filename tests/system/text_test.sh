# Text in, text out: `{"id", "prompt": "text"}` lines are tokenized with the model's
# tokenizer.json, outputs are decoded into `text` beside output_ids (JSONL and HDF5, with
# /requests/prompt_text), and --stop ends a request at the first token whose decoded text
# contains the stop string. The model: opt-tiny with the gpt2-style test tokenizer cut to its
# 512-token vocabulary. Where Hugging Face's `tokenizers` package is installed, prompt ids and
# output text are compared with it; the --stop checks need nothing but the no-stop run.
source "$(dirname "$0")/lib/common.bash"
cd "$TMP"
mkdir model
for f in config.json generation_config.json model.safetensors; do ln -s "$MODEL/$f" model/; done
$CHECK make-tokenizer "$SRC/tests/tokenizers/gpt2-style" model --vocab 512
# Short prompts of the sample datasets (ASCII docstrings and multilingual country names) that
# leave room in opt-tiny's 128 positions, and one line of ids.
$PY - "$SRC/datasets" <<'PY' >data.jsonl
import json, sys
out = []
for name, n in [("python-docstrings.jsonl", 10), ("country-names.jsonl", 6)]:
    rows = [json.loads(l) for l in open(f"{sys.argv[1]}/{name}", encoding="utf-8")]
    out += [r for r in rows if len(r["prompt"].encode()) <= 90][:n]
out.insert(3, {"id": "ids-line", "input_ids": [2, 40, 41, 42]})
for r in out:
    print(json.dumps(r, ensure_ascii=False))
PY
run() { "$BIN" run --model model --input data.jsonl --batch-size 3 --max-new-tokens 16 "$@"; }

step "text prompts, decoded outputs (.jsonl and .h5)"
run --output out.jsonl 2>/dev/null
run --output out.h5 2>/dev/null
$CHECK once out.jsonl data.jsonl --errors 0
$CHECK same out.jsonl out.h5
$PY - <<'PY'
import json, h5py
rows = [json.loads(l) for l in open("out.jsonl", encoding="utf-8")]
assert all("text" in r for r in rows), "a result without text"
assert sum(1 for r in rows if r["text"].strip()) >= len(rows) // 2, "texts mostly empty"
with h5py.File("out.h5") as f:
    g = f["requests"]
    prompts = [json.loads(l).get("prompt", "") for l in open("data.jsonl", encoding="utf-8")]
    assert list(g["prompt_text"].asstr()[:]) == prompts, "prompt_text differs from the input"
    assert list(g["text"].asstr()[:]) == [r["text"] for r in rows]
print(f"   {len(rows)} results with text; /requests/text and prompt_text as in the input")
try:
    from tokenizers import Tokenizer
except ImportError:
    print("   (HF tokenizers not installed: parity with it not checked)")
else:
    tok = Tokenizer.from_file("model/tokenizer.json")
    with h5py.File("out.h5") as f:
        pids = f["requests"]["prompt_ids"][:]
        for i, (p, r) in enumerate(zip(prompts, rows)):
            if p:
                ids = tok.encode(p).ids
                if tok.post_processor is None or ids[:1] != [2]:
                    ids = [2] + ids  # tokenizer_config.json: add_bos_token
                assert list(pids[i]) == ids, (r["id"], ids)
            assert tok.decode(r["output_ids"], skip_special_tokens=True) == r["text"], r["id"]
    print("   prompt ids and output text equal HF tokenizers'")
PY

step "the h5py example of docs/OUTPUT.md reads the file"
sed -n '/^```python/,/^```$/p' "$SRC/docs/OUTPUT.md" | sed '1d;$d' | $PY - | cut -c1-150

step "--stop ends a request at the first token whose text contains the string"
stop=$($PY -c '
import json, collections
c = collections.Counter()
for r in map(json.loads, open("out.jsonl", encoding="utf-8")):
    t = r["text"]
    c.update({t[i:i + 2] for i in range(len(t) - 1) if t[i:i + 2].isascii() and t[i:i + 2].strip() == t[i:i + 2]})
print(c.most_common(1)[0][0])')
echo "   stop string: '$stop'"
run --output stop.jsonl --stop "$stop" --stop "a-string-never-generated" 2>/dev/null
$PY - "$stop" <<'PY'
import json, sys
stop = sys.argv[1]
full = [json.loads(l) for l in open("out.jsonl", encoding="utf-8")]
cut = [json.loads(l) for l in open("stop.jsonl", encoding="utf-8")]
n = 0
for f, c in zip(full, cut):
    assert f["id"] == c["id"]
    if stop in f["text"]:
        n += 1
        assert c["finish_reason"] == "stop", (c["id"], c["finish_reason"])
        assert stop in c["text"], c
        assert f["output_ids"][:len(c["output_ids"])] == c["output_ids"], "not a prefix"
        assert len(c["output_ids"]) <= len(f["output_ids"])
    else:
        assert (c["output_ids"], c["finish_reason"]) == (f["output_ids"], f["finish_reason"]), c
assert n > 0, "the stop string stopped nothing"
print(f"   {n} of {len(full)} requests stopped at '{stop}', the others unchanged")
PY
expect_error "--stop strings (generation.stop)" run --output out.h5 --resume --stop "$stop"
step "text_test passed"

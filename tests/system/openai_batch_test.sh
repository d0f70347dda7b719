# OpenAI batch files (the Batch API's and `vllm run-batch`'s format) in and out, on the demo
# model: /v1/completions lines give the text that the same prompts give as plain rows, greedy
# lines as a greedy run and lines with their own temperature, top_p and seed as a run with those
# options (both kinds mixed in one work unit), a line's own stop strings as --stop; every output
# line follows the batch output format (read here with the json module alone); lines that cannot
# run as asked (chat completions, n = 2, not JSON) get an error object naming the line.
source "$(dirname "$0")/lib/common.bash"
cd "$TMP"
MODEL=$SRC/tests/models/demo-opt

run() { "$BIN" run --model "$MODEL" --input "$1" --output "$2" --batch-size 4 "${@:3}" 2>"$2.log" ||
  { cat "$2.log"; die "run $1 -> $2"; }; }
$PY - "$SRC/datasets/python-docstrings.jsonl" <<'EOF'
import json, sys
prompts = [json.loads(l)["prompt"] for l in open(sys.argv[1])][:12]
with open("plain.jsonl", "w") as p:
    for i, text in enumerate(prompts):
        p.write(json.dumps({"id": f"q{i}", "prompt": text, "max_new_tokens": 8}) + "\n")
EOF
step "plain rows: greedy, sampled (--temperature 0.8 --top-p 0.9 --seed 7), --stop S"
run plain.jsonl greedy.jsonl
# S: a piece of q4's greedy text after its first characters, so that q4 stops early at it.
stop=$($PY -c "import json; print([json.loads(l) for l in open('greedy.jsonl')][4]['text'][3:5])")
[ -n "$stop" ] || die "q4's greedy text is too short to take a stop string from"
run plain.jsonl sampled.jsonl --temperature 0.8 --top-p 0.9 --seed 7
run plain.jsonl stopped.jsonl --stop "$stop"
$PY - "$SRC/datasets/python-docstrings.jsonl" "$stop" <<'EOF'
import json, sys
prompts = [json.loads(l)["prompt"] for l in open(sys.argv[1])][:12]
with open("batch.jsonl", "w") as b:
    for i, text in enumerate(prompts):
        body = {"model": "demo", "prompt": text, "max_tokens": 8}
        if i % 2:  # odd lines sample with their own settings
            body.update({"temperature": 0.8, "top_p": 0.9, "seed": 7})
        if i == 4:
            body["stop"] = [sys.argv[2]]
        b.write(json.dumps({"custom_id": f"q{i}", "method": "POST", "url": "/v1/completions",
                            "body": body}) + "\n")
    b.write(json.dumps({"custom_id": "chat", "method": "POST", "url": "/v1/chat/completions",
                        "body": {"messages": [{"role": "user", "content": "hi"}]}}) + "\n")
    b.write(json.dumps({"custom_id": "two", "method": "POST", "url": "/v1/completions",
                        "body": {"prompt": "x", "n": 2}}) + "\n")
    b.write("{not json\n")
EOF
step "the same prompts as an OpenAI batch file"
run batch.jsonl batch-out.jsonl
run batch.jsonl batch-out.h5
$CHECK once batch-out.h5 batch.jsonl --errors 3
$PY - <<'EOF'
import json, sys
def rows(name):
    return {r["id"]: r for r in map(json.loads, open(name))}
greedy, sampled, stopped = rows("greedy.jsonl"), rows("sampled.jsonl"), rows("stopped.jsonl")
out = [json.loads(l) for l in open("batch-out.jsonl")]
fail = []
if len(out) != 15:
    fail.append(f"{len(out)} output lines for 15 input lines")
for n, o in enumerate(out, 1):
    if set(o) != {"id", "custom_id", "response", "error"}:
        fail.append(f"line {n}: keys {sorted(o)}")
        continue
    cid = o["custom_id"]
    if n > 12:
        e = o["error"]
        want = {13: "chat completions", 14: "'n' must be 1", 15: "not valid JSON"}[n]
        if o["response"] is not None or not e or e.get("code") != "invalid_request" or \
                not e.get("message", "").startswith(f"line {n}: ") or want not in e["message"]:
            fail.append(f"line {n}: expected an invalid_request error about {want!r}, got {o}")
        if n < 15 and cid != ["chat", "two"][n - 13]:
            fail.append(f"line {n}: custom_id {cid}")
        continue
    i = int(cid[1:])
    ref = stopped if i == 4 else (sampled if i % 2 else greedy)
    r = o["response"]
    if o["error"] is not None or r["status_code"] != 200:
        fail.append(f"line {n}: not a success: {o}")
        continue
    body = r["body"]
    c = body["choices"][0]
    if body["object"] != "text_completion" or c["index"] != 0 or len(body["choices"]) != 1:
        fail.append(f"line {n}: body {body}")
    if c["text"] != ref[cid]["text"] or c["token_ids"] != ref[cid]["output_ids"]:
        fail.append(f"line {n}: text {c['text']!r} / {ref[cid]['text']!r}")
    fr = {"eos": "stop", "stop": "stop", "length": "length"}[ref[cid]["finish_reason"]]
    if c["finish_reason"] != fr:
        fail.append(f"line {n}: finish_reason {c['finish_reason']} (plain: {fr})")
    u = body["usage"]
    if (u["prompt_tokens"], u["completion_tokens"]) != (ref[cid]["prompt_len"], ref[cid]["output_len"]) \
            or u["total_tokens"] != u["prompt_tokens"] + u["completion_tokens"]:
        fail.append(f"line {n}: usage {u}")
if greedy["q1"]["text"] == sampled["q1"]["text"] and greedy["q3"]["text"] == sampled["q3"]["text"]:
    fail.append("sampling changed nothing: the sampled lines cannot be told from greedy ones")
if stopped["q4"]["finish_reason"] != "stop":
    fail.append(f"q4 did not stop at its stop string: {stopped['q4']}")
if fail:
    sys.exit("FAIL: " + "\n".join(fail))
print(f"   {len(out)} batch output lines: 12 completions equal to the plain runs', 3 errors")
EOF
step "openai_batch_test passed"

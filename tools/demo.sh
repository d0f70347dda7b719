#!/usr/bin/env bash
# The README's main command: installs what is missing, builds, fetches the demo's model once,
# and runs the demo job (jobs/demo.toml: SmolLM2-135M-Instruct answering sample questions, cpu
# backend). Leaves its results in out/demo.h5 and prints a few. Extra arguments go to
# `hybridserve run`.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bash "$root/tools/setup.sh"
cd "$root"
mkdir -p out
./build/src/hybridserve run --config jobs/demo.toml --overwrite "$@"
"$(bash tools/h5py_python.sh)" - <<'PY'
import json
import h5py
with h5py.File("out/demo.h5", "r") as f:
    r = f["requests"]
    status = r["status"].asstr()[:]
    print(f"out/demo.h5: {r.attrs['count']} requests, {(status == 'ok').sum()} ok, "
          f"{f['trace'].attrs['count']} trace events")
    questions = {}
    for line in open("datasets/questions.jsonl"):
        q = json.loads(line)
        questions[q["id"]] = q["messages"][-1]["content"]
    for i in range(5):
        name = r["id"].asstr()[i]
        print(f"  Q: {questions.get(name, '?')}\n  A: {r['text'].asstr()[i].strip()}\n")
PY

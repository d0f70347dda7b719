#!/usr/bin/env bash
# The README's main command: installs what is missing, builds, and runs the demo job
# (jobs/demo.toml: the shipped demo model on a sample text dataset, cpu backend). Leaves its
# results in out/demo.h5 and prints a few of them. Extra arguments go to `hybridserve run`.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bash "$root/tools/setup.sh"
cd "$root"
mkdir -p out
./build/src/hybridserve run --config jobs/demo.toml --overwrite "$@"
"$(bash tools/h5py_python.sh)" - <<'PY'
import h5py
with h5py.File("out/demo.h5", "r") as f:
    r = f["requests"]
    n = r.attrs["count"]
    ok = sum(s == b"ok" for s in r["status"][:])
    print(f"out/demo.h5: {n} requests, {ok} ok, {f['trace'].attrs['count']} trace events")
    for i in range(3):
        print(f"  {r['id'][i].decode()}: {r['prompt_text'][i].decode()[:60]!r} -> {r['text'][i].decode()[:60]!r}")
PY

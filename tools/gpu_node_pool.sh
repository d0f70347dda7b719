#!/usr/bin/env bash
# The node weight pool on a machine with one GPU: one rank against two ranks that share the GPU
# and one host copy of the streamed weights (tokens, host memory against the plan), and two
# ranks with a copy each for the streaming rate from the shared segment against a private
# pinned pool. Writes logs and JSON under OUT and prints a summary last.
#   bash tools/gpu_node_pool.sh BUNDLE_DIR OUT_DIR
# BUNDLE_DIR: tools/make_device_bundle.sh's output of an MPI + CUDA build, its OpenMPI libraries
# moved to BUNDLE_DIR/mpilib (libmpi_cxx to cxxlib): the GPU machine's own OpenMPI
# (libmpi.so.40, mpirun) runs it, and the carried ones stand in only where it has none.
set -uo pipefail
bundle=$(realpath "${1:?usage: gpu_node_pool.sh BUNDLE_DIR OUT_DIR}")
out=$(realpath "${2:?usage: gpu_node_pool.sh BUNDLE_DIR OUT_DIR}")
src=$(cd "$(dirname "$0")/.." && pwd)
export LD_LIBRARY_PATH="$bundle/lib:${LD_LIBRARY_PATH:-}"
ldconfig -p | grep -q "libmpi.so.40 " || LD_LIBRARY_PATH="$LD_LIBRARY_PATH:$bundle/mpilib"
ldconfig -p | grep -q "libmpi_cxx.so.40 " || LD_LIBRARY_PATH="$LD_LIBRARY_PATH:$bundle/cxxlib"
work=$(mktemp -d /tmp/gpu-node-pool-XXXXXX)
trap 'cp "$work"/*.json "$work"/*.log "$work"/plan.txt "$out"/ 2>/dev/null; rm -rf "$work"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 CUDA_VISIBLE_DEVICES=0
BIN=$bundle/bin/hybridserve
PY=python3
NM="$PY $src/tests/system/lib/node_memory.py"
CHECK="$PY $src/tests/system/lib/hs_results.py"
cd "$work" || exit 1
df -h /dev/shm
# A container's /dev/shm may be too small for the weights (docker's default is 64 MB).
if [ "$(df --output=avail -B1G /dev/shm | tail -1)" -lt 8 ] && mkdir -p /tmp/hs-shm &&
  mount -t tmpfs -o size=16g tmpfs /tmp/hs-shm; then
  export HYBRIDSERVE_SHM_DIR=/tmp/hs-shm
  echo "HYBRIDSERVE_SHM_DIR=$HYBRIDSERVE_SHM_DIR (a 16 GiB tmpfs: /dev/shm is small here)"
fi
nvidia-smi -L
command -v mpirun && mpirun --version | head -1
ldd "$BIN" | grep -E "not found|libmpi" || true

# A LLaMA of 1.2B parameters in fp16 (2.4 GB): at --gpu-mem-gib 1 nearly every layer streams.
$PY "$src/tools/make_model.py" model --hidden 2048 --layers 22 --heads 16 --kv-heads 16 \
  --ffn 5632 --vocab 32000 --max-positions 512 --dtype fp16 --seed 5
$CHECK random-ids data.jsonl --n 64 --vocab 32000 --min-len 24 --max-len 39 --seed 5
opts() {
  echo run --device cuda --model model --input data.jsonl --output "$1" --overwrite \
    --max-new-tokens 16 --batch-size 16 --gpu-mem-gib 1 --policy kv --progress-s 1000
}
"$BIN" plan --model model --batch 16 --prompt-len 40 --gen-len 16 --gpu-mem-gib 1 --policy kv \
  --ranks-per-node 2 | tee plan.txt

$NM run --ranks 1 --out one.json --log one.log -- "$BIN" $(opts one.h5)
$NM run --ranks 2 --out shared.json --log shared.log -- mpirun -np 2 "$BIN" $(opts shared.h5)
$NM run --ranks 2 --out copies.json --log copies.log -- \
  mpirun -np 2 "$BIN" $(opts copies.h5) --share-weights none
grep -h "engine ready\|error" one.log shared.log copies.log
$CHECK same one.h5 shared.h5 && echo "TOKENS shared: identical to one rank"
$CHECK same one.h5 copies.h5 && echo "TOKENS copies: identical to one rank"
$PY - <<'EOF'
import json, re
import h5py
for name in ("one", "shared", "copies"):
    m = json.load(open(name + ".json"))
    with h5py.File(name + ".h5", "r") as f:
        plan = json.loads(f["meta"].attrs["plan"])
        hw = json.loads(f["meta"].attrs["hardware"])
    log = open(name + ".log").read()
    gbps = re.findall(r"^weights\s+\d+\s+\d+\s+[\d.]+\s+([\d.]+)", log, re.M)
    toks = re.search(r"(\d+) tokens generated in ([\d.]+) s", log)
    print(f"SUMMARY {name}: ranks {m['ranks']}, plan node host {plan['node']['host_bytes'] / 2**20:.0f} MiB "
          f"(shared {plan['node']['shared_weight_bytes'] / 2**20:.0f}, pool a rank "
          f"{plan['host_pool_bytes'] / 2**20:.0f}); held once built {m['steady_node_mib']:.0f} MiB "
          f"(anon {m['anon_mib']:.0f}, shmem {m['shmem_mib']:.0f}; ranks {[round(x) for x in m['rank_anon_mib']]}), "
          f"file {m['file_mib']:.0f}, node peak {m['node_peak_mib']:.0f}; load s "
          f"{[round(r['load_s'], 2) for r in hw]}; weights GB/s by rank {gbps}; "
          f"{toks.group(1) if toks else '?'} tokens in {toks.group(2) if toks else '?'} s")
EOF

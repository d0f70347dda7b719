#!/usr/bin/env bash
# How long a node takes to load a safetensors model with 1, 2 and 4 ranks, the weights shared
# (--share-weights node) or a copy each (none), from a cold page cache (dropped first: needs
# root) and a warm one. Each rank's engine build time (memory taken and weights in place: the
# "engine ready in S s" line, /meta hardware load_s) is read from the log; the table gives the
# slowest rank of each run (the node is ready when it is), median over REPS runs.
#   bash tools/load_time.sh HYBRIDSERVE MODEL_DIR [REPS] [RUN_OPTIONS...]
# MODEL_DIR: e.g. one made by tools/make_model.py. RUN_OPTIONS default to every layer streamed
# on the cpu backend (--gpu-mem-gib 0.25), as the node pool test runs.
set -euo pipefail
bin=$(realpath "${1:?usage: load_time.sh HYBRIDSERVE MODEL_DIR [REPS] [RUN_OPTIONS...]}")
model=$(realpath "${2:?usage: load_time.sh HYBRIDSERVE MODEL_DIR [REPS] [RUN_OPTIONS...]}")
reps=${3:-3}
shift $(($# < 3 ? $# : 3))
extra=("$@")
[ ${#extra[@]} -gt 0 ] || extra=(--gpu-mem-gib 0.25 --policy kv)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_mpi_yield_when_idle=1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for i in 0 1 2 3 4 5 6 7; do echo "{\"id\": \"q$i\", \"input_ids\": [5, 6, 7, 8]}"; done >"$work/in.jsonl"

# one RANKS SHARE CACHE: the slowest rank's build seconds of one run.
one() {
  if [ "$3" = cold ]; then
    sync
    echo 3 >/proc/sys/vm/drop_caches
  else
    cat "$model"/*.safetensors >/dev/null
  fi
  local launch=()
  [ "$1" -gt 1 ] && launch=(mpirun -np "$1")
  "${launch[@]}" "$bin" run --model "$model" --input "$work/in.jsonl" --output "$work/o.jsonl" \
    --overwrite --max-new-tokens 1 --batch-size 2 --share-weights "$2" "${extra[@]}" 2>&1 |
    grep -o "engine ready in [0-9.]* s" | awk '{print $4}' | sort -n | tail -1
}
echo "model: $model ($(du -sh "$model" | cut -f1)); $(nproc) cores; median of $reps runs, seconds"
printf "%-6s %-6s %-6s %s\n" cache share ranks "slowest rank's build (runs)"
for cache in cold warm; do
  for share in node none; do
    for ranks in 1 2 4; do
      [ "$share" = none ] && [ "$ranks" = 1 ] && continue  # one rank shares nothing
      runs=()
      for _ in $(seq "$reps"); do runs+=("$(one "$ranks" "$share" "$cache")"); done
      median=$(printf "%s\n" "${runs[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
      printf "%-6s %-6s %-6s %s (%s)\n" "$cache" "$share" "$ranks" "$median" "${runs[*]}"
    done
  done
done

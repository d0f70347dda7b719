#!/usr/bin/env bash
# The one command a GPU machine runs: builds HybridServe with CUDA and runs every test labelled
# `gpu` (tests/gpu/*_test.cpp: each CUDA kernel against its cpu twin, the backend's copies,
# streams and events). CI has no GPU and runs `ctest -LE gpu` instead.
#   bash tools/gpu_check.sh               # configure and build into build-gpu/, then test
#   bash tools/gpu_check.sh path/to/build # test an existing CUDA build (configured with
#                                         # HS_WITH_CUDA=ON on this machine's paths)
# Environment: CMAKE_ARGS (extra configure flags, e.g. -DHS_WITH_MPI=OFF), HS_BUILD_JOBS.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

nvidia-smi -L || { echo "[gpu_check] no NVIDIA GPU visible (nvidia-smi failed)"; exit 1; }

if [ $# -ge 1 ]; then
  build="$(cd "$1" && pwd)"
else
  build="$root/build-gpu"
  # shellcheck disable=SC2086
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DHS_WITH_CUDA=ON \
    -DCMAKE_CUDA_ARCHITECTURES="${HS_CUDA_ARCHS:-90}" ${CMAKE_ARGS:-}
  targets=()
  for f in "$root"/tests/gpu/*_test.cpp; do targets+=("$(basename "$f" .cpp)"); done
  cmake --build "$build" -j"${HS_BUILD_JOBS:-$(nproc)}" --target "${targets[@]}"
fi

cd "$build"
ctest -L gpu --output-on-failure --timeout 900

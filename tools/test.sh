#!/usr/bin/env bash
# The README's test command (and CI's): installs what is missing, builds, runs every test that
# needs no GPU. On a GPU machine, `ctest --test-dir build -L gpu` runs the GPU tests.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bash "$root/tools/setup.sh"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
cd "${HS_BUILD_DIR:-$root/build}"
ctest -LE gpu --output-on-failure -j"$(nproc)" --timeout 900

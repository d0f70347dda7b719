#!/usr/bin/env bash
# The README's test command (and CI's): installs what is missing, builds, runs every test that
# needs no GPU; then the same code built with ASan+UBSan (build-asan, clang, cpu backend) runs
# the sanitized tests and each libFuzzer target for a minute (docs/FUZZING.md). On a GPU
# machine, `ctest --test-dir build -L gpu` runs the GPU tests.
#   HS_SKIP_SANITIZE=1 bash tools/test.sh    # the plain build and tests only
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bash "$root/tools/setup.sh"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
cd "${HS_BUILD_DIR:-$root/build}"
ctest -LE gpu --output-on-failure -j"$(nproc)" --timeout 900
[ "${HS_SKIP_SANITIZE:-0}" != 1 ] || exit 0
exec bash "$root/tools/sanitize.sh"

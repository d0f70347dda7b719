#!/usr/bin/env bash
# Downloads the FlexGen baseline (PyPI `flexgen`, pure Python) as wheels into .whl/ so that
# it can travel to an offline GPU machine (python 3.12, x86-64) and be installed there with
#   python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
#       --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site
# See docs/FLEXGEN.md.
#
# flexgen 0.1.8 requires torch, transformers, numpy, tqdm, attrs (all in the GPU image) and
# pulp. pulp is imported only by FlexGen's `experimental/cost_model.py` (its policy search),
# never by `flexgen.flex_opt`, so it is left out by default; `--with-pulp` adds PuLP 2.9.0,
# the last release with no dependencies of its own (17.7 MB; pulp >= 3 pulls orloge ->
# cpsat-logutils -> pydantic, none of which the image has).
#
# Usage: tools/fetch_flexgen_wheels.sh [--with-pulp] [--dest DIR]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dest="$root/.whl"
with_pulp=0
FLEXGEN_VERSION="${FLEXGEN_VERSION:-0.1.8}"
PULP_VERSION="${PULP_VERSION:-2.9.0}"
while [ $# -gt 0 ]; do
  case "$1" in
    --with-pulp) with_pulp=1 ;;
    --dest) dest="$2"; shift ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done

py="${PYTHON:-python3}"
mkdir -p "$dest"
# .whl/ must never be committed; .gitignore already lists /.whl/, the exclude is a second guard.
if [ "$dest" = "$root/.whl" ] && [ -d "$root/.git" ] && \
   ! git -C "$root" check-ignore -q "$root/.whl/x" 2>/dev/null; then
  echo "/.whl/" >> "$root/.git/info/exclude"
fi

# The device README's download command: cp312, manylinux x86-64, binary only.
dl() {
  "$py" -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    --platform manylinux1_x86_64 -d "$dest" "$1"
}

# Keep exactly one version of each package (two stop the whole install on the device).
rm -f "$dest"/flexgen-*.whl "$dest"/[Pp]u[Ll][Pp]-*.whl

if ! dl "flexgen==$FLEXGEN_VERSION"; then
  # Only an sdist on the index: build the (pure Python) wheel here.
  echo "no flexgen wheel; building one from the sdist" >&2
  "$py" -m pip wheel --no-deps --no-binary=flexgen -w "$dest" "flexgen==$FLEXGEN_VERSION"
fi
if [ "$with_pulp" = 1 ]; then
  dl "pulp==$PULP_VERSION"
fi

echo "wheels in $dest:"
ls -la "$dest"/*.whl
du -ch "$dest"/*.whl | tail -1
for w in "$dest"/flexgen-*.whl; do
  echo "requirements of $(basename "$w"):"
  unzip -p "$w" '*/METADATA' | grep '^Requires-Dist' || true
done

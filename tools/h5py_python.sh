#!/usr/bin/env bash
# Prints the path of a Python interpreter that imports h5py and numpy: python3 itself (not a
# pyenv shim) if it does, else Debian's /usr/bin/python3 (python3-h5py and python3-numpy, which
# tools/setup.sh installs). A machine whose python3 comes from pyenv lacks them in that one.
# Exits 1, saying so, if neither does.
for p in python3 /usr/bin/python3; do
  if command -v "$p" >/dev/null && "$p" -c "import h5py, numpy" 2>/dev/null; then
    exec "$p" -c "import sys; print(sys.executable)"
  fi
done
echo "no python3 that imports h5py and numpy (tools/setup.sh installs python3-h5py)" >&2
exit 1

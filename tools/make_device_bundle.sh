#!/usr/bin/env bash
# Packs a CUDA build made here (Debian 12) for a GPU machine that lacks the project's libraries
# (e.g. Ubuntu with serial HDF5 and no PCRE2/gtest dev packages): the hybridserve binary, the
# GPU test executables and the shared libraries they need that the GPU machine's base system may
# not have. The CUDA runtime, cuBLAS, NCCL and the driver are NOT packed: the GPU machine has its
# own.
# The build below needs Debian's serial HDF5 (apt-get install libhdf5-dev) beside setup.sh's
# packages: with MPI off, the OpenMPI build of HDF5 fails on its own #include <mpi.h>.
#   cmake -S . -B build-dev -DHS_WITH_CUDA=ON -DHS_WITH_MPI=OFF -DCMAKE_CUDA_ARCHITECTURES=90 \
#         -DHDF5_C_COMPILER_EXECUTABLE=/usr/bin/h5cc && cmake --build build-dev -j
#   bash tools/make_device_bundle.sh build-dev .devbundle
# There: export LD_LIBRARY_PATH=$PWD/.devbundle/lib:$LD_LIBRARY_PATH HS_TEST_DATA_DIR=$PWD/tests
set -euo pipefail
build="${1:?usage: make_device_bundle.sh BUILD_DIR OUT_DIR}"
out="${2:?usage: make_device_bundle.sh BUILD_DIR OUT_DIR}"
rm -rf "$out"
mkdir -p "$out/bin" "$out/lib"
cp "$build/src/hybridserve" "$out/bin/"
# The GPU tests only (tests/gpu): the cpu tests run here, and with them the bundle outgrows the
# 64 MiB a device call carries (70 MiB with all of them).
root="$(cd "$(dirname "$0")/.." && pwd)"
for f in "$root"/tests/gpu/*_test.cpp; do cp "$build/tests/$(basename "$f" .cpp)" "$out/bin/"; done
skip='^(linux-vdso|ld-linux|libc\.|libm\.|libpthread|libdl\.|librt\.|libresolv|libnss|libcuda\.|libcudart|libcublas|libnccl|libnvidia|libstdc\+\+|libgcc_s)'
for f in "$out"/bin/*; do
  ldd "$f" | awk '/=> \//{print $1, $3}' | while read -r name path; do
    [[ "$name" =~ $skip ]] && continue
    [ -e "$out/lib/$name" ] || cp -L "$path" "$out/lib/$name"
  done
done
# An MPI build: its OpenMPI libraries go to mpilib/ (libmpi_cxx to cxxlib/), so that the GPU
# machine's own OpenMPI, which its mpirun matches, is used where it has one
# (tools/gpu_node_pool.sh adds these folders only for what it lacks).
mpi_libs=(libmpi.so.40 libopen-pal.so.40 libopen-rte.so.40 libhwloc.so.15 libevent_core-2.1.so.7
  libevent_pthreads-2.1.so.7)
if [ -e "$out/lib/libmpi.so.40" ]; then
  mkdir -p "$out/mpilib" "$out/cxxlib"
  for l in "${mpi_libs[@]}"; do [ -e "$out/lib/$l" ] && mv "$out/lib/$l" "$out/mpilib/"; done
  [ -e "$out/lib/libmpi_cxx.so.40" ] && mv "$out/lib/libmpi_cxx.so.40" "$out/cxxlib/"
fi
strip --strip-unneeded "$out"/bin/* 2>/dev/null || true
du -sh "$out"

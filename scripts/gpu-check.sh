#!/usr/bin/env bash
# The CUDA backend on a GPU machine, in two halves (the GPU machine has CUDA, CMake and ninja
# but no Debian packages, no Qt and no network):
#
#   scripts/gpu-check.sh build   here: the headless build (-DTRAINBENCH_GUI=OFF, portable code)
#                                into build-gpu/, plus build-gpu/runtime-libs/ with every shared
#                                library it needs that is not part of the CUDA stack or glibc,
#                                so the folder can be carried to the GPU machine as it is.
#   scripts/gpu-check.sh run     there: the `gpu`-labelled tests and the GPU benchmark, with
#                                cuBLAS found in the Python environment's nvidia/*/lib folders
#                                (LD_LIBRARY_PATH), ending with a short table.
#   scripts/gpu-check.sh         both, on a machine that has the packages and a GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build-gpu}

build() {
  cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DTRAINBENCH_GUI=OFF \
    -DTRAINBENCH_NATIVE=OFF -DTRAINBENCH_CUDA=ON -DTRAINBENCH_BENCH=ON >/dev/null
  ninja -C "$BUILD" trainbench test_gpu bench_gpu_backend
  # Shared libraries from Debian packages (protobuf, HDF5, LMDB, zstd, ...): copied beside the
  # build, since the GPU machine has none of them. The CUDA libraries and glibc stay behind.
  mkdir -p "$BUILD/runtime-libs"
  for binary in "$BUILD/app/trainbench" "$BUILD/tests/gpu/test_gpu" "$BUILD/bench/bench_gpu_backend"; do
    ldd "$binary" | awk '/=> \// {print $3}' |
      grep -Ev '/(libc|libm|libdl|libpthread|librt|ld-linux[^/]*|libcuda|libcublas[^/]*|libcudart)\.so' |
      xargs -r cp -uL -t "$BUILD/runtime-libs"
  done
  echo "built $BUILD ($(du -sh "$BUILD/runtime-libs" | cut -f1) of runtime libraries)"
}

cuda_library_path() {
  local paths=""
  for dir in /usr/local/cuda/lib64 $(python3 -c 'import glob, site; print(" ".join(
      d for p in site.getsitepackages() for d in glob.glob(p + "/nvidia/*/lib")))' 2>/dev/null); do
    [ -d "$dir" ] && paths="$paths:$dir"
  done
  echo "${paths#:}"
}

run() {
  export LD_LIBRARY_PATH="$PWD/$BUILD/runtime-libs:$(cuda_library_path)${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
  "$BUILD/app/trainbench" devices
  local status=0
  "$BUILD/tests/gpu/test_gpu" --gtest_brief=1 2>&1 | tee "${OUT:-/tmp}/gpu-tests.log" || status=1
  "$BUILD/bench/bench_gpu_backend" | tee "${OUT:-/tmp}/gpu-bench.log" || status=1
  echo
  echo "gpu tests: $(grep -Eo '[0-9]+ tests? ran|PASSED .*|FAILED .*' "${OUT:-/tmp}/gpu-tests.log" | tr '\n' ' ')"
  return $status
}

case "${1:-all}" in
  build) build ;;
  run) run ;;
  all) build && run ;;
  *) echo "usage: $0 [build|run]" >&2; exit 2 ;;
esac

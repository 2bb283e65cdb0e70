#!/usr/bin/env bash
# The CUDA backend on a GPU machine, in two halves (the GPU machine has CUDA, CMake and ninja
# but no Debian packages, no Qt and no network):
#
#   scripts/gpu-check.sh build   here: the headless build (-DTRAINBENCH_GUI=OFF, portable code)
#                                into build-gpu/, plus build-gpu/runtime-libs/ with every shared
#                                library it needs that is not part of the CUDA stack, glibc or
#                                the C++ runtime; it prints the paths to carry to the GPU machine
#                                (the three binaries and runtime-libs, about 40 MB).
#   scripts/gpu-check.sh run     there: the `gpu`-labelled tests and the GPU benchmark, with
#                                cuBLAS found in the Python environment's nvidia/*/lib folders
#                                (LD_LIBRARY_PATH), ending with a short table.
#   scripts/gpu-check.sh data    here: Fashion-MNIST copied to build-gpu/fashion-mnist (30 MB), to
#                                carry in a call of its own (binaries and data together pass the
#                                64 MiB a call carries; the GPU machine keeps what earlier calls
#                                brought while it stays warm), with the CPU backend's samples/s of
#                                both projects measured here (cpu-baseline.txt). With it, `run`
#                                also trains projects/fashion_{mlp,cnn}.json on cuda (fp32 and
#                                bf16, 2 epochs each), prints them beside the CPU with the targets
#                                (>= 20x the CPU, bf16 >= 1.5x fp32 on the CNN), and the
#                                end-to-end test compares fashion_mlp with the CPU.
#   scripts/gpu-check.sh         both, on a machine that has the packages and a GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build-gpu}
BINARIES=(app/trainbench tests/gpu/test_gpu bench/bench_gpu_backend)

build() {
  cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DTRAINBENCH_GUI=OFF \
    -DTRAINBENCH_NATIVE=OFF -DTRAINBENCH_CUDA=ON -DTRAINBENCH_BENCH=ON -DTRAINBENCH_MPI=OFF >/dev/null
  ninja -C "$BUILD" trainbench test_gpu bench_gpu_backend
  # Without MPI for now: the GPU machine has no OpenMPI to run it (NCCL over MPI is issue 10).
  # Shared libraries from Debian packages (protobuf, HDF5, LMDB, zstd, ...): copied beside the
  # build, since the GPU machine has none of them. The CUDA libraries, glibc and the C++ runtime
  # stay behind: the GPU machine's own are newer, and cuBLAS needs them.
  rm -rf "$BUILD/runtime-libs"
  mkdir -p "$BUILD/runtime-libs"
  for binary in "${BINARIES[@]}"; do
    # SQLite and GoogleTest are linked in (the issue asks for it; cmake/Dependencies.cmake).
    if ldd "$BUILD/$binary" | grep -E 'lib(sqlite3|gtest)[^ ]*\.so'; then
      echo "gpu-check: $BUILD/$binary links SQLite or GoogleTest dynamically" >&2
      exit 1
    fi
    ldd "$BUILD/$binary" | awk '/=> \// {print $3}' |
      grep -Ev '/(libc|libm|libdl|libpthread|librt|libresolv|ld-linux[^/]*|libstdc\+\+|libgcc_s|libcuda|libcublas[^/]*|libcudart)\.so' |
      xargs -r cp -uL -t "$BUILD/runtime-libs"
  done
  # The whole build folder is too big to carry (64 MiB at most); these paths are all `run` needs.
  echo "built; carry these (total $(cd "$BUILD" && du -csh "${BINARIES[@]}" runtime-libs | tail -1 | cut -f1)):"
  for path in "${BINARIES[@]}" runtime-libs; do echo "  $BUILD/$path"; done
}

data() {
  mkdir -p "$BUILD/fashion-mnist"
  cp -u /usr/share/datasets/fashion-mnist/*.gz "$BUILD/fashion-mnist/"
  # The CPU figures the GPU's are compared with (>= 20x), measured here on this machine's CPU
  # backend with the same build, and carried beside the data.
  [ -x "$BUILD/app/trainbench" ] || build
  : >"$BUILD/fashion-mnist/cpu-baseline.txt"
  for project in fashion_mlp fashion_cnn; do
    echo "$project fp32 $(project_rate $project cpu fp32 300)" | tee -a "$BUILD/fashion-mnist/cpu-baseline.txt"
  done
  echo "carry $BUILD/fashion-mnist ($(du -sh "$BUILD/fashion-mnist" | cut -f1))"
}

# "samples/s accuracy" of a project on `device` at `precision`: 2 epochs, or `steps` steps.
project_rate() {
  local limit=(--set train.epochs=2)
  [ -n "${4:-}" ] && limit=(--set train.epochs=1 --max-steps "$4")
  "$BUILD/app/trainbench" run "projects/$1.json" --db /tmp/gpu-check.db --json \
    --set device="$2" --set precision="$3" "${limit[@]}" \
    --set data.path="$PWD/$BUILD/fashion-mnist" |
    python3 -c 'import json, sys; r = json.load(sys.stdin); ok = r.get("status") == "completed"; ok and print("%.1f %.4f" % (r["samples_per_s"], r["test_accuracy"])); sys.exit(0 if ok else 1)'
}

# The projects' table: GPU samples/s beside the CPU's, and the issue's two targets.
project_table() {
  python3 - "$1" "$2" <<'PY'
import sys
gpu = {tuple(l.split()[:2]): l.split()[2:] for l in open(sys.argv[1]) if len(l.split()) == 4}
cpu = {tuple(l.split()[:2]): l.split()[2:] for l in open(sys.argv[2]) if len(l.split()) == 4}
print("%-12s %-5s %12s %12s %9s %9s" % ("project", "prec", "GPU samp/s", "CPU samp/s", "vs CPU", "accuracy"))
for (project, precision), (rate, accuracy) in sorted(gpu.items()):
    base = cpu.get((project, "fp32"))
    ratio = "%.1fx" % (float(rate) / float(base[0])) if base and float(base[0]) > 0 else "-"
    print("%-12s %-5s %12.0f %12s %9s %9s" % (project, precision, float(rate),
          "%.0f" % float(base[0]) if base else "-", ratio, accuracy))
for project in ("fashion_mlp", "fashion_cnn"):
    base = cpu.get((project, "fp32"))
    got = gpu.get((project, "fp32"))
    if base and got and float(base[0]) > 0:
        r = float(got[0]) / float(base[0])
        print("target: %s on the GPU >= 20x the CPU: %.1fx %s" % (project, r, "met" if r >= 20 else "NOT met"))
fp32, bf16 = gpu.get(("fashion_cnn", "fp32")), gpu.get(("fashion_cnn", "bf16"))
if fp32 and bf16 and float(fp32[0]) > 0:
    r = float(bf16[0]) / float(fp32[0])
    print("target: fashion_cnn bf16 >= 1.5x fp32: %.2fx %s" % (r, "met" if r >= 1.5 else "NOT met"))
PY
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
  [ -d "$BUILD/fashion-mnist" ] && export TRAINBENCH_FASHION_MNIST="$PWD/$BUILD/fashion-mnist"
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
  "$BUILD/app/trainbench" devices
  local status=0
  "$BUILD/tests/gpu/test_gpu" --gtest_brief=1 2>&1 | tee "${OUT:-/tmp}/gpu-tests.log" || status=1
  "$BUILD/bench/bench_gpu_backend" | tee "${OUT:-/tmp}/gpu-bench.log" || status=1
  if [ -f "$BUILD/fashion-mnist/train-images-idx3-ubyte.gz" ]; then
    : >"${OUT:-/tmp}/gpu-projects.log"
    for project in fashion_mlp fashion_cnn; do
      for precision in fp32 bf16; do
        echo "$project $precision $(project_rate $project cuda $precision || echo failed)" |
          tee -a "${OUT:-/tmp}/gpu-projects.log"
      done
    done
    echo
    if [ -f "$BUILD/fashion-mnist/cpu-baseline.txt" ]; then
      project_table "${OUT:-/tmp}/gpu-projects.log" "$BUILD/fashion-mnist/cpu-baseline.txt" |
        tee "${OUT:-/tmp}/gpu-table.txt"
    fi
  fi
  echo
  echo "gpu tests: $(grep -E '^\[ +(PASSED|SKIPPED|FAILED) +\] [0-9]+ tests?' "${OUT:-/tmp}/gpu-tests.log" |
    sed -E 's/^\[ +([A-Z]+) +\] ([0-9]+).*/\2 \L\1/' | paste -sd, -)"
  return $status
}

case "${1:-all}" in
  build) build ;;
  run) run ;;
  data) data ;;
  all) build && run ;;
  *) echo "usage: $0 [build|data|run]" >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# Installs what is missing and builds the default preset (Release, GUI, tests, benchmarks) into
# build/. Extra arguments go to the configure step (e.g. -DTRAINBENCH_GUI=OFF).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-deps.sh
cmake --preset default "$@" >/dev/null
cmake --build --preset default -j "$(nproc)"

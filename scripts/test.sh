#!/usr/bin/env bash
# Quick start 2: install what is missing, build, and run the whole test suite through ctest.
# Tests labelled `gpu` skip with a message where no GPU is present.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
ctest --test-dir build --output-on-failure -j "$(nproc)" --timeout 600

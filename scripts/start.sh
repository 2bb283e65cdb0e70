#!/usr/bin/env bash
# Quick start 1: install what is missing, build, and open the workbench on the default project.
# With a display this opens the GUI; with --headless, or without a display, it trains the project
# in the terminal with a progress bar and prints the result.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
exec build/app/trainbench projects/fashion_mlp.json "$@"

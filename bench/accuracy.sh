#!/usr/bin/env bash
# Trains the shipped Fashion-MNIST projects with their default settings and prints each one's
# test accuracy on the 10,000 test images beside the issue's target.
# Usage: bench/accuracy.sh [BUILD_DIR=build]   (takes several minutes on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
db=$(mktemp -d)/accuracy.db
printf '%-20s %10s %8s %12s %10s %s\n' project accuracy target samples/s wall_s verdict
for pair in fashion_mlp:0.88 fashion_cnn:0.91; do
  name=${pair%%:*}; target=${pair##*:}
  out=$("$build/app/trainbench" run "projects/$name.json" --db "$db" --json)
  python3 - "$name" "$target" "$out" <<'PY'
import json, sys
name, target, out = sys.argv[1], float(sys.argv[2]), json.loads(sys.argv[3])
acc = out["test_accuracy"]
print(f'{name:<20} {acc:10.4f} {target:8.2f} {out["samples_per_s"]:12.0f} {out["wall_s"]:10.1f} '
      f'{"met" if acc >= target else "NOT met"}')
PY
done

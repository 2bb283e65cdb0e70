#!/usr/bin/env bash
# Data-parallel training on this machine, beside one process: an MLP on Fashion-MNIST trained by
# one rank with one thread, then by 2 ranks (trainbench launch -n 2) with one thread each and the
# same batch per rank, measured in the same run. Prints samples/s of both and their ratio (the
# issue asks >= 1.6x on a 2-core machine), and the share of the gradient all-reduces' time that
# ran hidden under backward (asks >= 50%).
# Usage: [STEPS=300] bench/data_parallel.sh [BUILD_DIR=build] [extra --set args for both runs]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
shift || true
db=$(mktemp -d)/data_parallel.db
# Big enough layers that a step is mostly matrix products, as in the runs data parallelism is for;
# buckets of 2 MiB so backward's last layers are on the wire while the first ones compute.
common=(--set model.hidden=[1024,1024,1024] --set data.batch_size=128 --set train.threads=1
        --set data.loader.workers=1 --set train.epochs=1 --set data.test_limit=1000
        --set parallel.bucket_mib=2 --max-steps "${STEPS:-300}" --db "$db" --json "$@")
export OMPI_MCA_btl_vader_single_copy_mechanism=${OMPI_MCA_btl_vader_single_copy_mechanism:-none}
one=$("$build/app/trainbench" run projects/fashion_mlp.json "${common[@]}")
two=$("$build/app/trainbench" launch -n 2 projects/fashion_mlp.json "${common[@]}" |
      python3 -c 'import json, sys
for line in sys.stdin:
    r = json.loads(line)
    if r.get("parallel", {}).get("rank") == 0: print(line.strip())')
python3 - "$one" "$two" <<'PY'
import json, sys
a, b = json.loads(sys.argv[1]), json.loads(sys.argv[2])
p = b["parallel"]
print(f'{"run":<28} {"samples/s":>10} {"steps":>6} {"train_s":>8} {"comm_s":>7} {"hidden":>7}')
print(f'{"1 rank, 1 thread":<28} {a["samples_per_s"]:10.0f} {a["steps"]:6d} {a["train_s"]:8.2f}')
print(f'{"2 ranks (launch -n 2)":<28} {b["samples_per_s"]:10.0f} {b["steps"]:6d} {b["train_s"]:8.2f}'
      f' {p["communication_s"]:7.2f} {100 * p["overlap_share"]:6.1f}%')
speedup = b["samples_per_s"] / a["samples_per_s"]
print(f'speed-up 2 ranks / 1 rank: {speedup:.2f}x (target >= 1.6x): '
      f'{"met" if speedup >= 1.6 else "NOT met"}')
print(f'all-reduce time hidden under backward: {100 * p["overlap_share"]:.1f}% (target >= 50%): '
      f'{"met" if p["overlap_share"] >= 0.5 else "NOT met"}')
PY

#!/usr/bin/env bash
# Data-parallel training on this machine, beside one process: an MLP on Fashion-MNIST trained by
# one rank with one thread, then by 2 ranks (trainbench launch -n 2) with one thread each and the
# same batch per rank, measured in the same run. Prints samples/s of both and their ratio (the
# issue asks >= 1.6x on a 2-core machine), and the share of the gradient all-reduces' time that
# ran hidden under backward (asks >= 50%).
# Usage: [STEPS=300] [ROUNDS=3] bench/data_parallel.sh [BUILD_DIR=build] [extra --set args for both runs]
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
# Alternated, ROUNDS times each (this machine's speed drifts by 20% from minute to minute): the
# medians are compared.
results=()
for round in $(seq "${ROUNDS:-3}"); do
  results+=("$("$build/app/trainbench" run projects/fashion_mlp.json "${common[@]}")")
  results+=("$("$build/app/trainbench" launch -n 2 projects/fashion_mlp.json "${common[@]}" |
      python3 -c 'import json, sys
for line in sys.stdin:
    r = json.loads(line)
    if r.get("parallel", {}).get("rank") == 0: print(line.strip())')")
done
python3 - "${results[@]}" <<'PY'
import json, statistics, sys
runs = [json.loads(a) for a in sys.argv[1:]]
one, two = runs[0::2], runs[1::2]
print(f'{"round":<6} {"1 rank, 1 thread":>17} {"2 ranks":>10} {"ratio":>6} {"comm_s":>7} {"hidden":>7}')
for i, (a, b) in enumerate(zip(one, two)):
    p = b["parallel"]
    print(f'{i + 1:<6} {a["samples_per_s"]:17.0f} {b["samples_per_s"]:10.0f} '
          f'{b["samples_per_s"] / a["samples_per_s"]:6.2f} {p["communication_s"]:7.2f} '
          f'{100 * p["overlap_share"]:6.1f}%')
a = statistics.median(r["samples_per_s"] for r in one)
b = statistics.median(r["samples_per_s"] for r in two)
hidden = statistics.median(r["parallel"]["overlap_share"] for r in two)
print(f'median samples/s: 1 rank {a:.0f}, 2 ranks {b:.0f}')
print(f'speed-up 2 ranks / 1 rank: {b / a:.2f}x (target >= 1.6x): {"met" if b / a >= 1.6 else "NOT met"}')
print(f'all-reduce time hidden under backward: {100 * hidden:.1f}% (target >= 50%): '
      f'{"met" if hidden >= 0.5 else "NOT met"}')
PY

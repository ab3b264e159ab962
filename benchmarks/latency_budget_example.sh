#!/usr/bin/env bash
# The README's worked example (issue 15): the default Fashion-MNIST search under its multiply-add budget and under
# a CPU latency budget (batch 1, one thread), each pick retrained for 2 epochs and tested, with predicted and
# measured latency. One thread per job, one job after the other. Usage:
#   bash benchmarks/latency_budget_example.sh [OUT_DIR] [LATENCY_MAX_MS]
set -euo pipefail
OUT=${1:-runs/latency_example}
LATENCY_MAX=${2:-4.5}
CREAM=${CREAM:-.venv/bin/cream}
NET="--resolution 28 --in-chans 1 --num-classes 10 --width 0.5"
mkdir -p "$OUT"
export OMP_NUM_THREADS=1

$CREAM latency-table --device cpu $NET --batch 1 --threads 1 --out "$OUT/cpu-b1.json"
$CREAM search fashion_mnist run.threads=1 run.out_dir="$OUT/search-flops" --quiet
$CREAM search fashion_mnist run.threads=1 run.out_dir="$OUT/search-latency" --quiet \
    space.flops_max=null space.latency_table="$OUT/cpu-b1.json" space.latency_max="$LATENCY_MAX"
for budget in flops latency; do
    $CREAM retrain fashion_mnist run.threads=1 run.out_dir="$OUT/retrain-$budget" --quiet \
        retrain.arch="$OUT/search-$budget/result.json" retrain.epochs=2
    $CREAM test --checkpoint "$OUT/retrain-$budget/best.pth" --latency-table "$OUT/cpu-b1.json" run.threads=1
done
# The two picks' latency measured in turns, so that both meet the same machine load.
for round in 1 2 3 4 5; do
    for budget in flops latency; do
        arch=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['arch'])" "$OUT/search-$budget/result.json")
        echo "round $round, $budget budget: $($CREAM arch "$arch" $NET --latency-table "$OUT/cpu-b1.json" | grep latency)"
    done
done

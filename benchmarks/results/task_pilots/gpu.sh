#!/usr/bin/env bash
# Issue 23, item 4: the pilots to convergence on a GPU. The 100-class overlay on the space's two extremes and two
# middle paths, 2 seeds, 6,000 steps (6 epochs' worth of images), 8 trainings side by side on one device; each
# prints as it goes and the whole stops itself after LIMIT seconds (default 420). Results: $OUT/task_pilots_gpu.jsonl
# (or benchmarks/results/task_pilots/gpu.jsonl when $OUT is unset). Run from the repository root:
#   PYTHONPATH=src LIMIT=420 bash benchmarks/results/task_pilots/gpu.sh
# Try it here first with DEVICE=cpu STEPS=8.
set -uo pipefail
device=${DEVICE:-cuda} steps=${STEPS:-6000} limit=${LIMIT:-420}
out=${OUT:+$OUT/task_pilots_gpu.jsonl}
out=${out:-benchmarks/results/task_pilots/gpu.jsonl}
for arch in 00-00-000-00-00 55-55-555-55-55 11-11-111-11-11 44-44-444-44-44; do
    for seed in 0 1; do
        timeout "$limit" python3 benchmarks/task_pilots.py overlay "$arch" --seed "$seed" --steps "$steps" \
            --width 0.5 --device "$device" --out "$out" &
    done
done
wait
cat "$out"

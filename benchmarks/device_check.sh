#!/usr/bin/env bash
# Issue 11's GPU checks on a lent GPU machine, every figure printed as soon as it is known. Parts:
#   bench     benchmarks/step_speed.py --device cuda, 28 and 224 px, cuDNN autotuning off (the default) ~ 6 min
#   profile   the same at 28 px with a torch.profiler summary of 10 Cream steps                 ~ 3 min
#   autotune  the same at 28 px with cuDNN autotuning on (how the multi-second steps arose) ~ 1.5 min
#   search    `cream search fashion_mnist` on all 54,000 training images                          ~ 3.5 min
#   demo      `make demo`'s three commands (device chosen automatically)                          ~ 4.5 min
# The times are from an H200 (2026-11-28); a device session has about 15 minutes, so pick what is still owed.
#
# Here (once):   make device-carry          # timm's wheel and Fashion-MNIST into .device/ (git-ignored)
# There:         the device tool's run, carry [".device"], e.g. command
#                `LIMIT=280 bash benchmarks/device_check.sh search; LIMIT=290 bash benchmarks/device_check.sh demo`
#
# The GPU machine has its own python3 and torch; cream runs from src/ with timm installed from the wheel.
# Every command has its own time limit, and each part stops within LIMIT seconds (default 300).
set -uo pipefail
PART=${1:?usage: device_check.sh bench|profile|autotune|search|demo}
LIMIT=${LIMIT:-300}
OUT=${OUT:-/tmp/cream-device}
DATA=${DATA:-.device/fashion-mnist}
WORK=${WORK:-/tmp/cream-device-runs}
DRY=${DRY:-}   # a CPU dry run of search/demo: extra overrides for tiny runs, e.g. "search.epochs=2 data.train_per_class=20"
mkdir -p "$OUT" "$WORK"
stop_at=$((SECONDS + LIMIT))
left() { echo $((stop_at - SECONDS)); }

if [ -d .device/site ] || python3 -m pip install -q --no-deps --target .device/site .device/timm-*.whl; then
    export PYTHONPATH=src:.device/site
else
    exit 1
fi
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null || echo "no nvidia-smi"

timed() {  # timed NAME SECONDS COMMAND...: run with a time limit, print its wall time
    local name=$1 limit=$2 start=$SECONDS
    shift 2
    timeout "$limit" "$@"
    echo "== $name: exit $?, $((SECONDS - start)) s (limit $limit s, $(left) s left of the part)"
}
step_speed() {  # step_speed FILE ARGS...: benchmarks/step_speed.py on the GPU within the part's time left,
    local file=$1  # its lines kept in $OUT/FILE
    shift
    timed "step_speed.py $*" $(( $(left) - 5 )) python3 benchmarks/step_speed.py --device cuda \
        --time-limit $(( $(left) - 35 )) "$@" | tee "$OUT/$file"
}

case $PART in
bench) step_speed gpu.jsonl --steps 20 ;;
profile) step_speed gpu-profile.jsonl --scales 28 --steps 20 --profile ;;
autotune) step_speed gpu-autotune-on.jsonl --scales 28 --steps 20 --first-cream-steps 100 --cudnn-benchmark true ;;
search)
    timed full-search $(( $(left) - 5 )) python3 -m cream.cli search fashion_mnist data.root="$DATA" \
        data.train_per_class=null run.out_dir="$WORK/full" run.quiet=true $DRY
    cp "$WORK/full/search.log" "$OUT/full-search.log"
    ;;
demo)
    timed demo-search $(( $(left) / 2 )) python3 -m cream.cli search fashion_mnist data.root="$DATA" \
        run.out_dir="$WORK/search" run.quiet=true $DRY
    timed demo-retrain $(( $(left) - 25 )) python3 -m cream.cli retrain fashion_mnist data.root="$DATA" \
        run.out_dir="$WORK/retrain" retrain.arch="$WORK/search/result.json" run.quiet=true ${DRY:+retrain.epochs=1}
    timed demo-test 20 python3 -m cream.cli test --checkpoint "$WORK/retrain/best.pth" | tee "$OUT/demo-test.txt"
    for f in search/search.log retrain/retrain.log; do cp "$WORK/$f" "$OUT/demo-${f%%/*}.log"; done
    ;;
*) echo "error: unknown part '$PART' (bench, profile, autotune, search or demo)"; exit 2 ;;
esac

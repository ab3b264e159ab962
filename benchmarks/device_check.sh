#!/usr/bin/env bash
# Issue 11's GPU checks as one run on a lent GPU machine, each figure printed as soon as it is known.
#
# Here (once):   make device-carry          # timm's wheel and Fashion-MNIST into .device/ (git-ignored)
# There:         the device tool's run, command `bash benchmarks/device_check.sh`, carry [".device"]
#
# The GPU machine has its own python3 and torch; cream runs from src/ with timm installed from the wheel.
# Every step has its own time limit, and the whole script stays under LIMIT seconds (default 540).
set -uo pipefail
LIMIT=${LIMIT:-540}
OUT=${OUT:-/tmp/cream-device}
mkdir -p "$OUT"
stop_at=$((SECONDS + LIMIT))
left() { echo $((stop_at - SECONDS)); }

python3 -m pip install -q --no-deps --target .device/site .device/timm-*.whl || exit 1
export PYTHONPATH=src:.device/site
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader

echo "== gpu.py, cuDNN autotuning off (the search's default), with a profile of Cream steps"
python3 benchmarks/gpu.py --time-limit 200 --profile | tee "$OUT/gpu-autotune-off.jsonl"
echo "== gpu.py, cuDNN autotuning on"
python3 benchmarks/gpu.py --time-limit 110 --steps 20 --cudnn-benchmark true | tee "$OUT/gpu-autotune-on.jsonl"

echo "== cream search fashion_mnist with all training images (time left: $(left) s)"
timeout $(( $(left) - 10 )) python3 -m cream.cli search fashion_mnist data.root=.device/fashion-mnist \
    data.train_per_class=null run.out_dir="$OUT/search" run.quiet=true
grep -h "epoch\|warning\|chose\|candidate" "$OUT/search/search.log" | tail -20

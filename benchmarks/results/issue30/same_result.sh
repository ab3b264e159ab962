#!/usr/bin/env bash
# Runs the same small searches, retrain and test with the code under SRC (a checkout's src/) into OUT, so that two
# commits can be compared on one machine (compare.py): Fashion-MNIST at 150 images per class, 3-epoch Cream and SPOS
# searches, a 2-epoch retrain of the Cream pick and its test, one thread.
# usage: same_result.sh SRC OUT   e.g. same_result.sh ../wt/baseline/src runs/issue30/base
set -euo pipefail
src=$(realpath "$1"); out=$(realpath -m "$2"); py=${PYTHON:-.venv/bin/python}
cream() { OMP_NUM_THREADS=1 PYTHONPATH="$src" "$py" -m cream.cli "$@"; }
small=(data.train_per_class=150 search.epochs=3 run.threads=1)
cream search fashion_mnist "${small[@]}" run.out_dir="$out/cream"
cream search fashion_mnist "${small[@]}" search.algorithm=spos run.out_dir="$out/spos"
cream retrain fashion_mnist data.train_per_class=150 retrain.epochs=2 run.threads=1 \
  retrain.arch="$out/cream/result.json" run.out_dir="$out/retrain"
cream test --checkpoint "$out/retrain/best.pth" run.threads=1

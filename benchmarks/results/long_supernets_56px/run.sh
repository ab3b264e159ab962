#!/usr/bin/env bash
# Issue 12, item 3 at 56 px: a Cream or SPOS supernet of the 56 px space of the ground truth in
# benchmarks/results/ground_truth/recipe-1000x3-56px (depths [2,2,3,2,2], width 0.5), the default search preset
# otherwise (uniform paths, lr 0.25 at batch 128, 30,000 search-train images), 60 epochs with 10 of warm-up as at
# 28 px. Then its rank correlation on that ground truth (stand-alone results reused, nothing retrained).
# Usage: run.sh cream|spos, from the repository root; resumable: run it again to continue (hours at 1 thread).
set -euo pipefail
alg=$1 out=runs/issue12/$alg-56
.venv/bin/cream search fashion_mnist search.algorithm=$alg search.epochs=60 search.warmup_epochs=10 \
    space.resolution=56 space.flops_max=null "space.depths=[2,2,3,2,2]" run.threads=1 run.out_dir=$out --quiet
exec .venv/bin/cream rankcorr --supernet $out/last.pth \
    --paths-file benchmarks/results/ground_truth/recipe-1000x3-56px/paths-in.txt --seeds 2 --epochs 3 \
    --out runs/issue12/rc-$alg-56 study.reuse=runs/issue12/gt56 \
    data.batch_size=64 data.crop_padding=0 retrain.opt=sgd retrain.lr=1.6 retrain.weight_decay=5e-5 \
    retrain.warmup_epochs=0.1 retrain.sched_per=step retrain.min_lr=0 \
    data.train_per_class=1000 data.val_per_class=600 run.threads=1

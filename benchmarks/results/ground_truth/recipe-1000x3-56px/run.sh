#!/usr/bin/env bash
# Issue 12, item 2 at 56 px: the 3-epoch x 10,000-image recipe, 2 seeds, on the resolution pilot's 4 paths (their
# results reused) and 20 paths from 4 multiply-add strata of the 56 px space (depths [2,2,3,2,2], width 0.5).
# Usage: run.sh SHARD (1/2 or 2/2), from the repository root, after the pilot's `run.sh 56`; resumable.
set -euo pipefail
here=benchmarks/results/ground_truth/recipe-1000x3-56px
exec .venv/bin/cream rankcorr --supernet runs/issue12/res56/pick/last.pth --paths-file $here/paths-in.txt \
    --seeds 2 --epochs 3 --shard $1 --out runs/issue12/gt56 study.reuse=runs/issue12/res56/study \
    data.batch_size=64 data.crop_padding=0 retrain.opt=sgd retrain.lr=1.6 retrain.weight_decay=5e-5 \
    retrain.warmup_epochs=0.1 retrain.sched_per=step retrain.min_lr=0 \
    data.train_per_class=1000 data.val_per_class=600 run.threads=1

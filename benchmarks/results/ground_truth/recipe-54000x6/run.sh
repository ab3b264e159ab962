#!/usr/bin/env bash
# Issue 12 pilot: a ground truth trained longer (6 epochs on all 54,000 images, the retrain preset's recipe),
# 6 paths including the space's extremes, 2 seeds each. Run from the repository root; resumable: run again to
# continue. The supernet only fixes the 28 px space (any search checkpoint of the default preset will do); the
# second worker (study-b.json) ran the same command with the last three paths in the other order.
set -euo pipefail
here=benchmarks/results/ground_truth/recipe-54000x6
exec taskset -c 1 .venv/bin/cream rankcorr --supernet runs/issue12/cream-e60/last.pth \
  --paths-file $here/paths-in.txt --seeds 2 --epochs 6 --out runs/issue12/gt-full/study \
  run.threads=1 data.train_per_class=null data.val_per_class=null data.batch_size=256 data.crop_padding=0 \
  data.hflip=true retrain.opt=sgd retrain.lr=1.6 retrain.weight_decay=5e-5 retrain.warmup_epochs=0.1 \
  retrain.sched_per=step retrain.min_lr=0

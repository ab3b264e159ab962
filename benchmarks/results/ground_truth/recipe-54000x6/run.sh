#!/usr/bin/env bash
# Issue 12 pilot: a ground truth trained longer (6 epochs on all 54,000 images, the retrain preset's recipe),
# 6 paths including the space's extremes, 2 seeds each. Resumable: run again to continue.
cd /work/main
exec taskset -c 1 .venv/bin/cream rankcorr --supernet runs/issue12/cream-e60/last.pth \
  --paths-file runs/issue12/gt-full/paths-in.txt --seeds 2 --epochs 6 --out runs/issue12/gt-full/study \
  run.threads=1 data.train_per_class=null data.val_per_class=null data.batch_size=256 data.crop_padding=0 \
  data.hflip=true retrain.opt=sgd retrain.lr=1.6 retrain.weight_decay=5e-5 retrain.warmup_epochs=0.1 \
  retrain.sched_per=step retrain.min_lr=0

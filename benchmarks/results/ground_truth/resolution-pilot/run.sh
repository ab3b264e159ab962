#!/usr/bin/env bash
# Issue 12 pilot: do the ops matter more at 56 px than at 28 px? The same 4 paths (the space's two extremes,
# all-k3-e6, all-k7-e4), the same depths [2,2,3,2,2] and width 0.5, the 3-epoch x 10,000-image recipe, 2 seeds.
# Usage: run.sh RES [SHARD [PATHS]] (e.g. run.sh 56 1/2; PATHS defaults to paths.txt here), from the repository
# root; resumable: run it again to continue.
set -euo pipefail
here=benchmarks/results/ground_truth/resolution-pilot
res=$1 shard=${2:-1/1} paths=${3:-$here/paths.txt}
out=runs/issue12/res$res
SA="data.batch_size=64 data.crop_padding=0 retrain.opt=sgd retrain.lr=1.6 retrain.weight_decay=5e-5
    retrain.warmup_epochs=0.1 retrain.sched_per=step retrain.min_lr=0"
# a supernet checkpoint only fixes the space (resolution, depths) for cream rankcorr; its accuracies are not used
.venv/bin/cream search fashion_mnist search.algorithm=spos search.epochs=1 search.warmup_epochs=0 \
    search.probe_steps=0 data.train_per_class=20 data.val_per_class=20 space.resolution=$res space.flops_max=null \
    "space.depths=[2,2,3,2,2]" run.threads=1 run.out_dir=$out/pick --quiet > /dev/null
exec .venv/bin/cream rankcorr --supernet $out/pick/last.pth --paths-file $paths --seeds 2 --epochs 3 \
    --shard $shard --out $out/study $SA data.train_per_class=1000 data.val_per_class=600 run.threads=1

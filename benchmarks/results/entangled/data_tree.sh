#!/bin/sh
# Issue 25's --data target: `cream search --data TREE` on the 100-per-class Fashion-MNIST image tree (written by
# benchmarks/imagefolder.py's write_tree: 1,000 training PNGs, 200 validation ones), nothing set but the thread
# count, the supernet's kind and, after a colon, the search's rule (default: the preset's, cream). Each search's
# result.json gives its best candidate's search-val top-1 and the health check (the same path trained alone for
# search.probe_steps steps, and whether the search warned).
# Run from the repository root:  sh benchmarks/results/entangled/data_tree.sh [independent entangled entangled:spos ...]
set -e
OUT=benchmarks/runs/entangled
TREE=$OUT/fmnist-100
.venv/bin/python -c "import sys; sys.path.insert(0, 'benchmarks'); from pathlib import Path; \
from imagefolder import write_tree; write_tree(Path('$TREE'), 100)"
SPECS="${*:-independent entangled}"
for spec in $SPECS; do
  kind=${spec%%:*}
  rule=$(echo "$spec:cream" | cut -d: -f2)
  name=$(echo "$spec" | tr : -)
  run=$OUT/search-$name
  [ -f $run/result.json ] || OMP_NUM_THREADS=1 .venv/bin/cream search --data $TREE run.threads=1 \
      space.sharing=$kind search.algorithm=$rule run.out_dir=$run > $OUT/search-$name.log 2>&1
  .venv/bin/python -c "import json; r = json.load(open('$run/result.json')); \
print(json.dumps({'sharing': '$kind', 'algorithm': '$rule', 'arch': r['arch'], 'val_top1': r['val_top1'], \
'health': r['health'], 'elapsed_s': r['elapsed_s'], 'epochs': r['config']['search']['epochs']}))" \
      | tee -a benchmarks/results/entangled/data_tree.jsonl
done

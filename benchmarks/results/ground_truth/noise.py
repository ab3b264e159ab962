"""Seed noise against the spread between paths of a (possibly partial) `cream rankcorr --seeds 2` study,
recomputed from its results JSONL with scipy and statistics, independently of cream.

    python benchmarks/results/ground_truth/noise.py STUDY/results-1-of-1.jsonl
"""

import json
import statistics
import sys

from scipy.stats import kendalltau

rows = [json.loads(line) for line in open(sys.argv[1])]
seeds = [r["sa_top1_seeds"] for r in rows]
noise = (sum(statistics.variance(s) for s in seeds) / len(seeds)) ** 0.5
means = [statistics.mean(s) for s in seeds]
spread = statistics.stdev(means)
flops = [r["flops"] for r in rows]
print(f"{len(rows)} paths, {min(flops):.2f}-{max(flops):.2f} M multiply-adds, mean accuracy "
      f"{min(means):.2f}-{max(means):.2f}%, seed noise (sd) {noise:.2f}, spread (sd of path means) {spread:.2f}, "
      f"noise/spread {noise / spread:.2f}")
print(f"tau(seed 0, seed 1) {kendalltau([s[0] for s in seeds], [s[1] for s in seeds])[0]:.2f}, "
      f"tau(multiply-adds, accuracy) {kendalltau(flops, means)[0]:.2f}")

"""Compares the result files that same_result.sh wrote for two commits: every figure but the timings.

    python benchmarks/results/issue30/compare.py runs/issue30/base runs/issue30/head
"""

import json
import sys
from pathlib import Path

FILES = ["cream/result.json", "spos/result.json", "retrain/result.json", "retrain/test.json"]
# Timings, and what only describes the run (its config as written, package versions, where files went).
SKIP = {"images_per_s", "elapsed_s", "seconds", "sa_seconds", "ws_seconds", "config", "versions", "written_to",
        "latency_ms", "latency", "minutes", "epoch_seconds"}


def figures(value, path=""):
    """(dotted path, value) of every leaf but the skipped keys."""
    if isinstance(value, dict):
        for key, inner in value.items():
            if key not in SKIP and not key.endswith("_s"):
                yield from figures(inner, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            yield from figures(inner, f"{path}[{i}]")
    else:
        yield path, value


def main(a: str, b: str) -> int:
    differ = 0
    for name in FILES:
        left = dict(figures(json.loads((Path(a) / name).read_text())))
        right = dict(figures(json.loads((Path(b) / name).read_text())))
        shared = sorted(left.keys() & right.keys())
        changed = [k for k in shared if left[k] != right[k]]
        print(f"{name}: {len(shared)} shared figures, {len(changed)} differ; only in {a}: "
              f"{sorted(left.keys() - right.keys())[:5]}; only in {b}: {sorted(right.keys() - left.keys())[:5]}")
        for key in changed[:10]:
            print(f"  {key}: {left[key]!r} -> {right[key]!r}")
        differ += len(changed)
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))

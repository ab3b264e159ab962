"""Evolution against random at equal evaluations, over several selection seeds, on one trained supernet (issue 33).

    .venv/bin/python benchmarks/select_curves.py runs/bench/select_budgets/seed0/whole_space/last.pth \\
        --budgets 2,4,8 --seeds 1 2 3 4 --generations 8 --threads 1

For each seed, ``cream select --method evolution`` and ``--method random`` with the same number of paths scored
per budget (population x generations; every curve is cut to the shortest one's length). Each run's select.json
keeps, per budget, the best search-val top-1 found after each evaluation (``curve``); this script prints, per budget
and method, the mean and spread of that best over the seeds at a few evaluation counts, the paired difference
evolution - random, and draws the curves (OUT/select_curves.png). Runs that finished are read back, so a killed
benchmark resumes where it stopped.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import cream  # noqa: E402
from cream.engine.logs import write_text_atomic  # noqa: E402

METHODS = ("evolution", "random")
COLOURS = {"evolution": "tab:blue", "random": "tab:orange"}


def picks_of(supernet: str, budgets: list[float], method: str, seed: int, out: Path, keys: list[str]) -> dict:
    """{budget: pick} of one ``cream select`` run (read from its select.json when an earlier run left one)."""
    if not (out / "select.json").exists():
        cream.select(supernet, flops_max=budgets, method=method, out=str(out), seed=seed, overrides=keys)
    return json.loads((out / "select.json").read_text())["picks"]


def summary(curves: dict, counts: list[int]) -> list[dict]:
    """Per budget and evaluation count: each method's mean and range of the best so far over seeds, and the paired
    difference evolution - random (mean, and how many seeds evolution was ahead, level or behind)."""
    rows = []
    for budget in curves["evolution"][0]:
        for n in counts:
            best = {m: [c[budget][n - 1] for c in curves[m]] for m in METHODS}
            diffs = [e - r for e, r in zip(best["evolution"], best["random"], strict=True)]
            rows.append({"budget": budget, "evaluations": n,
                         **{f"{m}_mean": statistics.fmean(best[m]) for m in METHODS},
                         **{f"{m}_range": [min(best[m]), max(best[m])] for m in METHODS},
                         "difference_mean": statistics.fmean(diffs),
                         "ahead_level_behind": [sum(d > 0 for d in diffs), sum(d == 0 for d in diffs),
                                                sum(d < 0 for d in diffs)]})
    return rows


def draw(curves: dict, file: Path) -> None:
    """One panel per budget: each seed's curve faint, the mean over seeds bold, per method."""
    budgets = list(curves["evolution"][0])
    fig, axes = plt.subplots(1, len(budgets), figsize=(4.2 * len(budgets), 3.6), squeeze=False)
    for ax, budget in zip(axes[0], budgets, strict=True):
        for method in METHODS:
            runs = [c[budget] for c in curves[method]]
            steps = range(1, len(runs[0]) + 1)
            for run in runs:
                ax.plot(steps, run, color=COLOURS[method], alpha=0.25, linewidth=0.8)
            ax.plot(steps, [statistics.fmean(v) for v in zip(*runs, strict=True)], color=COLOURS[method],
                    linewidth=2, label=f"{method} (mean of {len(runs)} seeds)")
        ax.set_title(f"at most {budget} M multiply-adds")
        ax.set_xlabel("paths scored")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("best search-val top-1 so far (%)")
    axes[0][0].legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(file, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("supernet", help="a trained supernet: a search's last.pth")
    parser.add_argument("--budgets", default="2,4,8", help="million multiply-adds, comma-separated")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4])
    parser.add_argument("--population", type=int, default=8, help="evolution.population")
    parser.add_argument("--generations", type=int, default=8, help="evolution.generations")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default="runs/bench/select_curves")
    parser.add_argument("--keys", nargs="*", default=[], help="more key=value overrides of every select (a trial: "
                                                              "select.val_images=100 select.bn_batches=1)")
    args = parser.parse_args()
    budgets = [float(b) for b in args.budgets.split(",")]
    keys = [f"evolution.population={args.population}", f"evolution.generations={args.generations}",
            f"run.threads={args.threads}", *args.keys]
    out = Path(args.out)
    picks = {f"seed{seed}_{method}": picks_of(args.supernet, budgets, method, seed, out / f"seed{seed}_{method}", keys)
             for seed in args.seeds for method in METHODS}
    curves = {m: [{b: pick["curve"] for b, pick in picks[f"seed{seed}_{m}"].items()} for seed in args.seeds]
              for m in METHODS}
    evaluations = min(len(curve) for runs in curves.values() for run in runs for curve in run.values())
    curves = {m: [{b: curve[:evaluations] for b, curve in run.items()} for run in runs] for m, runs in curves.items()}
    counts = sorted({n for n in (args.population, 2 * args.population, evaluations // 2, evaluations) if n > 0})
    rows = summary(curves, counts)
    for row in rows:
        print(json.dumps(row), flush=True)
    write_text_atomic(out / "select_curves.json", json.dumps(
        {"supernet": args.supernet, "budgets": budgets, "seeds": args.seeds, "keys": keys, "summary": rows,
         "picks": {run: {b: {k: pick[k] for k in ("arch", "flops", "val_top1", "seconds")} for b, pick in found.items()}
                   for run, found in picks.items()},
         "curves": curves}, indent=2))
    draw(curves, out / "select_curves.png")
    print(f"figures in {out / 'select_curves.json'}, curves drawn in {out / 'select_curves.png'}")


if __name__ == "__main__":
    main()

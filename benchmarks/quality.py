"""Search quality on Fashion-MNIST: Cream vs SPOS vs random vs hand-made, each retrained and tested alike.

One FLOPs budget (the default search range). Jobs, each a `cream` command in its own run directory:
  - Cream search and SPOS search of the same length, two seeds each (search and retrain seeds both change),
    then their chosen architectures retrained and tested;
  - five architectures drawn uniformly from the same FLOPs range, retrained and tested once;
  - a hand-made baseline (every block k5 e6, depths grown to fill the budget), two retrain seeds.
Every job is skipped when its output exists and resumes when it was interrupted, so
`python benchmarks/quality.py --resume` picks up where it stopped. Results: OUT/quality.json, OUT/quality.md,
OUT/quality.png.

The retrain is the default Fashion-MNIST preset shortened to --retrain-epochs (2 by default, so the whole
benchmark fits in an afternoon on a 2-core CPU); searches use the default search preset unchanged.

    .venv/bin/python benchmarks/quality.py [--out benchmarks/runs/quality] [--resume] [--retrain-epochs 2]
                                           [search override ...]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from cream.analysis.plots import plot_accuracy_vs_macs
from cream.config import SearchRun, load_config, preset_path
from cream.search.sampler import PathSampler
from cream.space import Arch, NetSpec
from cream.space.budget import grow_depths, plan_space

SEEDS = (0, 1)
RANDOM_ARCHS = 5
HANDMADE_OP = 3  # k5 e6, the op the paper's searched nets use most


THREADS: list[str] = []  # run.threads=N for every command, when --threads is given


def cream(*args: str) -> list[str]:
    return [str(Path(sys.executable).with_name("cream")), *args, *THREADS]


def run_job(name: str, command: list[str], done: Path, log: Path) -> None:
    if done.exists():
        return
    print(f"[{time.strftime('%H:%M:%S')}] {name}: {' '.join(command[1:])}", flush=True)
    start = time.time()
    with open(log, "a") as f:
        subprocess.run(command, stdout=f, stderr=subprocess.STDOUT, check=True)
    with open(log.parent / "timings.jsonl", "a") as f:
        f.write(json.dumps({"job": name, "seconds": time.time() - start}) + "\n")


def retrain_and_test(out: Path, name: str, arch: str, seed: int, overrides: list[str]) -> dict:
    run_dir = out / name
    run_dir.mkdir(parents=True, exist_ok=True)
    run_job(f"{name} retrain", cream("retrain", "fashion_mnist", f"retrain.arch={arch}", f"run.seed={seed}",
                                     f"run.out_dir={run_dir}", "--quiet", *overrides),
            run_dir / "best.pth", out / "jobs.log")
    run_job(f"{name} test", cream("test", "--checkpoint", str(run_dir / "best.pth")), run_dir / "test.json",
            out / "jobs.log")
    return json.loads((run_dir / "test.json").read_text())


def candidates(out: Path, overrides: list[str]) -> list[dict]:
    """(label, kind, architecture text, seed) of every model in the comparison, running the searches."""
    models = []
    for algorithm in ("cream", "spos"):
        for seed in SEEDS:
            run_dir = out / f"search-{algorithm}-s{seed}"
            run_job(f"{algorithm} search seed {seed}",
                    cream("search", "fashion_mnist", f"search.algorithm={algorithm}", f"run.seed={seed}",
                          f"run.out_dir={run_dir}", "--quiet", *overrides),
                    run_dir / "result.json", out / "jobs.log")
            result = json.loads((run_dir / "result.json").read_text())
            models.append({"kind": algorithm, "arch": result["arch"], "seed": seed,
                           "search_minutes": result["elapsed_s"] / 60})
    cfg = load_config(SearchRun, preset_path("search", "fashion_mnist"), overrides)
    plan = plan_space(NetSpec.from_config(cfg.space), cfg.space.flops_min, cfg.space.flops_max)
    for i, arch in enumerate(PathSampler(plan, "uniform", seed=12345).distinct(RANDOM_ARCHS, seed=0)):
        models.append({"kind": "random", "arch": str(arch), "seed": 0, "index": i})
    handmade = Arch.uniform(grow_depths(plan.table, cfg.space.flops_max, HANDMADE_OP), HANDMADE_OP)
    for seed in SEEDS:
        models.append({"kind": "handmade", "arch": str(handmade), "seed": seed})
    return models


def summarize(models: list[dict]) -> list[dict]:
    rows = []
    for kind, label in (("cream", "Cream search"), ("spos", "SPOS search"), ("random", "random (5 archs)"),
                        ("handmade", "hand-made k5e6")):
        group = [m for m in models if m["kind"] == kind]
        top1 = [m["test"]["top1"] for m in group]
        rows.append({
            "label": label, "archs": sorted({m["arch"] for m in group}), "n": len(group),
            "top1_mean": statistics.mean(top1), "top1_spread": (max(top1) - min(top1)) / 2, "top1_best": max(top1),
            "params_M": statistics.mean(m["test"]["params"] for m in group),
            "macs_M": statistics.mean(m["test"]["macs"] for m in group),
            "latency_ms_b1": statistics.mean(m["test"]["latency"][0]["ms"] for m in group),
        })
    return rows


def markdown(rows: list[dict]) -> str:
    lines = ["| model | runs | test top-1 (%) mean ± half-range | best | params (M) | multiply-adds (M) | "
             "CPU latency, batch 1 (ms) | architectures |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['label']} | {r['n']} | {r['top1_mean']:.2f} ± {r['top1_spread']:.2f} | "
                     f"{r['top1_best']:.2f} | {r['params_M']:.2f} | {r['macs_M']:.2f} | {r['latency_ms_b1']:.2f} | "
                     f"{', '.join(f'`{a}`' for a in r['archs'])} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="benchmarks/runs/quality")
    parser.add_argument("--resume", action="store_true", help="keep finished and partial jobs in --out")
    parser.add_argument("--threads", type=int, help="CPU threads of every job (default: all cores)")
    parser.add_argument("--retrain-epochs", type=int, default=2, help="epochs of every retrain")
    parser.add_argument("overrides", nargs="*", help="search overrides shared by every search (e.g. search.epochs=8)")
    args = parser.parse_args()
    out = Path(args.out)
    if args.threads:
        THREADS.append(f"run.threads={args.threads}")
    if out.exists() and not args.resume:
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.time()
    models = candidates(out, args.overrides)
    for m in models:
        name = f"{m['kind']}-{m.get('index', '')}s{m['seed']}"
        m["test"] = retrain_and_test(out, name, m["arch"], m["seed"], [f"retrain.epochs={args.retrain_epochs}"])
    rows = summarize(models)
    timings = [json.loads(line) for line in (out / "timings.jsonl").read_text().splitlines()]
    report = {"models": models, "summary": rows, "retrain_epochs": args.retrain_epochs,
              "job_hours": sum(t["seconds"] for t in timings) / 3600,
              "this_invocation_hours": (time.time() - start) / 3600}
    (out / "quality.json").write_text(json.dumps(report, indent=2))
    (out / "quality.md").write_text(markdown(rows) + "\n")
    plot_accuracy_vs_macs(out / "quality.png", [
        {"label": r["label"], "macs": r["macs_M"], "top1": r["top1_mean"], "spread": r["top1_spread"],
         "marker": marker} for r, marker in zip(rows, "*sov")], "Fashion-MNIST: test top-1 vs multiply-adds")
    print(markdown(rows))
    print(f"all jobs: {report['job_hours']:.2f} h of compute; results in {out}")


if __name__ == "__main__":
    main()

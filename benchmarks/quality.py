"""Search quality on Fashion-MNIST: Cream vs SPOS vs random vs hand-made, each retrained and tested alike.

One FLOPs budget (the default search range). Jobs, each a `cream` command in its own run directory:
  - Cream search and SPOS search of the same length, two seeds each (search and retrain seeds both change),
    then their chosen architectures retrained and tested; or, with `--searched ALGORITHM DIR`, the pick of a
    finished search (a long one, say) retrained with both seeds;
  - five architectures drawn uniformly from the same FLOPs range, each retrained with both seeds;
  - a hand-made baseline (every block k5 e6, depths grown to fill the budget), two retrain seeds.
Every job is skipped when its output exists and resumes when it was interrupted, so
`python benchmarks/quality.py --resume` picks up where it stopped; a second worker
(`--resume --reverse`, e.g. with `--threads 1` each) takes jobs from the other end.
Results: OUT/quality.json, OUT/quality.md, OUT/quality.png.

The retrain is the default Fashion-MNIST preset shortened to --retrain-epochs (2 by default, so the whole
benchmark fits in an afternoon on a 2-core CPU); searches use the default search preset unchanged.

    .venv/bin/python benchmarks/quality.py [--out benchmarks/runs/quality] [--resume] [--retrain-epochs 2]
                                           [--searched cream DIR --searched spos DIR] [search override ...]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from cream.analysis.plots import plot_accuracy_vs_macs
from cream.assemble import make_config
from cream.config import SearchRun
from cream.nas.sampler import PathSampler
from cream.space import Arch, NetSpec
from cream.space.budget import grow_depths, plan_space

SEEDS = (0, 1)
RANDOM_ARCHS = 5
HANDMADE_OP = 3  # k5 e6, the op the paper's searched nets use most


THREADS: list[str] = []  # run.threads=N for every command, when --threads is given


def cream(*args: str) -> list[str]:
    return [str(Path(sys.executable).with_name("cream")), *args, *THREADS]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, ValueError):
        return False
    return True


def claim(out: Path, name: str) -> Path | None:
    """Take job ``name`` for this worker (a pid file); None while another live worker holds it."""
    path = out / "claims" / (name.replace(" ", "_") + ".pid")
    path.parent.mkdir(exist_ok=True)
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        held_by = path.read_text().strip()
        if held_by.isdigit() and _alive(int(held_by)):
            return None
        path.unlink(missing_ok=True)  # left by a worker that died
        return claim(out, name)
    os.write(fd, str(os.getpid()).encode())
    os.close(fd)
    return path


def run_job(name: str, command: list[str], done: Path, out: Path, wait: bool = False) -> bool:
    """Run a job unless done; False when another worker holds it (with ``wait``: block until it is done)."""
    while not done.exists():
        held = claim(out, name)
        if held is None:
            if not wait:
                return False
            time.sleep(10)
            continue
        try:
            if done.exists():
                break
            print(f"[{time.strftime('%H:%M:%S')}] {name}: {' '.join(command[1:])}", flush=True)
            start = time.time()
            with open(out / "jobs.log", "a") as f:
                subprocess.run(command, stdout=f, stderr=subprocess.STDOUT, check=True)
            with open(out / "timings.jsonl", "a") as f:
                f.write(json.dumps({"job": name, "seconds": time.time() - start}) + "\n")
        finally:
            held.unlink()
    return True


def retrain_and_test(out: Path, name: str, arch: str, seed: int, overrides: list[str], wait: bool) -> dict | None:
    """The test report of one model, retraining it first; None when another worker is on it."""
    run_dir = out / name
    run_dir.mkdir(parents=True, exist_ok=True)
    if not run_job(f"{name} retrain", cream("retrain", "fashion_mnist", f"retrain.arch={arch}", f"run.seed={seed}",
                                            f"run.out_dir={run_dir}", "--quiet", *overrides),
                   run_dir / "result.json", out, wait):
        return None
    if not run_job(f"{name} test", cream("test", "--checkpoint", str(run_dir / "best.pth")), run_dir / "test.json",
                   out, wait):
        return None
    return json.loads((run_dir / "test.json").read_text())


def candidates(out: Path, overrides: list[str], searched: dict[str, str]) -> list[dict]:
    """Every model of the comparison: kind, seed, and its architecture (searched ones: once their search ran)."""
    models = []
    for algorithm in ("cream", "spos"):
        for seed in SEEDS:
            given = algorithm in searched
            models.append({"kind": algorithm, "seed": seed, "given": given,
                           "search": searched[algorithm] if given else str(out / f"search-{algorithm}-s{seed}")})
    cfg = make_config(SearchRun, "fashion_mnist", overrides)
    plan = plan_space(NetSpec.from_config(cfg.space), cfg.space.flops_min, cfg.space.flops_max)
    for i, arch in enumerate(PathSampler(plan, "uniform", seed=12345).distinct(RANDOM_ARCHS, seed=0)):
        for seed in SEEDS:
            models.append({"kind": "random", "arch": str(arch), "seed": seed, "index": i})
    handmade = Arch.uniform(grow_depths(plan.table, cfg.space.flops_max, HANDMADE_OP), HANDMADE_OP)
    for seed in SEEDS:
        models.append({"kind": "handmade", "arch": str(handmade), "seed": seed})
    return models


def search(out: Path, model: dict, overrides: list[str], wait: bool) -> bool:
    """Run a searched model's search and take its chosen architecture; False while another worker runs it.

    A search given with --searched is never run here, only waited for (with ``wait``) until it has finished."""
    run_dir = Path(model["search"])
    if model["given"]:
        while not (run_dir / "result.json").exists():
            if not wait:
                return False
            time.sleep(30)
    elif not run_job(f"{model['kind']} search seed {model['seed']}",
                     cream("search", "fashion_mnist", f"search.algorithm={model['kind']}", f"run.seed={model['seed']}",
                           f"run.out_dir={run_dir}", "--quiet", *overrides),
                     run_dir / "result.json", out, wait):
        return False
    result = json.loads((run_dir / "result.json").read_text())
    model.update(arch=result["arch"], search_minutes=result["elapsed_s"] / 60)
    return True


def summarize(models: list[dict]) -> list[dict]:
    rows = []
    for kind, label in (("cream", "Cream search"), ("spos", "SPOS search"), ("random", "random (5 archs)"),
                        ("handmade", "hand-made k5e6")):
        group = [m for m in models if m["kind"] == kind]
        top1 = [m["test"]["top1"] for m in group]
        archs = sorted({m["arch"] for m in group})
        arch_means = {a: statistics.mean(m["test"]["top1"] for m in group if m["arch"] == a) for a in archs}
        rows.append({
            "label": label, "archs": archs, "n": len(group), "arch_top1_means": arch_means,
            "top1_mean": statistics.mean(top1), "top1_spread": (max(top1) - min(top1)) / 2,
            "top1_best": max(arch_means.values()),
            "params_M": statistics.mean(m["test"]["params"] for m in group),
            "macs_M": statistics.mean(m["test"]["macs"] for m in group),
            "latency_ms_b1": statistics.mean(m["test"]["latency"][0]["ms"] for m in group),
        })
    return rows


def markdown(rows: list[dict]) -> str:
    lines = ["| model | runs | test top-1 (%) mean ± half-range | best architecture's mean | params (M) | "
             "multiply-adds (M) | CPU latency, batch 1 (ms) | architectures |", "|---|---|---|---|---|---|---|---|"]
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
    parser.add_argument("--reverse", action="store_true",
                        help="take the models in reverse order: run a second worker beside the first")
    parser.add_argument("--retrain-epochs", type=int, default=2, help="epochs of every retrain")
    parser.add_argument("--searched", nargs=2, action="append", default=[], metavar=("ALGORITHM", "DIR"),
                        help="retrain the pick of this search (cream or spos; waited for if still running) "
                             "instead of searching")
    parser.add_argument("overrides", nargs="*", help="search overrides shared by every search (e.g. search.epochs=8)")
    args = parser.parse_args()
    out = Path(args.out)
    if args.threads:
        THREADS.append(f"run.threads={args.threads}")
    if out.exists() and not args.resume:
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.time()
    searched = dict(args.searched)
    for algorithm, run_dir in searched.items():
        if algorithm not in ("cream", "spos"):
            raise SystemExit(f"--searched {algorithm} {run_dir}: the algorithm is cream or spos")
    models = candidates(out, args.overrides, searched)
    order = list(reversed(models)) if args.reverse else models
    for wait in (False, True):  # first the jobs no other worker holds, then wait for the rest
        for m in order:
            if m.get("test") is None:
                if "search" in m and not search(out, m, args.overrides, wait):
                    continue
                name = f"{m['kind']}-{m.get('index', '')}s{m['seed']}"
                m["test"] = retrain_and_test(out, name, m["arch"], m["seed"],
                                             [f"retrain.epochs={args.retrain_epochs}"], wait)
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

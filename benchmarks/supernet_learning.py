"""Supernet training rules compared at equal compute: how well 20 fixed random paths do as training goes on.

Every rule trains a fresh supernet of the default Fashion-MNIST search preset (same data, seed, SGD and
linear decay to zero) until the same compute budget is spent, counted as images through the supernet:
one unit per image in a forward+backward pass, a third of a unit per image in a forward-only pass (the
teacher and teacher-choice forwards of Cream). At six points along the budget it measures the mean
search-val top-1 of 20 fixed random in-budget paths, each extracted with BatchNorm recalibrated on
training batches, exactly as the search's final selection judges paths.

Rules (``--rules`` picks some; each writes ``<out>/<rule>.json`` and is skipped when that file exists,
so an interrupted comparison resumes rule by rule; a second worker with ``--reverse`` takes rules from the end):
  current      one path per step, ops drawn with the search's fixed per-op probabilities (the old default)
  uniform      one path per step, ops drawn uniformly (SPOS)
  fair         strict fairness (FairNAS): six paths per update, each block running every op once, gradients
               summed, one update
  sandwich     largest, smallest and two uniform paths per update, the largest (trained on labels) teaching
               the others by in-place distillation (BigNAS / Once-for-All)
  uniform_lr2, uniform_lr0.5, uniform_warmup, uniform_b64, uniform_b256
               uniform with twice / half the learning rate, a linear warm-up over the first 5% of the budget,
               batch 64 / 256 (learning rate scaled linearly with the batch)
  cream        the search's Cream step (prioritized board, meta-matching teacher, distillation) after a
               warm-up of a sixth of the budget (the paper's 20 of 120 epochs), with the preset's sampling
  cream_uniform  the same with uniform sampling

    .venv/bin/python benchmarks/supernet_learning.py [--budget-epochs 6] [--rules uniform fair] [--threads 1]
    .venv/bin/python benchmarks/supernet_learning.py --report     # table (markdown) and plot from RESULTS
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from quality import claim  # benchmarks/quality.py: pid-file claims, so two workers share the rules

from cream.config import SearchRun, load_config, preset_path
from cream.engine.context import setup_context
from cream.engine.rundir import RunDir
from cream.search import trainer
from cream.search.distill import kd_loss
from cream.search.selection import evaluate_path
from cream.space.arch import NUM_OPS, Arch

RESULTS = Path(__file__).parent / "results" / "supernet_learning"
PATHS, EVAL_POINTS, BN_BATCHES, VAL_IMAGES = 20, 6, 4, 1000

RULES = {  # rule -> (config overrides, step kind, learning-rate multiplier, warm-up fraction)
    "current": (["search.sampling=fixed"], "trainer", 1.0, 0.0),
    "uniform": (["search.sampling=uniform"], "trainer", 1.0, 0.0),
    "fair": ([], "fair", 1.0, 0.0),
    "sandwich": ([], "sandwich", 1.0, 0.0),
    "uniform_lr2": (["search.sampling=uniform"], "trainer", 2.0, 0.0),
    "uniform_lr0.5": (["search.sampling=uniform"], "trainer", 0.5, 0.0),
    "uniform_warmup": (["search.sampling=uniform"], "trainer", 1.0, 0.05),
    "uniform_b64": (["search.sampling=uniform", "data.batch_size=64"], "trainer", 1.0, 0.0),
    "uniform_b256": (["search.sampling=uniform", "data.batch_size=256"], "trainer", 1.0, 0.0),
    "cream": (["search.sampling=fixed"], "cream", 1.0, 0.0),
    "cream_uniform": (["search.sampling=uniform"], "cream", 1.0, 0.0),
}


class ComputeSchedule:
    """Learning rate as a function of compute spent: optional linear warm-up, then linear decay to zero.

    Stands in for the trainer's scheduler (``step_update``), so every rule decays over the same budget.
    """

    def __init__(self, optimizer, base_lr: float, budget: float, warmup: float, meter):
        self.optimizer, self.base_lr, self.budget, self.warmup, self.meter = optimizer, base_lr, budget, warmup, meter
        self.step_update(0)

    def step_update(self, _step: int) -> None:
        done = min(self.meter.units / self.budget, 1.0)
        factor = 1.0 - done
        if self.warmup > 0 and done < self.warmup:
            factor = min(factor, (done + 1e-3) / self.warmup)
        for group in self.optimizer.param_groups:
            group["lr"] = self.base_lr * factor


class ComputeMeter:
    """Counts images through the supernet: 1 per image with gradients, 1/3 per image without."""

    def __init__(self, supernet):
        self.units = 0.0
        supernet.register_forward_pre_hook(self._count)

    def _count(self, _module, args) -> None:
        self.units += len(args[0]) * (1.0 if torch.is_grad_enabled() else 1 / 3)


def uniform_arch(depths, rng: random.Random) -> Arch:
    return Arch(tuple(tuple(rng.randrange(NUM_OPS) for _ in range(d)) for d in depths))


def fair_step(search, x, y, rng: random.Random) -> float:
    """FairNAS: every block runs each of its ops exactly once over six paths; summed gradients, one update."""
    s, net = search.cfg.search, search.supernet
    perms = [[rng.sample(range(NUM_OPS), NUM_OPS) for _ in range(d)] for d in search.plan.depths]
    search.optimizer.zero_grad(set_to_none=True)
    correct = 0
    for k in range(NUM_OPS):
        arch = Arch(tuple(tuple(perm[k] for perm in stage) for stage in perms))
        logits = net(x, arch)
        F.cross_entropy(logits, y, label_smoothing=s.label_smoothing).backward()
        correct += int((logits.argmax(1) == y).sum())
    return finish_update(search, correct / (NUM_OPS * len(y)))


def sandwich_step(search, x, y, rng: random.Random) -> float:
    """Sandwich rule with in-place distillation: the largest path learns the labels and teaches the rest."""
    s, net, depths = search.cfg.search, search.supernet, search.plan.depths
    search.optimizer.zero_grad(set_to_none=True)
    logits = net(x, Arch.uniform(depths, NUM_OPS - 1))
    F.cross_entropy(logits, y, label_smoothing=s.label_smoothing).backward()
    teacher = F.softmax(logits.detach(), dim=1)
    correct = 0
    for arch in (Arch.uniform(depths, 0), uniform_arch(depths, rng), uniform_arch(depths, rng)):
        student = net(x, arch)
        kd_loss(student, teacher).backward()
        correct += int((student.argmax(1) == y).sum())
    return finish_update(search, correct / (3 * len(y)))


def finish_update(search, train_acc: float) -> float:
    if search.cfg.search.clip_grad > 0:
        torch.nn.utils.clip_grad_norm_(search.supernet.parameters(), search.cfg.search.clip_grad)
    search.optimizer.step()
    search.step += 1
    search.scheduler.step_update(search.step)
    return 100 * train_acc


def run_rule(name: str, budget_epochs: float, seed: int, threads: int) -> dict:
    overrides, kind, lr_factor, warmup = RULES[name]
    with tempfile.TemporaryDirectory() as tmp:
        cfg = load_config(SearchRun, preset_path("search", "fashion_mnist"), [
            *overrides, f"run.out_dir={tmp}", "run.quiet=true", "run.ckpt_every_steps=0", f"run.seed={seed}",
            f"run.threads={threads}", "search.algorithm=cream"])
        search = trainer.SupernetSearch(cfg, setup_context(cfg.run), RunDir(tmp, trainer.OUTPUTS))
        budget = budget_epochs * search.data.train.num_images
        meter = ComputeMeter(search.supernet)
        search.scheduler = ComputeSchedule(search.optimizer, search.base_lr * lr_factor, budget, warmup, meter)
        paths = search.sampler.distinct(PATHS, seed=5)  # the same 20 paths for every rule (same plan, seed)
        rng = random.Random(seed)
        rows, train_accs, start, epoch = [], [], time.perf_counter(), 0
        next_eval = budget / EVAL_POINTS
        while meter.units < budget:
            for x, y in search.data.train.batches(epoch):
                x, y = search.ctx.to_device(x), y.to(search.ctx.device)
                if kind == "fair":
                    train_accs.append(fair_step(search, x, y, rng))
                elif kind == "sandwich":
                    train_accs.append(sandwich_step(search, x, y, rng))
                else:  # the trainer's own step; Cream's board and teacher start after a sixth of the budget
                    distilling = kind == "cream" and meter.units >= budget / 6
                    search.meter = trainer.EpochMeter()
                    search.train_step(1 if distilling else 0, x, y)
                    train_accs.append(search.meter.row()["train_acc"])
                if meter.units >= next_eval - 1e-6:
                    rows.append(evaluate(search, paths, meter.units, time.perf_counter() - start, train_accs))
                    print(json.dumps({"rule": name, **{k: v for k, v in rows[-1].items() if k != "paths"}}),
                          flush=True)
                    next_eval += budget / EVAL_POINTS
                if meter.units >= budget:
                    break
            epoch += 1
        search.log.close()
    return {"rule": name, "budget_images": budget, "batch": cfg.data.batch_size, "seed": seed,
            "depths": list(search.plan.depths), "paths": [str(a) for a in paths], "points": rows,
            "counters": search.counters, "torch_threads": torch.get_num_threads()}


def evaluate(search, paths, units: float, seconds: float, train_accs: list[float]) -> dict:
    accs = [evaluate_path(search.supernet, arch, search.data, search.ctx, BN_BATCHES, VAL_IMAGES)["top1"]
            for arch in paths]
    recent = train_accs[-50:]
    return {"images": units, "seconds": seconds, "mean_val_top1": statistics.mean(accs),
            "std_val_top1": statistics.stdev(accs), "min_val_top1": min(accs), "max_val_top1": max(accs),
            "train_top1_last50": statistics.mean(recent), "paths": accs}


def report(out_dir: Path) -> None:
    """A markdown table (final and midway mean accuracy per rule) and supernet_learning.png."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results = [json.loads(p.read_text()) for p in sorted(out_dir.glob("*.json"))]
    results.sort(key=lambda r: -r["points"][-1]["mean_val_top1"])
    print("| rule | mean search-val top-1 of 20 paths at 1/3, 2/3, all of the budget | spread (min–max) at the end "
          "| train top-1 (last 50 updates) | wall time |")
    print("|---|---|---|---|---|")
    for r in results:
        p = r["points"]
        third = [f"{p[i]['mean_val_top1']:.1f}" for i in (len(p) // 3 - 1, 2 * len(p) // 3 - 1, len(p) - 1)]
        print(f"| {r['rule']} | {' / '.join(third)}% | {p[-1]['min_val_top1']:.1f}–{p[-1]['max_val_top1']:.1f}% "
              f"| {p[-1]['train_top1_last50']:.1f}% | {p[-1]['seconds'] / 60:.1f} min |")
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for r in results:
        ax.plot([p["images"] / 1e3 for p in r["points"]], [p["mean_val_top1"] for p in r["points"]], marker="o",
                label=r["rule"])
    ax.set_xlabel("compute (thousand images, forward+backward)")
    ax.set_ylabel(f"mean search-val top-1 of {PATHS} paths (%)")
    ax.set_title("Supernet training rules at equal compute (Fashion-MNIST preset)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out_dir / "supernet_learning.png", dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", nargs="*", default=list(RULES), choices=list(RULES))
    parser.add_argument("--budget-epochs", type=float, default=6.0, help="compute budget in search-train epochs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--report", action="store_true", help="only print the table and write the plot")
    parser.add_argument("--reverse", action="store_true", help="take the rules from the end (a second worker)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder of the per-rule JSON files")
    args = parser.parse_args()
    out_dir = args.out
    if args.report:
        report(out_dir)
        return
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in reversed(args.rules) if args.reverse else args.rules:
        out = out_dir / f"{name}.json"
        held = None if out.exists() else claim(out_dir, name)
        if held is None:
            print(f"{name}: done earlier or taken by another worker", flush=True)
            continue
        try:
            if not out.exists():
                result = run_rule(name, args.budget_epochs, args.seed, args.threads)
                out.write_text(json.dumps({**result, "budget_epochs": args.budget_epochs}, indent=1))
        finally:
            held.unlink()


if __name__ == "__main__":
    main()

"""Supernet training rules compared at equal compute: how well 20 fixed random paths do as training goes on.

Every rule trains a fresh supernet of the default Fashion-MNIST search preset (or, with ``--data DIR``, of the
default search of that image folder, as ``cream search --data DIR`` sets it up; same data, seed, SGD) with the
library's search strategies (``cream.nas``: ``Spos``, ``Cream``, ``FairNas``, ``Sandwich``) through the search's
own ``train_step``, until the same compute budget is spent, counted as images through the supernet: one unit per
image in a forward+backward pass, a third of a unit per image in a forward-only pass (the teacher and
teacher-choice forwards of Cream). The learning rate decays linearly to zero over that budget (``EqualCompute``,
a thin subclass of the rule that sets it before each step). At six points along the budget it measures the mean
search-val top-1 of 20 fixed random in-budget paths, each extracted with BatchNorm recalibrated on training
batches, exactly as the search's final selection judges paths.

Rules (``--rules`` picks some; each writes ``<out>/<rule>.json`` and is skipped when that file exists,
so an interrupted comparison resumes rule by rule; a second worker with ``--reverse`` takes rules from the end):
  current      one path per step, ops drawn with the search's fixed per-op probabilities (the old default):
               Cream's warm-up step throughout (it never distils)
  uniform      one path per step, ops drawn uniformly (SPOS)
  fair         strict fairness (FairNAS): six paths per update, each block running every op once, gradients
               summed, one update
  sandwich     largest, smallest and two uniform in-budget paths per update, the largest (trained on labels)
               teaching the others by in-place distillation (BigNAS / Once-for-All)
  uniform_lr2, uniform_lr0.5, uniform_warmup, uniform_b64, uniform_b256
               uniform with twice / half the learning rate, a linear warm-up over the first 5% of the budget,
               batch 64 / 256 (learning rate scaled linearly with the batch)
  cream        the search's Cream step (prioritized board, meta-matching teacher, distillation) after a
               warm-up of a sixth of the budget (the paper's 20 of 120 epochs), with the preset's sampling
  cream_uniform  the same with uniform sampling
  cream_ours   the search's Cream step as the Fashion-MNIST preset sets it (uniform paths, its learning rate)
  cream_paper_code  the same with search.fidelity=paper_code (the paper code's rules, README "Differences from
               the paper's search code"), but our depth rule, so that both train the same supernet and paths
  cream_ours_entangled  cream_ours on an entangled supernet (space.sharing=entangled: every op a slice of the
               largest op's weights)
  uniform_entangled, sandwich_entangled  uniform and sandwich on the entangled supernet
  cream_ours_entangled_bn_per_op  cream_ours_entangled with every op's own BatchNorm (space.sharing=entangled_bn_per_op)
  cream_ours_entangled_kernel_transform  cream_ours_entangled with OFA's kernel transforms (space.kernel_transform)
  alone_K      (``--alone K ...``, not among the rules run by default) the K-th of the 20 paths trained alone at the
               same budget: SPOS whose sampler always gives that path (so the supernet trains that path only, as a
               child net would), judged on that path alone: what the supernet's paths would reach on their own
  cream_paper_code_clip, cream_paper_code_sparse  cream_paper_code with one of its rules set back to ours:
               gradients clipped at norm 1 (search.clip_grad=1), ops off the path left still (off_path_updates=sparse)

The results in ``benchmarks/results/supernet_learning/`` were measured (2026-11-28) by this script's earlier
version, which had its own FairNAS and sandwich steps: its random paths came from other seeds (the sandwich's
two random paths were not held to the multiply-add range), and its training top-1 of a FairNAS or sandwich update
counted the trained students only; the library's rules count every path the update trains.

    .venv/bin/python benchmarks/supernet_learning.py [--budget-epochs 6] [--rules uniform fair] [--threads 1]
    .venv/bin/python benchmarks/supernet_learning.py --report     # table (markdown) and plot from RESULTS
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch
from quality import claim  # benchmarks/quality.py: pid-file claims, so two workers share the rules

from cream.assemble import make_config, run_config
from cream.config import SearchRun
from cream.engine.context import setup_context
from cream.engine.rundir import RunDir
from cream.nas.sampler import PathSampler
from cream.nas.selection import evaluate_path
from cream.nas.strategy import RULES as TRAINING_RULES
from cream.nas.strategy import SearchStrategy
from cream.nas.trainer import SupernetSearch
from cream.settings_from_data import settings_from_data

RESULTS = Path(__file__).parent / "results" / "supernet_learning"
PATHS, EVAL_POINTS, BN_BATCHES, VAL_IMAGES = 20, 6, 4, 1000
DISTILL_AFTER = 1 / 6  # Cream rules: the board and the teacher start after this part of the budget

RULES = {  # rule -> (config overrides, search.algorithm, distils after the warm-up, lr multiplier, warm-up fraction)
    "current": (["search.sampling=fixed"], "cream", False, 1.0, 0.0),
    "uniform": (["search.sampling=uniform"], "spos", False, 1.0, 0.0),
    "fair": ([], "fairnas", False, 1.0, 0.0),
    "sandwich": ([], "sandwich", False, 1.0, 0.0),
    "uniform_lr2": (["search.sampling=uniform"], "spos", False, 2.0, 0.0),
    "uniform_lr0.5": (["search.sampling=uniform"], "spos", False, 0.5, 0.0),
    "uniform_warmup": (["search.sampling=uniform"], "spos", False, 1.0, 0.05),
    "uniform_b64": (["search.sampling=uniform", "data.batch_size=64"], "spos", False, 1.0, 0.0),
    "uniform_b256": (["search.sampling=uniform", "data.batch_size=256"], "spos", False, 1.0, 0.0),
    "cream": (["search.sampling=fixed"], "cream", True, 1.0, 0.0),
    "cream_uniform": (["search.sampling=uniform"], "cream", True, 1.0, 0.0),
    "cream_ours": ([], "cream", True, 1.0, 0.0),
    "cream_ours_entangled": (["space.sharing=entangled"], "cream", True, 1.0, 0.0),
    "cream_ours_entangled_bn_per_op": (["space.sharing=entangled_bn_per_op"], "cream", True, 1.0, 0.0),
    "cream_ours_entangled_kernel_transform": (["space.sharing=entangled", "space.kernel_transform=true"], "cream",
                                              True, 1.0, 0.0),
    "uniform_entangled": (["space.sharing=entangled", "search.sampling=uniform"], "spos", False, 1.0, 0.0),
    "sandwich_entangled": (["space.sharing=entangled"], "sandwich", False, 1.0, 0.0),
    "cream_paper_code": (["search.fidelity=paper_code", "space.depth_rule=greedy"], "cream", True, 1.0, 0.0),
    "cream_paper_code_clip": (["search.fidelity=paper_code", "space.depth_rule=greedy", "search.clip_grad=1"],
                              "cream", True, 1.0, 0.0),
    "cream_paper_code_sparse": (["search.fidelity=paper_code", "space.depth_rule=greedy",
                                 "search.off_path_updates=sparse"], "cream", True, 1.0, 0.0),
}


class OnePath:
    """A sampler that always gives the same path: SPOS on it trains that path alone."""

    def __init__(self, arch):
        self.arch = arch

    def sample(self, step, board=None, draw=0):
        return self.arch


class ComputeMeter:
    """Counts images through the supernet: 1 per image with gradients, 1/3 per image without."""

    def __init__(self, supernet):
        self.units = 0.0
        supernet.register_forward_pre_hook(self._count)

    def _count(self, _module, args) -> None:
        self.units += len(args[0]) * (1.0 if torch.is_grad_enabled() else 1 / 3)


def equal_compute(rule: type[SearchStrategy], budget_epochs: float, lr_factor: float, warmup: float):
    """``rule`` with the learning rate a function of compute spent instead of steps (optional linear warm-up, then
    linear decay to zero over ``budget_epochs`` search-train epochs of compute), so every rule decays over the same
    budget; it also keeps each update's training top-1. Pass it as ``SupernetSearch(..., strategy=...)``."""

    class EqualCompute(rule):
        def __init__(self, search):
            super().__init__(search)
            self.compute = ComputeMeter(search.supernet)
            self.budget = budget_epochs * search.data.train.num_images
            self.base_lr = search.base_lr * lr_factor
            self.train_accs: list[float] = []

        def loss(self, epoch, x, y):
            # Set before the forwards: this step's update (and Cream's meta update) uses it.
            done = min(self.compute.units / self.budget, 1.0)
            factor = 1.0 - done
            if warmup > 0 and done < warmup:
                factor = min(factor, (done + 1e-3) / warmup)
            for group in self.search.optimizer.param_groups:
                group["lr"] = self.base_lr * factor
            return super().loss(epoch, x, y)

        def after_update(self, epoch, x, out, accuracy):
            self.train_accs.append(accuracy)
            super().after_update(epoch, x, out, accuracy)

    EqualCompute.__name__ = f"EqualCompute{rule.__name__}"
    return EqualCompute


def rule_settings(name: str):
    """(config overrides, search.algorithm, distils after the warm-up, lr multiplier, warm-up fraction)."""
    if name.startswith("alone_"):
        return ["space.sharing=independent", "search.sampling=uniform"], "spos", False, 1.0, 0.0
    overrides, *rest = RULES[name]
    if not any(o.startswith("space.sharing=") for o in overrides):  # the rules' independent ops, whatever the preset
        overrides = ["space.sharing=independent", *overrides]
    return overrides, *rest


def search_config(overrides: list[str], data: str | None):
    """The default Fashion-MNIST search's config, or with ``data`` the default search of ``cream search --data``
    (the imagefolder preset, with what the data decides filled in), with ``overrides``."""
    if data is None:
        return make_config(SearchRun, "fashion_mnist", overrides)
    cfg, _ = settings_from_data(run_config("search", data=data, overrides=overrides, notes=[]), "search")
    cfg.search.warmup_epochs = 1  # as with Fashion-MNIST: the step's epoch argument (0, then 1) is the warm-up
    return cfg


def run_rule(name: str, budget_epochs: float, seed: int, threads: int, n_paths: int = PATHS,
             data: str | None = None) -> dict:
    overrides, algorithm, distils, lr_factor, warmup = rule_settings(name)
    with tempfile.TemporaryDirectory() as tmp:
        cfg = search_config([
            *overrides, f"run.out_dir={tmp}", "run.quiet=true", "run.ckpt_every_steps=0", f"run.seed={seed}",
            f"run.threads={threads}", f"search.algorithm={algorithm}", "search.warmup_epochs=1"], data)
        rule = equal_compute(TRAINING_RULES[algorithm], budget_epochs, lr_factor, warmup)
        search = SupernetSearch(cfg, setup_context(cfg.run), RunDir(tmp, SupernetSearch.OUTPUTS), strategy=rule)
        strategy = search.strategy
        budget = strategy.budget
        # The same 20 paths for every rule: drawn uniformly from the same plan and seed, whatever the rule.
        paths = PathSampler(search.plan, seed=cfg.run.seed).distinct(n_paths, seed=5)
        if name.startswith("alone_"):
            paths = [paths[int(name.removeprefix("alone_"))]]
            strategy.sampler = OnePath(paths[0])
        rows, start, epoch = [], time.perf_counter(), 0
        next_eval = budget / EVAL_POINTS
        while strategy.compute.units < budget:
            for x, y in search.data.train.batches(epoch):
                # Epoch 0 is the search's warm-up (no board, no teacher); Cream distils from epoch 1 on.
                distilling = distils and strategy.compute.units >= budget * DISTILL_AFTER
                search.train_step(1 if distilling else 0, x, y)
                if strategy.compute.units >= next_eval - 1e-6:
                    rows.append(evaluate(search, paths, strategy.compute.units, time.perf_counter() - start,
                                         strategy.train_accs))
                    print(json.dumps({"rule": name, **{k: v for k, v in rows[-1].items() if k != "paths"}}),
                          flush=True)
                    next_eval += budget / EVAL_POINTS
                if strategy.compute.units >= budget:
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
            "std_val_top1": statistics.stdev(accs) if len(accs) > 1 else 0.0, "min_val_top1": min(accs),
            "max_val_top1": max(accs),
            "train_top1_last50": statistics.mean(recent), "paths": accs}


def report(out_dir: Path) -> None:
    """A markdown table (final and midway mean accuracy per rule) and supernet_learning.png."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results = [json.loads(p.read_text()) for p in sorted(out_dir.glob("*.json"))]
    alone = [r for r in results if r["rule"].startswith("alone_")]
    results = sorted((r for r in results if r not in alone), key=lambda r: -r["points"][-1]["mean_val_top1"])
    print("| rule | mean search-val top-1 of 20 paths at 1/3, 2/3, all of the budget | spread (min–max) at the end "
          "| train top-1 (last 50 updates) | wall time |")
    print("|---|---|---|---|---|")
    for r in results:
        p = r["points"]
        third = [f"{p[i]['mean_val_top1']:.1f}" for i in (len(p) // 3 - 1, 2 * len(p) // 3 - 1, len(p) - 1)]
        print(f"| {r['rule']} | {' / '.join(third)}% | {p[-1]['min_val_top1']:.1f}–{p[-1]['max_val_top1']:.1f}% "
              f"| {p[-1]['train_top1_last50']:.1f}% | {p[-1]['seconds'] / 60:.1f} min |")
    if alone:
        report_alone(alone, results)
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


def report_alone(alone: list[dict], results: list[dict]) -> None:
    """The paths trained alone against the same paths in each rule's supernet: mean gap and Kendall tau."""
    from scipy.stats import kendalltau

    by_path = {r["paths"][0]: r["points"][-1]["mean_val_top1"] for r in alone}
    print(f"\n{len(by_path)} of the paths trained alone: mean {statistics.mean(by_path.values()):.1f}% "
          f"({min(by_path.values()):.1f}–{max(by_path.values()):.1f}%)\n")
    print("| rule | the same paths in its supernet: mean | gap to alone | Kendall tau with alone |")
    print("|---|---|---|---|")
    for r in results:
        in_supernet = dict(zip(r["paths"], r["points"][-1]["paths"]))
        if not by_path.keys() <= in_supernet.keys():
            continue
        ws, sa = [in_supernet[a] for a in by_path], list(by_path.values())
        tau = kendalltau(ws, sa).statistic if len(ws) > 1 else float("nan")
        print(f"| {r['rule']} | {statistics.mean(ws):.1f}% | {statistics.mean(sa) - statistics.mean(ws):.1f} "
              f"| {tau:.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", nargs="*", default=list(RULES), choices=list(RULES))
    parser.add_argument("--alone", type=int, nargs="*", default=[],
                        help="also train these of the 20 paths alone (rules alone_K), after the rules")
    parser.add_argument("--budget-epochs", type=float, default=6.0, help="compute budget in search-train epochs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--report", action="store_true", help="only print the table and write the plot")
    parser.add_argument("--reverse", action="store_true", help="take the rules from the end (a second worker)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder of the per-rule JSON files")
    parser.add_argument("--paths", type=int, default=PATHS, help="paths judged at each point (fewer: a smoke run)")
    parser.add_argument("--data", help="an image folder: the default `cream search --data DIR` search on it instead "
                                       "of the Fashion-MNIST preset (its budget in epochs of its search-train split)")
    args = parser.parse_args()
    out_dir = args.out
    if args.report:
        report(out_dir)
        return
    out_dir.mkdir(parents=True, exist_ok=True)
    names = [*args.rules, *(f"alone_{k}" for k in args.alone)]
    for name in reversed(names) if args.reverse else names:
        out = out_dir / f"{name}.json"
        held = None if out.exists() else claim(out_dir, name)
        if held is None:
            print(f"{name}: done earlier or taken by another worker", flush=True)
            continue
        try:
            if not out.exists():
                result = run_rule(name, args.budget_epochs, args.seed, args.threads, args.paths, args.data)
                out.write_text(json.dumps({**result, "budget_epochs": args.budget_epochs}, indent=1))
        finally:
            held.unlink()


if __name__ == "__main__":
    main()

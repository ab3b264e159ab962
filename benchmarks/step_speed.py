"""Training-step speed of the search on this machine: child step, SPOS step, Cream step, meta update.

Everything runs in one process on the same path and the same batch, interleaved over repeats; the figure
is the median time per step after warm-up. Also measured: the data pipeline alone and the FLOPs-table look-up.

    .venv/bin/python benchmarks/step_speed.py [--preset fashion_mnist] [--threads 2] [--repeats 7] [override ...]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
import timeit

import torch
import torch.nn.functional as F

from cream.config import SearchRun, load_config, preset_path
from cream.engine.context import setup_context
from cream.engine.rundir import RunDir
from cream.search.trainer import OUTPUTS, SupernetSearch


def median_step_seconds(step, steps: int) -> float:
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def build_search(preset: str, overrides: list[str], out_dir: str, algorithm: str) -> SupernetSearch:
    cfg = load_config(SearchRun, preset_path("search", preset), [
        *overrides, f"run.out_dir={out_dir}/{algorithm}", f"search.algorithm={algorithm}",
        "search.warmup_epochs=0", "search.meta_update_every=0", "run.quiet=true"])
    RunDir(cfg.run.out_dir, OUTPUTS).path.mkdir(parents=True, exist_ok=True)
    return SupernetSearch(cfg, setup_context(cfg.run), RunDir(cfg.run.out_dir, OUTPUTS))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="fashion_mnist")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=7, help="rounds; each times every kind of step")
    parser.add_argument("--steps", type=int, default=5, help="steps per kind per round")
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    overrides = [f"run.threads={args.threads}", *args.overrides]

    with tempfile.TemporaryDirectory() as tmp:
        cream = build_search(args.preset, overrides, tmp, "cream")
        spos = build_search(args.preset, overrides, tmp, "spos")
        torch.set_num_threads(args.threads)
        ctx = cream.ctx
        x, y = next(cream.data.train.batches(0))
        batch = len(y)
        arch = cream.sampler.sample(0)
        # Fill the board with real observations, as after warm-up.
        batches = cream.data.train.batches(1)
        while len(cream.board) < cream.cfg.search.board_size:
            bx, by = next(batches)
            cream.train_step(0, bx, by)
        cream.sampler.sample = spos.sampler.sample = lambda step, board=None: arch

        child = ctx.prepare_model(cream.supernet.extract(arch)).train()
        optimizer = torch.optim.SGD(child.parameters(), lr=0.01, momentum=0.9, nesterov=True)
        smoothing = cream.cfg.search.label_smoothing

        def child_step():
            logits = child(ctx.to_device(x))
            loss = F.cross_entropy(logits, y, label_smoothing=smoothing)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss.item()

        def meta_step():
            teacher_probs = torch.softmax(cream.supernet(ctx.to_device(x), cream.board.entries[0].arch), 1).detach()
            cream.update_meta(arch, ctx.to_device(x), y, teacher_probs)

        kinds = {"child": child_step, "spos": lambda: spos.train_step(0, x, y),
                 "cream": lambda: cream.train_step(0, x, y), "meta_update": meta_step}
        for fn in kinds.values():  # warm-up
            for _ in range(2):
                fn()
        rounds = {k: [] for k in kinds}
        for _ in range(args.repeats):
            for name, fn in kinds.items():
                rounds[name].append(median_step_seconds(fn, args.steps))
        seconds = {k: statistics.median(v) for k, v in rounds.items()}

        loader = cream.data.train
        start = time.perf_counter()
        images = sum(len(by) for _, by in loader.batches(2))
        data_rate = images / (time.perf_counter() - start)
        lookup_us = 1e6 * min(timeit.repeat(lambda: cream.plan.table.macs(arch), number=2000, repeat=5)) / 2000
        cream.log.close()
        spos.log.close()

    child_rate = batch / seconds["child"]
    report = {
        "machine": f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, "
                   f"torch {torch.__version__}, device {ctx.device}",
        "preset": args.preset, "batch": batch, "path": str(arch), "path_macs_M": cream.plan.table.macs(arch),
        "images_per_s": {k: batch / s for k, s in seconds.items()},
        "ratio_to_child_step": {k: s / seconds["child"] for k, s in seconds.items()},
        "data_pipeline_images_per_s": data_rate, "data_to_child_step_ratio": data_rate / child_rate,
        "flops_lookup_us": lookup_us,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

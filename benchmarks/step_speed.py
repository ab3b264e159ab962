"""Training-step speed of the search on the CPU or a GPU, one JSON line per figure as soon as it is measured.

At each scale — 28 px (the Fashion-MNIST preset, fp32) and 224 px (the ImageNet preset, bf16 autocast) — through
the search's own ``train_step`` with the Cream strategy (``StepRule`` below: Cream, on one path when asked, its
in-step meta updates held off while the steady rows are timed):
  child        one path as a standalone net, forward + backward + SGD step (on a GPU also torch.compile'd, and
               at 28 px with CUDA graphs, torch.compile's reduce-overhead mode)
  spos         a warm-up step: SPOS, one path per step
  cream_first  the first Cream steps after warm-up, from an empty board, meta updates included: total time
  cream        a Cream step with a full board (teacher choice, teacher forward, distillation)
  meta_update  one meta-network update alone
  ratios       the spos, cream and meta_update times against the child step and the SPOS step
  data         the data pipeline alone: images/s over one epoch of the training loader, and against the child step
  flops_lookup a path's multiply-adds from the FLOPs table, µs per look-up
  spos_batchN  (GPU, 28 px) SPOS at larger batches, the config's learning rate per 1024 images unchanged
  profile      (--profile) the operators that take the most time over 10 Cream steps (torch.profiler)
Each timed row has ms per step, images/s, and the FLOPs of one step counted by PyTorch's FlopCounterMode on the
step itself (so a Cream row counts its teacher and board forwards); on a GPU also the peak memory and the achieved
fraction of the GPU's dense bf16 peak.

How steps are timed (``--paths``; the default follows ``--device``):
  fixed   (CPU) every kind of step trains one path (``--path``; default: the search's reference path) on one
          batch, and the kinds take turns over ``--repeats`` rounds of ``--steps`` steps: the figure is the median
          of the rounds' medians, so a shared machine's load falls on all kinds alike
  random  (GPU) each step draws its path and takes the next batch, as the search does; ``--steps`` steps per kind
          after 30 warm-up calls (the first call of an op at a new input shape pays for cuDNN's planning: on an
          H200 the first 10 Cream steps took 0.9 s each, against 47 ms later; after 30 calls each op of a block
          has been drawn with probability 1 − (5/6)^30 > 99.5%)
Data (``--data``): ``preset`` (CPU default) trains on the preset's own data; ``synthetic`` (GPU default: the GPU
machine has no dataset, and timing does not depend on pixels) feeds random images to ``train_step``; the search
itself is then built on a throw-away folder of tiny random images, since it reads its data from ``cfg.data``.

The run stops itself: measurements are skipped once ``--time-limit`` seconds have passed, and a watchdog ends the
process (printing every thread's stack) if one measurement hangs past the limit.

    .venv/bin/python benchmarks/step_speed.py --threads 1 --path 53-31-111-13-11   # BENCHMARKS.md "On a CPU"
    python3 benchmarks/step_speed.py --device cuda [--time-limit 420] [--scales 28 224] [--steps 30]
                                     [--cudnn-benchmark true] [--profile]           # BENCHMARKS.md "On a GPU"
    ... [override ...]   config overrides for every scale, e.g. data.root=DIR
"""

from __future__ import annotations

import argparse
import faulthandler
import itertools
import json
import math
import platform
import statistics
import tempfile
import time
import timeit
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.flop_counter import FlopCounterMode, conv_flop_count

from cream.assemble import make_config
from cream.config import SearchRun
from cream.data.loaders import TensorLoader
from cream.engine.context import setup_context
from cream.engine.rundir import RunDir
from cream.nas.prioritized import Cream
from cream.nas.sampler import PathSampler
from cream.nas.trainer import SupernetSearch
from cream.space.arch import Arch

SCALES = {  # resolution -> (preset, overrides)
    28: ("fashion_mnist", ["run.bf16=false"]),
    224: ("imagenet", ["run.bf16=true"]),
}
RANDOM_PATH_WARMUP = 30  # warm-up calls of a row whose steps draw random paths (the module's docstring says why)
FIXED_WARMUP = 3  # warm-up calls of every other row


class OnePath(PathSampler):
    """A sampler that draws one given path every time."""

    def __init__(self, plan, arch: Arch):
        super().__init__(plan)
        self.arch = arch

    def sample(self, step: int, board=None, draw: int = 0) -> Arch:
        return self.arch


class StepRule(Cream):
    """Cream as this benchmark times it: ``fix_path`` makes it train one path; while ``in_step_meta_updates`` is
    False its steps skip the meta updates they would make every ``search.meta_update_every`` steps, which the
    meta_update row times alone (``meta_update``)."""

    in_step_meta_updates = True

    def fix_path(self, arch: Arch) -> None:
        self.sampler = OnePath(self.search.plan, arch)

    def update_meta(self, arch, x, y, teacher_probs) -> None:
        if self.in_step_meta_updates:
            self.meta_update(arch, x, y, teacher_probs)

    def meta_update(self, arch, x, y, teacher_probs) -> None:
        super().update_meta(arch, x, y, teacher_probs)


class Clock:
    """The time limit: ``left()`` seconds remain of it."""

    def __init__(self, limit: float):
        self.end = time.monotonic() + limit

    def left(self) -> float:
        return self.end - time.monotonic()


def emit(**row) -> None:
    print(json.dumps(row), flush=True)


def sync(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def conv_backward_flops(grad_out_shape, x_shape, w_shape, _bias, _stride, _padding, _dilation, _transposed,
                        _output_padding, _groups, output_mask, **kwargs) -> int:
    """A convolution's backward costs its forward once per gradient it computes (input, weight).

    PyTorch's own formula (torch 2.14) counts a grouped convolution's weight gradient as if it were dense,
    which makes a depthwise net's backward look 40x dearer than its forward.
    """
    return sum(output_mask[:2]) * conv_flop_count(x_shape, w_shape, grad_out_shape)


# ---------------------------------------------------------------------------------------------- data and search

def synthetic_folder(root: Path, classes: int, per_class: int, channels: int) -> Path:
    """A tree root/train/CLASS/*.png of tiny random images: enough for the search to build its loaders on."""
    rng = np.random.default_rng(0)
    shape = (8, 8) if channels == 1 else (8, 8, 3)
    for c in range(classes):
        folder = root / "train" / f"c{c:04d}"
        folder.mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(folder / f"{i}.png")
    return root


def synthetic_loader(batch: int, resolution: int, in_chans: int, num_classes: int) -> TensorLoader:
    """Four batches of random images and labels, normalized as image folders are."""
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (4 * batch, in_chans, resolution, resolution), dtype=torch.uint8, generator=gen)
    labels = torch.randint(0, num_classes, (len(images),), generator=gen)
    return TensorLoader(images, labels, batch, train=True, mean=(0.5,) * in_chans, std=(0.25,) * in_chans)


def build_search(resolution: int, batch: int, args, tmp: str) -> tuple[SupernetSearch, object]:
    """(the search at ``resolution`` with Cream as ``StepRule``, the loader its steps are fed from)."""
    preset, scale_overrides = SCALES[resolution]
    overrides = [*scale_overrides, f"data.batch_size={batch}", f"run.device={args.device}",
                 f"run.out_dir={tmp}/run", f"run.threads={args.threads}",
                 f"run.cudnn_benchmark={args.cudnn_benchmark}", "run.quiet=true", "run.ckpt_every_steps=0",
                 "search.algorithm=cream", "search.warmup_epochs=1", *args.overrides]
    cfg = make_config(SearchRun, preset, overrides)
    if args.data == "synthetic":
        space = cfg.space
        per_class = 2 * max(1, math.ceil(max([batch, *args.sweep_batches]) / space.num_classes))
        root = synthetic_folder(Path(tmp) / "images", space.num_classes, per_class, space.in_chans)
        cfg = make_config(SearchRun, preset, [
            *overrides, "data.dataset=imagefolder", f"data.root={root}", "data.val_fraction=0.5",
            "data.train_per_class=null", "data.val_per_class=null", "data.classes=null", "data.workers=0"])
    Path(cfg.run.out_dir).mkdir(parents=True, exist_ok=True)
    search = SupernetSearch(cfg, setup_context(cfg.run), RunDir(cfg.run.out_dir, SupernetSearch.OUTPUTS),
                            strategy=StepRule)
    loader = (synthetic_loader(batch, search.plan.spec.resolution, cfg.space.in_chans, cfg.space.num_classes)
              if args.data == "synthetic" else search.data.train)
    return search, loader


def batches(loader, ctx):
    """The loader's batches on the device, forever."""
    for epoch in itertools.count():
        for x, y in loader.batches(epoch):
            yield ctx.to_device(x), y.to(ctx.device)


def search_step(search, feed, epoch: int):
    """The search's own step on the next batch; epoch 0 is warm-up (SPOS), epoch 1 the Cream phase."""
    def step():
        x, y = next(feed)
        search.train_step(epoch, x, y)
    return step


# ---------------------------------------------------------------------------------------------- timing

def measure(kinds: dict, args, clock: Clock, repeats: int = 1, **extra) -> dict:
    """Time each kind (name -> (step, images per step, warm-up calls, the row's own fields)): its warm-up calls,
    one call under FlopCounterMode, then ``repeats`` rounds in which every kind runs ``args.steps`` timed steps in
    turn; per kind the median of its rounds' medians, one JSON line each. Returns the rows measured."""
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    counted = {}
    for name, (step, _, warmup, own) in kinds.items():
        for _ in range(warmup):
            if clock.left() < 5:
                break
            step()
        if clock.left() < 5:
            emit(row=name, skipped="time limit reached", **extra, **own)
            continue
        counter = FlopCounterMode(display=False,
                                  custom_mapping={torch.ops.aten.convolution_backward: conv_backward_flops})
        with counter:
            step()
        counted[name] = counter.get_total_flops()
    medians = {name: [] for name in counted}
    steps = dict.fromkeys(counted, 0)
    for _ in range(repeats):
        for name in counted:
            times = []
            for _ in range(args.steps):
                if clock.left() < 2:
                    break
                sync(device)
                start = time.perf_counter()
                kinds[name][0]()
                sync(device)
                times.append(time.perf_counter() - start)
            if times:
                medians[name].append(statistics.median(times))
                steps[name] += len(times)
    rows = {}
    for name, flops in counted.items():
        _, images, _, own = kinds[name]
        if not medians[name]:
            emit(row=name, skipped="time limit reached", **extra, **own)
            continue
        seconds = statistics.median(medians[name])
        row = {"row": name, **extra, **own, "ms_per_step": 1e3 * seconds, "images_per_s": images / seconds,
               "steps": steps[name], "rounds": len(medians[name]), "gflops_per_step": flops / 1e9,
               "achieved_tflops": flops / seconds / 1e12}
        if device.type == "cuda":
            row["fraction_of_bf16_peak"] = flops / seconds / 1e12 / args.peak_tflops
            row["peak_memory_GiB"] = torch.cuda.max_memory_allocated(device) / 2**30
        emit(**row)
        rows[name] = row
    return rows


def profile(step, device, resolution: int, steps: int = 10, top: int = 15) -> None:
    """Where a Cream step's time goes: the ``top`` operators by self time over ``steps`` steps (torch.profiler)."""
    activities = [torch.profiler.ProfilerActivity.CPU]
    if device.type == "cuda":
        activities.append(torch.profiler.ProfilerActivity.CUDA)
    with torch.profiler.profile(activities=activities) as prof:
        for _ in range(steps):
            step()
        sync(device)
    on_device = device.type == "cuda"
    events = sorted(prof.key_averages(), key=lambda e: e.self_device_time_total if on_device else e.self_cpu_time_total,
                    reverse=True)
    for e in events[:top]:
        emit(row="profile", resolution=resolution, steps=steps, op=e.key, calls=e.count,
             self_cpu_ms=e.self_cpu_time_total / 1e3,
             self_device_ms=e.self_device_time_total / 1e3 if on_device else None)


def first_cream_steps(search, feed, args, clock: Clock, common: dict) -> None:
    """Cream steps from an empty board (meta updates included): ``--first-cream-steps`` of them, and with
    ``--paths fixed`` at least until the board is full; the time so far after 1, 10 and 50 steps and at the end."""
    device, board = torch.device(args.device), search.strategy.board
    start, done = time.perf_counter(), 0
    while clock.left() > 5 and (done < args.first_cream_steps
                                or (args.paths == "fixed" and len(board) < board.size and done < 10_000)):
        search_step(search, feed, 1)()
        done += 1
        if done in (1, 10, 50):
            sync(device)
            emit(row="cream_first", **common, steps_done=done, seconds=time.perf_counter() - start, board=len(board))
    sync(device)
    emit(row="cream_first", **common, steps_done=done, seconds=time.perf_counter() - start, board=len(board),
         meta_updates=search.counters["meta_updates"])


def run_scale(resolution: int, args, clock: Clock) -> None:
    device = torch.device(args.device)
    with tempfile.TemporaryDirectory() as tmp:
        search, loader = build_search(resolution, args.batch, args, tmp)
        ctx, strategy = search.ctx, search.strategy
        arch = Arch.parse(args.path) if args.path else search.reference
        fixed = args.paths == "fixed"
        x, y = next(batches(loader, ctx))
        feed = itertools.repeat((x, y)) if fixed else batches(loader, ctx)
        batch = len(y)
        common = {"resolution": resolution, "batch": batch, "bf16": ctx.bf16, "channels_last": ctx.channels_last,
                  "paths": args.paths, "data": args.data}
        child = ctx.prepare_model(search.supernet.extract(arch)).train()
        child_opt = torch.optim.SGD(child.parameters(), lr=0.01, momentum=0.9, nesterov=True)
        smoothing = search.cfg.search.label_smoothing

        def child_step(model):
            def step():
                with ctx.autocast():
                    loss = F.cross_entropy(model(x).float(), y, label_smoothing=smoothing)
                child_opt.zero_grad(set_to_none=True)
                loss.backward()
                child_opt.step()
            return step

        def meta_step():
            student = strategy.sampler.sample(search.step, strategy.board)
            with torch.no_grad(), ctx.autocast():
                teacher = F.softmax(search.supernet(x, strategy.board.entries[0].arch).float(), dim=1)
            strategy.meta_update(student, x, y, teacher)

        path = {"path": str(arch), "path_macs_M": search.plan.table.macs(arch)}
        warm = FIXED_WARMUP if fixed else args.random_warmup
        kinds = {"child": (child_step(child), batch, FIXED_WARMUP, path),
                 "spos": (search_step(search, feed, 0), batch, warm, path if fixed else {})}
        rows = {}
        if not fixed:  # each row on its own, printed as soon as it is measured
            for name, kind in kinds.items():
                rows.update(measure({name: kind}, args, clock, **common))
        if clock.left() > 10:  # the first Cream steps from an empty board: no minutes-long tuning phase allowed
            first_cream_steps(search, feed, args, clock, common)
        strategy.in_step_meta_updates = False  # timed on their own: the meta_update row
        if fixed:
            strategy.fix_path(arch)
        steady = {"cream": (search_step(search, feed, 1), batch, warm, {"board": len(strategy.board)}),
                  "meta_update": (meta_step, batch, warm, {})}
        if not len(strategy.board):
            steady.pop("meta_update")
        if fixed:
            rows = measure({**kinds, **steady}, args, clock, repeats=args.repeats, **common)
        else:
            rows.update(measure({"cream": steady["cream"]}, args, clock, **common))
            if "meta_update" in steady:
                rows.update(measure({"meta_update": steady["meta_update"]}, args, clock, **common))
        strategy.in_step_meta_updates = True
        ms = {name: row["ms_per_step"] for name, row in rows.items()}
        if "spos" in ms:
            emit(row="ratios", resolution=resolution,
                 **{f"{k}_to_spos": ms[k] / ms["spos"] for k in ("cream", "meta_update") if k in ms},
                 **{f"{k}_to_child": ms[k] / ms["child"] for k in ("spos", "cream", "meta_update")
                    if k in ms and "child" in ms})

        start = time.perf_counter()
        images = sum(len(by) for _, by in loader.batches(2))
        data_rate = images / (time.perf_counter() - start)
        emit(row="data", **common, images=images, images_per_s=data_rate,
             to_child_step=data_rate / rows["child"]["images_per_s"] if "child" in rows else None)
        lookup_us = 1e6 * min(timeit.repeat(lambda: search.plan.table.macs(arch), number=2000, repeat=5)) / 2000
        emit(row="flops_lookup", resolution=resolution, us_per_lookup=lookup_us)

        if args.profile and clock.left() > 20:
            profile(search_step(search, feed, 1), device, resolution)
        if device.type == "cuda":
            measure({"child_compiled": (child_step(torch.compile(child)), batch, FIXED_WARMUP, {})}, args, clock,
                    **common)
            if resolution <= 64:  # launch-bound: do CUDA graphs (torch.compile's reduce-overhead) buy more?
                torch._dynamo.reset()
                measure({"child_cudagraphs": (child_step(torch.compile(child, mode="reduce-overhead")), batch,
                                              FIXED_WARMUP, {})}, args, clock, **common)
        search.log.close()

    if resolution <= 64:  # small images: does a larger batch buy throughput?
        for big_batch in args.sweep_batches:
            name = f"spos_batch{big_batch}"
            if clock.left() < 30:
                emit(row=name, skipped="time limit reached", resolution=resolution, batch=big_batch)
                continue
            with tempfile.TemporaryDirectory() as tmp:
                big, big_loader = build_search(resolution, big_batch, args, tmp)
                measure({name: (search_step(big, batches(big_loader, big.ctx), 0), big_batch, args.random_warmup,
                                {})}, args, clock, resolution=resolution, batch=big_batch)
                big.log.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu or cuda (the defaults below follow it)")
    parser.add_argument("--scales", type=int, nargs="*", choices=sorted(SCALES),
                        help="resolutions (default: 28; on a GPU 28 224)")
    parser.add_argument("--paths", choices=("fixed", "random"), help="how steps are timed (default: fixed on the "
                                                                     "CPU, random on a GPU; see above)")
    parser.add_argument("--path", help="the path of the child row (and of every row with --paths fixed); "
                                       "default: the search's reference path")
    parser.add_argument("--data", choices=("preset", "synthetic"),
                        help="the preset's data or random images (default: preset on the CPU, synthetic on a GPU)")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, help="timed steps per row and round (default 5 with --paths fixed, "
                                                  "else 30; fewer if time runs out)")
    parser.add_argument("--repeats", type=int, default=7, help="rounds with --paths fixed")
    parser.add_argument("--random-warmup", type=int, default=RANDOM_PATH_WARMUP,
                        help="warm-up calls of the rows that draw random paths (fewer: a smoke run)")
    parser.add_argument("--first-cream-steps", type=int,
                        help="Cream steps timed from an empty board (default: 200 on a GPU; on the CPU until the "
                             "board is full)")
    parser.add_argument("--sweep-batches", type=int, nargs="*",
                        help="28 px: SPOS also at these batches (default: 256 512 on a GPU, none on the CPU)")
    parser.add_argument("--time-limit", type=float, help="seconds; the run stops itself by then (default: 420 on "
                                                         "a GPU, 7200 on the CPU)")
    parser.add_argument("--cudnn-benchmark", choices=("true", "false"), default="false",
                        help="cuDNN autotuning (the search's default is off; compare both)")
    parser.add_argument("--profile", action="store_true", help="also profile 10 Cream steps per scale")
    parser.add_argument("--threads", type=int, help="CPU threads; 0 = all cores (default: 2 on the CPU, else 0)")
    parser.add_argument("--peak-tflops", type=float, default=989.0, help="dense bf16 peak (H100/H200 SXM: 989)")
    parser.add_argument("overrides", nargs="*", help="config overrides for every scale")
    args = parser.parse_args()
    gpu = torch.device(args.device).type == "cuda"
    args.scales = args.scales if args.scales is not None else ([28, 224] if gpu else [28])
    args.paths = args.paths or ("random" if gpu else "fixed")
    args.data = args.data or ("synthetic" if gpu else "preset")
    args.steps = args.steps or (5 if args.paths == "fixed" else 30)
    args.first_cream_steps = args.first_cream_steps if args.first_cream_steps is not None else (200 if gpu else 0)
    args.sweep_batches = args.sweep_batches if args.sweep_batches is not None else ([256, 512] if gpu else [])
    args.time_limit = args.time_limit or (420.0 if gpu else 7200.0)
    args.threads = args.threads if args.threads is not None else (0 if gpu else 2)

    clock = Clock(args.time_limit)
    faulthandler.dump_traceback_later(args.time_limit + 30, exit=True)  # a hung measurement cannot outlive this
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if gpu else platform.processor() or platform.machine()
    emit(row="machine", device=name,
         threads=args.threads, torch=torch.__version__, time_limit_s=args.time_limit,
         cudnn_benchmark=args.cudnn_benchmark, paths=args.paths, data=args.data)
    for resolution in args.scales:
        if clock.left() < 30:
            emit(row="scale", resolution=resolution, skipped="time limit reached")
            continue
        run_scale(resolution, args, clock)
    faulthandler.cancel_dump_traceback_later()
    emit(row="end", seconds_left=clock.left())


if __name__ == "__main__":
    main()

"""The search's training steps on a GPU, one JSON line per figure as soon as it is measured; never hangs.

At two scales — the Fashion-MNIST preset (28 px, batch 128) and ImageNet (224 px, batch 128, bf16 autocast,
channels_last) — on synthetic images (the GPU machine has no dataset; timing does not depend on pixels),
through the search trainer's own code:
  child        one fixed path as a standalone net, forward + backward + SGD step (and torch.compile'd; at 28 px
               also with CUDA graphs, torch.compile's reduce-overhead mode)
  spos         ``train_step`` in a warm-up epoch: one random path per step
  cream_first  the first Cream steps after warm-up, from an empty board, meta updates included: total time
  cream        ``train_step`` after warm-up with a full board (teacher choice, teacher forward, distillation)
  meta_update  one meta-network update alone
  spos_batchN  (28 px) SPOS at larger batches, learning rate unchanged: images/s
Each row has ms per step, images/s, peak GPU memory, and the FLOPs of that step counted by PyTorch's
FlopCounterMode on the step itself (so a Cream row counts its teacher and board forwards), with the
achieved fraction of the GPU's dense bf16 peak.

The whole run stops itself: measurements are skipped once ``--time-limit`` seconds have passed, and a
watchdog ends the process (printing every thread's stack) if one measurement hangs past the limit.

    python benchmarks/gpu.py [--time-limit 420] [--scales 28 224] [--steps 30] [--device cuda]
                             [--cudnn-benchmark true] [--profile]
"""

from __future__ import annotations

import argparse
import faulthandler
import json
import statistics
import tempfile
import time
from functools import partial

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode, conv_flop_count

from cream.config import SearchRun, load_config, preset_path
from cream.data.loaders import DataBundle, TensorLoader
from cream.engine.context import setup_context
from cream.engine.rundir import RunDir
from cream.search import trainer

SCALES = {  # resolution -> (preset, overrides)
    28: ("fashion_mnist", ["run.bf16=false"]),
    224: ("imagenet", ["run.bf16=true"]),
}
RANDOM_PATH_WARMUP = 30  # warm-up calls of a row whose steps draw random paths (see ``measure``)


class Clock:
    """The time limit: ``left()`` seconds remain of it."""

    def __init__(self, limit: float):
        self.end = time.monotonic() + limit

    def left(self) -> float:
        return self.end - time.monotonic()


def emit(**row) -> None:
    print(json.dumps(row), flush=True)


def synthetic_data(cfg, resolution, in_chans, purpose, num_classes=1000, **kwargs) -> DataBundle:
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (4 * cfg.batch_size, in_chans, resolution, resolution), dtype=torch.uint8,
                           generator=gen)
    labels = torch.randint(0, num_classes, (len(images),), generator=gen)
    norm = {"mean": (0.5,) * in_chans, "std": (0.25,) * in_chans}
    train = TensorLoader(images, labels, cfg.batch_size, train=True, **norm)
    val = TensorLoader(images[: cfg.batch_size], labels[: cfg.batch_size], cfg.batch_size, train=False, **norm)
    return DataBundle(train, val, [str(i) for i in range(num_classes)])


def conv_backward_flops(grad_out_shape, x_shape, w_shape, _bias, _stride, _padding, _dilation, _transposed,
                        _output_padding, _groups, output_mask, **kwargs) -> int:
    """A convolution's backward costs its forward once per gradient it computes (input, weight).

    PyTorch's own formula (torch 2.14) counts a grouped convolution's weight gradient as if it were dense,
    which makes a depthwise net's backward look 40x dearer than its forward.
    """
    return sum(output_mask[:2]) * conv_flop_count(x_shape, w_shape, grad_out_shape)


def sync(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(name: str, step, args, clock: Clock, images: int, warmup: int = 3, **extra) -> dict | None:
    """Median time of ``step`` over ``steps`` calls after ``warmup`` (≥ 1) calls, its counted FLOPs; one JSON line.

    Steps that draw a random path need many warm-up calls: the first call of each op at each new input shape
    pays for cuDNN's planning (on an H200 the first 10 Cream steps took 0.9 s each, against 47 ms later), which
    is not the steady state. After 30 calls each op of a block has been drawn with probability 1 − (5/6)^30 > 99.5%.
    """
    device, steps, peak_tflops = torch.device(args.device), args.steps, args.peak_tflops
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    for _ in range(warmup):
        if clock.left() < 5:
            emit(row=name, skipped="time limit reached", **extra)
            return None
        step()
    counter = FlopCounterMode(display=False, custom_mapping={torch.ops.aten.convolution_backward: conv_backward_flops})
    with counter:
        step()
    times = []
    for _ in range(steps):
        if clock.left() < 2:
            break
        sync(device)
        start = time.perf_counter()
        step()
        sync(device)
        times.append(time.perf_counter() - start)
    if not times:
        emit(row=name, skipped="time limit reached", **extra)
        return None
    seconds = statistics.median(times)
    flops = counter.get_total_flops()
    row = {"row": name, **extra, "ms_per_step": 1e3 * seconds, "images_per_s": images / seconds, "steps": len(times),
           "gflops_per_step": flops / 1e9, "achieved_tflops": flops / seconds / 1e12}
    if device.type == "cuda":
        row["fraction_of_bf16_peak"] = flops / seconds / 1e12 / peak_tflops
        row["peak_memory_GiB"] = torch.cuda.max_memory_allocated(device) / 2**30
    emit(**row)
    return row


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


def build_search(resolution: int, batch: int, args, tmp: str):
    preset, overrides = SCALES[resolution]
    device, threads = args.device, args.threads
    cfg = load_config(SearchRun, preset_path("search", preset), [
        *overrides, f"data.batch_size={batch}", f"run.device={device}", f"run.out_dir={tmp}",
        f"run.threads={threads}", f"run.cudnn_benchmark={args.cudnn_benchmark}",
        "run.quiet=true", "search.warmup_epochs=1", "run.ckpt_every_steps=0"])
    trainer.build_data = partial(synthetic_data, num_classes=cfg.space.num_classes)
    return trainer.SupernetSearch(cfg, setup_context(cfg.run), RunDir(tmp, trainer.OUTPUTS))


def batches(search):
    """Batches on the device, forever."""
    epoch = 0
    while True:
        for x, y in search.data.train.batches(epoch):
            yield search.ctx.to_device(x), y.to(search.ctx.device)
        epoch += 1


def search_step(search, feed, epoch: int):
    """The trainer's own step on the next batch; epoch 0 is warm-up (SPOS), epoch 1 the Cream phase."""
    def step():
        x, y = next(feed)
        search.train_step(epoch, x, y)
    return step


def run_scale(resolution: int, args, clock: Clock) -> None:
    device = torch.device(args.device)
    with tempfile.TemporaryDirectory() as tmp:
        search = build_search(resolution, args.batch, args, tmp)
        ctx, feed = search.ctx, batches(search)
        common = {"resolution": resolution, "batch": args.batch, "bf16": ctx.bf16,
                  "channels_last": ctx.channels_last}
        arch = search.reference
        child = ctx.prepare_model(search.supernet.extract(arch)).train()
        child_opt = torch.optim.SGD(child.parameters(), lr=0.01, momentum=0.9, nesterov=True)
        x, y = next(feed)

        def child_step(model):
            def step():
                with ctx.autocast():
                    loss = F.cross_entropy(model(x).float(), y)
                child_opt.zero_grad(set_to_none=True)
                loss.backward()
                child_opt.step()
            return step

        measure("child", child_step(child), args, clock, args.batch, **common,
                path=str(arch), path_macs_M=search.plan.table.macs(arch))
        spos = measure("spos", search_step(search, feed, 0), args, clock, args.batch, RANDOM_PATH_WARMUP, **common)

        if clock.left() > 10:  # the first Cream steps from an empty board: no minutes-long tuning phase allowed
            start, done = time.perf_counter(), 0
            while done < args.first_cream_steps and clock.left() > 5:
                search_step(search, feed, 1)()
                done += 1
                if done in (1, 10, 50):
                    sync(device)
                    emit(row="cream_first", **common, steps_done=done, seconds=time.perf_counter() - start,
                         board=len(search.board))
            sync(device)
            emit(row="cream_first", **common, steps_done=done, seconds=time.perf_counter() - start,
                 board=len(search.board), meta_updates=search.counters["meta_updates"])
        every, search.cfg.search.meta_update_every = search.cfg.search.meta_update_every, 0
        cream = measure("cream", search_step(search, feed, 1), args, clock, args.batch, RANDOM_PATH_WARMUP, **common,
                        board=len(search.board))
        search.cfg.search.meta_update_every = every
        if args.profile and clock.left() > 20:
            profile(search_step(search, feed, 1), device, resolution)

        def meta_step():
            student = search.sampler.sample(search.step, search.board)
            with torch.no_grad(), ctx.autocast():
                teacher = F.softmax(search.supernet(x, search.board.entries[0].arch).float(), dim=1)
            search.update_meta(student, x, y, teacher)
        meta = (measure("meta_update", meta_step, args, clock, args.batch, RANDOM_PATH_WARMUP, **common)
                if len(search.board) else None)
        if spos and cream and meta:  # the targets: Cream step <= 1.5x, meta update <= 3x a SPOS step
            emit(row="ratios", resolution=resolution, cream_to_spos=cream["ms_per_step"] / spos["ms_per_step"],
                 meta_update_to_spos=meta["ms_per_step"] / spos["ms_per_step"])
        if device.type == "cuda":
            measure("child_compiled", child_step(torch.compile(child)), args, clock, args.batch, **common)
            if resolution <= 64:  # launch-bound: do CUDA graphs (torch.compile's reduce-overhead) buy more?
                torch._dynamo.reset()
                measure("child_cudagraphs", child_step(torch.compile(child, mode="reduce-overhead")), args, clock,
                        args.batch, **common)
        search.log.close()

    if resolution <= 64:  # small images: does a larger batch buy throughput?
        for batch in (256, 512):
            if clock.left() < 30:
                emit(row=f"spos_batch{batch}", skipped="time limit reached", resolution=resolution, batch=batch)
                continue
            with tempfile.TemporaryDirectory() as tmp:
                big = build_search(resolution, batch, args, tmp)
                measure(f"spos_batch{batch}", search_step(big, batches(big), 0), args, clock, batch,
                        RANDOM_PATH_WARMUP, resolution=resolution, batch=batch)
                big.log.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--time-limit", type=float, default=420.0, help="seconds; the run stops itself by then")
    parser.add_argument("--scales", type=int, nargs="*", default=[28, 224], choices=sorted(SCALES))
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=30, help="timed steps per row (fewer if time runs out)")
    parser.add_argument("--first-cream-steps", type=int, default=200)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--cudnn-benchmark", choices=("true", "false"), default="false",
                        help="cuDNN autotuning (the search's default is off; compare both)")
    parser.add_argument("--profile", action="store_true", help="also profile 10 Cream steps per scale")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (a CPU dry run); 0 = all cores")
    parser.add_argument("--peak-tflops", type=float, default=989.0, help="dense bf16 peak (H100/H200 SXM: 989)")
    args = parser.parse_args()
    clock = Clock(args.time_limit)
    faulthandler.dump_traceback_later(args.time_limit + 30, exit=True)  # a hung measurement cannot outlive this
    device = torch.device(args.device)
    emit(row="machine", device=torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
         torch=torch.__version__, time_limit_s=args.time_limit, cudnn_benchmark=args.cudnn_benchmark)
    for resolution in args.scales:
        if clock.left() < 30:
            emit(row="scale", resolution=resolution, skipped="time limit reached")
            continue
        run_scale(resolution, args, clock)
    faulthandler.cancel_dump_traceback_later()
    emit(row="end", seconds_left=clock.left())


if __name__ == "__main__":
    main()

"""The ImageNet-scale search step on a GPU: Cream step and child step images/s, peak memory, achieved FLOP/s.

Synthetic 224 px images (the GPU machine has no dataset), batch 128, bf16 autocast, channels_last, with and
without torch.compile of the child step. The Cream step is the trainer's own ``train_step`` after warm-up
with a full board (teacher forward + batched meta-matching + student step). The achieved fraction of the
GPU's bf16 peak counts 3x the path's forward multiply-adds (forward + backward) x 2 FLOPs.

    python benchmarks/gpu.py [--batch 128] [--resolution 224] [--peak-tflops 989] [--device cuda]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time

import torch
import torch.nn.functional as F

from cream.config import SearchRun, load_config, preset_path
from cream.data.loaders import DataBundle, TensorLoader
from cream.engine.context import setup_context
from cream.engine.rundir import RunDir
from cream.search import trainer


def synthetic_data(cfg, resolution, in_chans, purpose, **kwargs) -> DataBundle:
    """Random uint8 images standing in for ImageNet (the timing does not depend on pixel values)."""
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (8 * cfg.batch_size, in_chans, resolution, resolution), dtype=torch.uint8,
                           generator=gen)
    labels = torch.randint(0, 1000, (len(images),), generator=gen)
    train = TensorLoader(images, labels, cfg.batch_size, train=True, mean=(0.5,) * 3, std=(0.25,) * 3)
    val = TensorLoader(images[: cfg.batch_size], labels[: cfg.batch_size], cfg.batch_size, train=False,
                       mean=(0.5,) * 3, std=(0.25,) * 3)
    return DataBundle(train, val, [str(i) for i in range(1000)])


def timed(fn, device, steps: int) -> float:
    """Median seconds per call over ``steps`` calls (after two warm-up calls), synchronised."""
    for _ in range(2):
        fn()
    times = []
    for _ in range(steps):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--resolution", type=int, default=224)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--peak-tflops", type=float, default=989.0, help="dense bf16 peak (H100/H200 SXM: 989)")
    args = parser.parse_args()

    trainer.build_data = synthetic_data
    with tempfile.TemporaryDirectory() as tmp:
        cfg = load_config(SearchRun, preset_path("search", "imagenet"), [
            f"data.batch_size={args.batch}", f"space.resolution={args.resolution}", f"run.device={args.device}",
            f"run.out_dir={tmp}", "run.quiet=true", "search.warmup_epochs=0", "search.meta_update_every=0"])
        search = trainer.SupernetSearch(cfg, setup_context(cfg.run), RunDir(tmp, trainer.OUTPUTS))
        ctx, device = search.ctx, search.ctx.device
        epoch = 0
        while len(search.board) < cfg.search.board_size:  # fill the board with real observations
            for bx, by in search.data.train.batches(epoch):
                search.train_step(0, bx, by)
            epoch += 1
        x, y = next(search.data.train.batches(1))
        arch = search.sampler.sample(0)
        search.sampler.sample = lambda step, board=None: arch
        macs = search.plan.table.macs(arch)

        child = ctx.prepare_model(search.supernet.extract(arch)).train()
        optimizer = torch.optim.SGD(child.parameters(), lr=0.01, momentum=0.9, nesterov=True)

        def child_step(model):
            def step():
                with ctx.autocast():
                    loss = F.cross_entropy(model(ctx.to_device(x)).float(), y.to(device))
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
            return step

        def cream_step():
            search.train_step(0, x, y)

        def teacher_step():
            teacher = search.board.entries[0].arch
            search.update_meta(arch, ctx.to_device(x), y.to(device),
                               torch.softmax(search.supernet(ctx.to_device(x), teacher).float(), 1).detach())

        report = {"device": torch.cuda.get_device_name(device) if device.type == "cuda" else str(device),
                  "torch": torch.__version__, "batch": args.batch, "resolution": args.resolution,
                  "path": str(arch), "path_macs_M": macs, "bf16": cfg.run.bf16, "channels_last": cfg.run.channels_last}
        runs = {"child": child_step(child), "cream": cream_step, "meta_update": teacher_step}
        if device.type == "cuda":
            runs["child_compiled"] = child_step(torch.compile(child))
        for name, fn in runs.items():
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            seconds = timed(fn, device, args.steps)
            images_per_s = args.batch / seconds
            achieved = images_per_s * macs * 1e6 * 2 * 3 / 1e12
            report[name] = {"images_per_s": images_per_s, "ms_per_step": 1e3 * seconds,
                            "achieved_tflops": achieved, "fraction_of_bf16_peak": achieved / args.peak_tflops,
                            "peak_memory_GiB": torch.cuda.max_memory_allocated(device) / 2**30
                            if device.type == "cuda" else None}
        report["cream_to_child_ratio"] = report["child"]["images_per_s"] / report["cream"]["images_per_s"]
        search.log.close()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

"""Retraining speed on this machine, and the time a retrain preset needs, extrapolated from it.

Times training steps (forward, backward, optimizer, EMA) of one architecture on real batches of the preset's
data, and evaluation passes, as medians over interleaved repeats after warm-up, so a busy shared machine
skews the figure less than one wall-clock run would. From them: seconds per epoch and for the whole preset.

    .venv/bin/python benchmarks/retrain_speed.py [--preset fashion_mnist] [--arch 33-35-310-13-31] [override ...]
"""

from __future__ import annotations

import argparse
import itertools
import json
import platform
import statistics
import time

import torch

from cream.assemble import make_config
from cream.config import RetrainRun
from cream.data import build_data
from cream.engine.context import setup_context
from cream.engine.evaluate import evaluate
from cream.space.arch import Arch
from cream.space.net import NetSpec, build_child
from cream.train.trainer import ChildTraining, net_size


class FixedBatches(list):
    """A few batches, served as a loader (``evaluate`` reads ``.batches()``)."""

    def batches(self):
        return iter(self)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="fashion_mnist")
    parser.add_argument("--arch", default="33-35-310-13-31", help="a representative searched Fashion-MNIST net")
    parser.add_argument("--steps", type=int, default=10, help="timed training steps per repeat")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()

    cfg = make_config(RetrainRun, args.preset, args.overrides)
    ctx = setup_context(cfg.run)
    spec = NetSpec.from_config(cfg.space)
    arch = Arch.parse(args.arch)
    data = build_data(cfg.data, spec.resolution, spec.in_chans, "retrain", seed=0)
    training = ChildTraining(build_child(arch, spec, drop_path_rate=cfg.retrain.drop_path), cfg.retrain, ctx,
                             len(data.train), cfg.data.batch_size, spec.num_classes)
    batches = itertools.cycle(list(itertools.islice(data.train.batches(0), args.steps)))
    val = FixedBatches(list(itertools.islice(data.val.batches(), 2)))

    def train_steps() -> float:
        began = time.perf_counter()
        for _ in range(args.steps):
            training.train_step(*next(batches))
        return (time.perf_counter() - began) / args.steps

    def eval_images() -> float:
        training.net.eval()
        began = time.perf_counter()
        images = evaluate(training.net, val, ctx)["images"]
        training.net.train()
        return (time.perf_counter() - began) / images

    train_steps(), eval_images()  # warm-up: allocator, oneDNN kernels
    step_s, image_s = [], []
    for _ in range(args.repeats):
        step_s.append(train_steps())
        image_s.append(eval_images())
    step, per_image = statistics.median(step_s), statistics.median(image_s)

    r, batch = cfg.retrain, cfg.data.batch_size
    models = 2 if r.ema_decay > 0 else 1
    epoch_train = len(data.train) * step
    epoch_eval = models * data.val.num_images * per_image
    macs, params = net_size(arch, spec)
    print(json.dumps({
        "machine": f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads",
        "preset": args.preset, "arch": str(arch), "macs_M": round(macs, 2), "params_M": round(params, 3),
        "batch": batch, "train_images_per_s": round(batch / step, 1),
        "eval_images_per_s": round(1 / per_image, 1), "steps_per_epoch": len(data.train),
        "epoch_s": round(epoch_train + epoch_eval, 1), "epochs": r.epochs,
        "preset_minutes": round(r.epochs * (epoch_train + epoch_eval) / 60, 2),
        "step_s_repeats": [round(s, 4) for s in step_s],
    }, indent=2))


if __name__ == "__main__":
    main()

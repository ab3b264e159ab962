"""Your own images, measured: image-folder trees written from Fashion-MNIST as PNG files, the default pipeline on them.

    .venv/bin/python benchmarks/imagefolder.py --per-class 100 500 --threads 1

For each training size it writes DIR/train/CLASS/*.png (that many Fashion-MNIST training images per class),
DIR/val/CLASS/*.png (a fifth as many, other training images) and DIR/test/CLASS/*.png (the whole Fashion-MNIST
test set). Then:

1. speed: images per second of one epoch of the tree's search loader (decoded once into memory), of the same
   tree read from disk every epoch (data.cache_mb=0; workers kept across epochs, and as before issue 14: four
   new workers every epoch), and of in-memory Fashion-MNIST at the same resolution, each as the data pipeline
   alone and feeding child-net training steps (interleaved rounds, medians);
2. the default pipeline, nothing set but the thread count: ``cream search --data DIR``, ``cream retrain --data
   DIR``, ``cream test --data DIR``, each timed, with the test accuracy on the Fashion-MNIST test set.

Every figure is printed as one JSON line as soon as it is known and collected in OUT/imagefolder.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

import cream
from cream.config import DataConfig
from cream.data import build_data
from cream.data.fashion_mnist import CLASSES, DEFAULT_ROOT, load_fashion_mnist
from cream.data.loaders import FolderLoader
from cream.space.arch import Arch
from cream.space.net import NetSpec, build_child

ARCH = "33-33-333-33-33"  # a mid-sized path of the default search space (flops_max 8 at 28 px)


def folder_names() -> list[str]:
    """Class folders that sort in Fashion-MNIST's label order."""
    return [f"{i}_{name.lower().replace('/', '_').replace(' ', '_')}" for i, name in enumerate(CLASSES)]


def write_tree(dst: Path, per_class: int, seed: int = 0) -> Path:
    """train/ (per_class per class), val/ (per_class // 5 per class, other images), test/ (the whole test set)."""
    if (dst / "done").exists():
        return dst
    data = load_fashion_mnist(DEFAULT_ROOT)
    rng = np.random.default_rng(seed)
    names = folder_names()
    labels = data["train_labels"].numpy()
    for c, name in enumerate(names):
        idx = rng.permutation(np.flatnonzero(labels == c))
        picks = {"train": idx[:per_class], "val": idx[per_class: per_class + per_class // 5]}
        test_idx = np.flatnonzero(data["test_labels"].numpy() == c)
        for split, chosen, images in (("train", picks["train"], data["train_images"]),
                                      ("val", picks["val"], data["train_images"]),
                                      ("test", test_idx, data["test_images"])):
            folder = dst / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in chosen:
                Image.fromarray(images[i, 0].numpy(), mode="L").save(folder / f"{i:05d}.png")
    (dst / "done").write_text("complete\n")
    return dst


def emit(record: dict, results: list) -> None:
    results.append(record)
    print(json.dumps(record), flush=True)


class FreshWorkersEachEpoch:
    """How image folders were read before issue 14: a new DataLoader with 4 worker processes for every pass."""

    def __init__(self, loader: FolderLoader):
        self.loader = loader
        self.num_images = loader.num_images

    def batches(self, epoch: int = 0):
        self.loader.sampler.set(epoch, 0)
        yield from torch.utils.data.DataLoader(self.loader.dataset, batch_sampler=self.loader.sampler, num_workers=4)


def loaders(tree: Path, batch: int) -> dict:
    """The search-train loaders to compare, all at 28 px, one channel, the same batch and augmentation."""
    common = dict(val_fraction=0.1, batch_size=batch, crop_padding=3, hflip=True)
    folder = dict(dataset="imagefolder", root=str(tree), crop_pct=1.0, **common)
    out = {}
    began = time.perf_counter()
    out["tree in memory"] = build_data(DataConfig(**folder), 28, 1, "search").train
    decode_s = time.perf_counter() - began
    out["tree from disk"] = build_data(DataConfig(**folder, cache_mb=0), 28, 1, "search").train
    out["tree from disk, 4 new workers each epoch (before)"] = FreshWorkersEachEpoch(out["tree from disk"])
    per_class = out["tree in memory"].num_images // 10
    out["Fashion-MNIST in memory"] = build_data(DataConfig(train_per_class=per_class, **common), 28, 1,
                                                "search").train
    return out, decode_s


def measure_speed(tree: Path, per_class: int, batch: int, rounds: int, results: list) -> None:
    feeds, decode_s = loaders(tree, batch)
    emit({"tree": per_class, "what": "decode the tree into memory", "seconds": decode_s,
          "images": feeds["tree in memory"].num_images}, results)
    torch.manual_seed(0)
    net = build_child(Arch.parse(ARCH), NetSpec(resolution=28, in_chans=1, num_classes=10, width=0.5))
    net = net.to(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)

    def pipeline(loader, epoch):
        began, images = time.perf_counter(), 0
        for x, _ in loader.batches(epoch):
            images += len(x)
        return images / (time.perf_counter() - began)

    def training(loader, epoch):
        began, images = time.perf_counter(), 0
        for x, y in loader.batches(epoch):
            loss = F.cross_entropy(net(x.contiguous(memory_format=torch.channels_last)), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            images += len(x)
        return images / (time.perf_counter() - began)

    speeds = {(name, kind): [] for name in feeds for kind in ("pipeline", "training")}
    for epoch in range(rounds + 1):  # the first round warms up (and starts the disk loader's workers)
        for name, loader in feeds.items():
            for kind, run in (("pipeline", pipeline), ("training", training)):
                value = run(loader, epoch)
                if epoch:
                    speeds[name, kind].append(value)
    fm = {kind: statistics.median(speeds["Fashion-MNIST in memory", kind]) for kind in ("pipeline", "training")}
    for (name, kind), values in speeds.items():
        median = statistics.median(values)
        emit({"tree": per_class, "what": f"{kind} images/s", "source": name, "images_per_s": median,
              "vs_fashion_mnist": median / fm[kind], "rounds": values, "batch": batch,
              "epoch_images": feeds[name].num_images}, results)


def run_pipeline(tree: Path, per_class: int, work: Path, threads: int, results: list) -> None:
    """The default pipeline in ``work`` (its runs/ folder), one command at a time, each timed."""
    package_root = str(Path(cream.__file__).resolve().parents[1])  # the cream that runs this script, from any cwd
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONPATH": package_root}
    extra = [f"run.threads={threads}"] if threads else []
    steps = [("search", ["search", "--data", str(tree), *extra]),
             ("retrain", ["retrain", "--data", str(tree), *extra]),
             ("test", ["test", "--data", str(tree), *extra])]
    total = 0.0
    for name, argv in steps:
        began = time.perf_counter()
        with open(work / f"{tree.name}-{name}.out", "w") as out:
            code = subprocess.call([sys.executable, "-m", "cream.cli", *argv], cwd=work, env=env, stdout=out,
                                   stderr=subprocess.STDOUT)
        seconds = time.perf_counter() - began
        total += seconds
        emit({"tree": per_class, "what": f"cream {name} --data", "seconds": seconds, "exit": code}, results)
        if code:
            return
    search = json.loads((work / "runs/search" / tree.name / "result.json").read_text())
    retrain = json.loads((work / "runs/retrain" / tree.name / "result.json").read_text())
    test = json.loads((work / "runs/retrain" / tree.name / "test.json").read_text())
    emit({"tree": per_class, "what": "pipeline", "test_top1": test["top1"], "test_images": test["data"]["images"],
          "minutes": total / 60, "arch": search["arch"], "search_val_top1": search["val_top1"],
          "search_health": search["health"], "retrain_best_val_top1": retrain["best_top1"],
          "retrain_epochs": retrain["config"]["retrain"]["epochs"],
          "retrain_health": retrain.get("health"), "batch": retrain["config"]["data"]["batch_size"]}, results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-class", type=int, nargs="+", default=[100, 500])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/runs/imagefolder"))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch", type=int, default=64, help="batch of the speed comparison")
    parser.add_argument("--rounds", type=int, default=3, help="timed epochs per loader in the speed comparison")
    parser.add_argument("--skip", choices=["speed", "pipeline"], nargs="*", default=[])
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    results: list = []
    emit({"what": "machine", "cpu_count": os.cpu_count(), "threads": torch.get_num_threads(),
          "torch": torch.__version__, "load_avg": os.getloadavg()}, results)
    for per_class in args.per_class:
        tree = write_tree(args.out / f"fmnist-{per_class}", per_class)
        if "speed" not in args.skip:
            measure_speed(tree, per_class, args.batch, args.rounds, results)
        if "pipeline" not in args.skip:
            run_pipeline(tree.resolve(), per_class, args.out, args.threads, results)
        (args.out / "imagefolder.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()

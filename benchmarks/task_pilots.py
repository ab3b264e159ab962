"""Pilots for issue 23: on which Fashion-MNIST-derived task do this space's paths differ?

Trains one stand-alone child net of the space (``build_child``) on one candidate task and prints its test top-1:
SGD Nesterov 0.9, one-cycle lr (peak ``--lr``, 10% rising), batch 128, label smoothing 0.1, weight decay 5e-5,
one thread. Training batches are drawn afresh from the training images at every step (with replacement); the
test set is a fixed draw from the test images (seed 1234), so no test image is ever trained on.

Tasks (all at 28 px unless said):
  plain       Fashion-MNIST as it is (10 classes)
  overlay     two items drawn together, the second at half brightness (pixelwise max); the label is the
              ordered pair, 10 x class of the bright item + class of the dim one (100 classes)
  instances   1,000 training images as 1,000 classes; every view is the prototype shifted up to 3 px,
              its contrast scaled by 0.7-1.3 and Gaussian noise (sd 0.15) added. Train and test share the
              prototypes (a memorising task: planted, not natural)
  leftof      a 64 px canvas with two items shrunk to 20 px, side by side without overlap at random heights;
              the label is the class of the left one (only a receptive field spanning both can tell which)
  brighter_left  a canvas (--res px) with two items shrunk to 8 px, one bright, one at 0.4 brightness, at random
              heights, apart by at least 3/8 of the canvas; the label: is the bright one on the left (planted:
              a receptive field spanning both items sees it, and so does one reaching the canvas border)

Usage: python benchmarks/task_pilots.py TASK ARCH [--seed S --steps N --width W --res R --strides 11112]
Nets are channels-last (k7 depthwise convolutions train about 1.8x faster so on this CPU).
Appends its result as one JSON line to --out (default benchmarks/results/task_pilots/results.jsonl).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from cream.data.fashion_mnist import MEAN, STD, load_fashion_mnist
from cream.space.arch import Arch
from cream.space.net import NetSpec, build_child


def plain(images, labels, n, g):
    i = torch.randint(len(images), (n,), generator=g)
    return images[i], labels[i], 10


def overlay(images, labels, n, g):
    i = torch.randint(len(images), (n,), generator=g)
    j = torch.randint(len(images), (n,), generator=g)
    return torch.maximum(images[i], 0.5 * images[j]), 10 * labels[i] + labels[j], 100


def instances(images, labels, n, g, prototypes=None, k=1000):
    i = torch.randint(k, (n,), generator=g)
    x = F.pad(prototypes[i], (3, 3, 3, 3))
    dy = torch.randint(0, 7, (n,), generator=g)
    dx = torch.randint(0, 7, (n,), generator=g)
    x = torch.stack([x[m, :, dy[m]:dy[m] + 28, dx[m]:dx[m] + 28] for m in range(n)])
    x = x * (0.7 + 0.6 * torch.rand(n, 1, 1, 1, generator=g)) + 0.15 * torch.randn(x.shape, generator=g)
    return x.clamp(0, 1), i, k


def two_items(first, second, xa, ya, xb, yb, canvas):
    """A batch of canvases, each with ``first[k]`` at (xa, ya) and ``second[k]`` at (xb, yb) (they never overlap)."""
    item = first.shape[-1]
    x = torch.zeros(len(first), 1, canvas, canvas)
    for k in range(len(first)):
        x[k, :, ya[k]:ya[k] + item, xa[k]:xa[k] + item] = first[k]
        x[k, :, yb[k]:yb[k] + item, xb[k]:xb[k] + item] = second[k]
    return x


def leftof(small, labels, n, g, canvas=64):
    """``small``: the images already shrunk to the item size."""
    item = small.shape[-1]
    i = torch.randint(len(small), (n,), generator=g)
    j = torch.randint(len(small), (n,), generator=g)
    xa = torch.randint(0, canvas - 2 * item + 1, (n,), generator=g)
    xb = xa + item + (torch.rand(n, generator=g) * (canvas - item - xa - item + 1)).long()
    ya = torch.randint(0, canvas - item + 1, (n,), generator=g)
    yb = torch.randint(0, canvas - item + 1, (n,), generator=g)
    return two_items(small[i], small[j], xa, ya, xb, yb, canvas), labels[i], 10


def brighter_left(small, labels, n, g, canvas=32):
    """``small``: the images already shrunk to the item size. Label 1: the bright item is the left one."""
    item, gap = small.shape[-1], canvas * 3 // 8
    i = torch.randint(len(small), (n,), generator=g)
    j = torch.randint(len(small), (n,), generator=g)
    left = torch.randint(0, canvas - item - gap + 1, (n,), generator=g)
    right = left + gap + (torch.rand(n, generator=g) * (canvas - item - gap - left + 1)).long()
    ya = torch.randint(0, canvas - item + 1, (n,), generator=g)
    yb = torch.randint(0, canvas - item + 1, (n,), generator=g)
    bright_left = torch.randint(0, 2, (n,), generator=g)
    xa = torch.where(bright_left == 1, left, right)  # the bright item
    xb = torch.where(bright_left == 1, right, left)  # the dim one
    return two_items(small[i], 0.4 * small[j], xa, ya, xb, yb, canvas), bright_left, 2


TASKS = {"plain": plain, "overlay": overlay, "instances": instances, "leftof": leftof,
         "brighter_left": brighter_left}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("task", choices=TASKS)
    p.add_argument("arch")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--lr", type=float, default=0.2)
    p.add_argument("--width", type=float, default=0.5)
    p.add_argument("--test", type=int, default=10000, help="test items drawn")
    p.add_argument("--res", type=int, default=28)
    p.add_argument("--strides", default="", help="stage strides as digits, e.g. 21111 (default: the space's)")
    p.add_argument("--device", default="cpu", help="cpu (one thread) or cuda")
    p.add_argument("--out", default="benchmarks/results/task_pilots/results.jsonl")
    a = p.parse_args()
    torch.set_num_threads(1 if a.device == "cpu" else 2)  # on a GPU, several runs share the host's cores
    data = load_fashion_mnist()
    train, train_labels = data["train_images"].float() / 255, data["train_labels"]
    test, test_labels = data["test_images"].float() / 255, data["test_labels"]
    task = TASKS[a.task]
    if a.task == "instances":  # every 60th training image is a class, for training and test alike
        prototypes = train[torch.arange(1000) * (len(train) // 1000)]
        task = lambda images, labels, n, g: instances(images, labels, n, g, prototypes)  # noqa: E731
    elif a.task == "leftof":  # items shrunk to 20 px, once per image set
        shrunk = {id(s): F.interpolate(s, size=20, mode="bilinear", antialias=True) for s in (train, test)}
        task = lambda images, labels, n, g: leftof(shrunk[id(images)], labels, n, g)  # noqa: E731
    elif a.task == "brighter_left":  # items shrunk to 8 px, once per image set
        shrunk = {id(s): F.interpolate(s, size=8, mode="bilinear", antialias=True) for s in (train, test)}
        task = lambda images, labels, n, g: brighter_left(shrunk[id(images)], labels, n, g, a.res)  # noqa: E731
    x_test, y_test, classes = task(test, test_labels, a.test, torch.Generator().manual_seed(1234))
    strides = tuple(int(c) for c in a.strides) if a.strides else None
    spec = NetSpec(resolution=a.res, in_chans=1, num_classes=classes, width=a.width, stage_strides=strides)
    torch.manual_seed(a.seed)
    net = build_child(Arch.parse(a.arch), spec).to(a.device, memory_format=torch.channels_last)  # 2x faster k7 on CPU
    x_test, y_test = x_test.to(a.device), y_test.to(a.device)
    opt = torch.optim.SGD(net.parameters(), lr=a.lr, momentum=0.9, nesterov=True, weight_decay=5e-5)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=a.lr, total_steps=a.steps, pct_start=0.1)
    g = torch.Generator().manual_seed(a.seed + 1)
    start = time.time()

    def top1() -> float:
        net.eval()
        with torch.no_grad():
            right = sum(int((net((x_test[k:k + 1000] - MEAN[0]) / STD[0]).argmax(1) == y_test[k:k + 1000]).sum())
                        for k in range(0, len(x_test), 1000))
        net.train()
        return 100 * right / len(x_test)

    for step in range(a.steps):
        x, y, _ = task(train, train_labels, a.batch, g)
        x, y = x.to(a.device, non_blocking=True), y.to(a.device, non_blocking=True)
        loss = F.cross_entropy(net((x - MEAN[0]) / STD[0]), y, label_smoothing=0.1)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if (step + 1) % (a.steps // 4) == 0:
            print(f"{a.task} {a.arch} seed {a.seed} step {step + 1} loss {loss.item():.3f} top-1 {top1():.2f} "
                  f"{time.time() - start:.0f} s", flush=True)
    result = {"task": a.task, "arch": a.arch, "seed": a.seed, "steps": a.steps, "width": a.width, "res": a.res,
              "strides": a.strides or None, "test_items": a.test, "device": a.device, "top1": top1(),
              "seconds": round(time.time() - start)}
    print(json.dumps(result))
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    with open(a.out, "a") as f:
        f.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()

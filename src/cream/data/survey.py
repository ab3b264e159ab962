"""What a dataset holds, for the settings taken from the data: classes, channels, image size, training labels."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from cream.config import AUTO_INSPECT
from cream.data import fashion_mnist, imagefolder, in_memory


@dataclass
class Survey:
    name: str                   # names the run folders: runs/<command>/<name>
    classes: list[str]          # every class of the training set, in label order
    train_labels: torch.Tensor  # the label of every training image
    channels: int               # 1 when every image inspected is grayscale, else 3
    side: int | None            # median short side of the images inspected, in pixels (data from Python: their
    #                             one short side, None when they differ)
    splits: tuple[str, ...]     # the folders (or splits from Python) present: train, val, test
    found: str                  # how channels and side were found, for the log


def data_name(dataset: str, root: str) -> str:
    """The name of a dataset in run folders: ``fashion_mnist``, an image folder's own name, or the name given to
    data from Python."""
    if dataset == "memory":
        return root
    return "fashion_mnist" if dataset == "fashion_mnist" else Path(root).resolve().name or "data"


def survey(cfg) -> Survey:
    """Survey the dataset of a data config (reads Fashion-MNIST's labels, or image folder headers)."""
    if cfg.dataset == "memory":
        source = in_memory.served(cfg.root)
        shapes = source.shapes["train"]
        return Survey(source.name, source.classes, source.labels["train"], 1 if all(c == 1 for c, _, _ in shapes)
                      else 3, in_memory.side_of(shapes), tuple(source.splits),
                      in_memory.describe(shapes, len(source.labels["train"])))
    if cfg.dataset == "fashion_mnist":
        labels = fashion_mnist.load_fashion_mnist(cfg.root)["train_labels"]
        return Survey(data_name(cfg.dataset, cfg.root), list(fashion_mnist.CLASSES), labels, 1, 28, ("train", "test"),
                      "Fashion-MNIST: 28x28 grayscale")
    classes, samples = imagefolder.scan_split(cfg.root, "train")
    labels = torch.tensor([t for _, t in samples])
    draw = np.random.default_rng(cfg.split_seed).permutation(len(samples))[:AUTO_INSPECT]
    headers = [imagefolder.read_header(samples[i][0]) for i in sorted(draw.tolist())]
    gray = sum(mode in imagefolder.GRAY_MODES for mode, _, _ in headers)
    side = int(statistics.median(min(w, h) for _, w, h in headers))
    mixed = f", {gray} grayscale among them (read as colour)" if 0 < gray < len(headers) else ""
    kind = "grayscale" if gray == len(headers) else "colour"
    found = (f"{len(headers)} of {len(samples)} train/ images inspected: {kind}{mixed}, median short side "
             f"{side} px")
    return Survey(data_name(cfg.dataset, cfg.root), classes, labels, 1 if gray == len(headers) else 3, side,
                  imagefolder.splits_present(cfg.root), found)

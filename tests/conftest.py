"""Shared fixtures: small specs, tiny datasets written by the tests themselves."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

torch.set_num_threads(1)  # tiny test workloads: one thread is as fast, and robust on a busy machine

FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")


def write_idx(path: Path, array: np.ndarray, magic: int, compress: bool = True) -> None:
    header = magic.to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    raw = header + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(raw) if compress else raw)


@pytest.fixture
def tiny_fashion_mnist(tmp_path) -> Path:
    """A Fashion-MNIST-shaped IDX set: 10 classes, 30 train and 10 test images per class."""
    rng = np.random.default_rng(0)
    for split, per_class in (("train", 30), ("t10k", 10)):
        labels = np.repeat(np.arange(10), per_class)
        images = rng.integers(0, 255, (len(labels), 28, 28))
        images[:, :, :3] = labels[:, None, None] * 25  # a class-dependent stripe, so nets can learn it
        write_idx(tmp_path / f"{split}-images-idx3-ubyte.gz", images, 2051)
        write_idx(tmp_path / f"{split}-labels-idx1-ubyte.gz", labels, 2049)
    return tmp_path


def make_image_tree(root: Path, classes=("cat", "dog", "owl"), per_class=6, splits=("train", "val"), size=40):
    """An ImageFolder tree of small coloured JPEGs (colour depends on class)."""
    rng = np.random.default_rng(0)
    for split in splits:
        for c, name in enumerate(classes):
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                pixels = rng.integers(0, 60, (size, size, 3)).astype(np.uint8)
                pixels[..., c % 3] += 150
                Image.fromarray(pixels).save(folder / f"{name}_{i}.JPEG")
    return root


@pytest.fixture
def image_tree(tmp_path) -> Path:
    return make_image_tree(tmp_path / "tree")

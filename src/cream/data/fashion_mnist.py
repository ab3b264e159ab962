"""Fashion-MNIST from its four IDX files, held in memory as uint8 tensors."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import torch

from cream.errors import CreamError

DEFAULT_ROOT = "/usr/share/datasets/fashion-mnist"
INSTALL_HINT = "install it with `apt-get install -y dataset-fashion-mnist` or set data.root"
FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
IMAGE_MAGIC, LABEL_MAGIC = 2051, 2049
MEAN, STD = (0.2860,), (0.3530,)
CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")


def find_file(root: Path, stem: str) -> Path:
    """``stem`` or ``stem.gz`` in root, or in torchvision's ``raw/`` or ``FashionMNIST/raw/`` layout."""
    for folder in (root, root / "raw", root / "FashionMNIST" / "raw"):
        for name in (f"{stem}.gz", stem):
            if (folder / name).is_file():
                return folder / name
    raise CreamError(f"Fashion-MNIST file {stem}[.gz] is missing in {root}; {INSTALL_HINT}")


def read_idx(path: Path, magic: int) -> torch.Tensor:
    """Read one IDX file (gzip or plain) as a uint8 tensor, checking its magic number and size."""
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise CreamError(f"cannot read {path} ({e}); replace the file, e.g. {INSTALL_HINT}") from None
    if len(raw) < 8:
        raise CreamError(f"{path} is truncated ({len(raw)} bytes); replace the file, e.g. {INSTALL_HINT}")
    found = int.from_bytes(raw[:4], "big")
    if found != magic:
        raise CreamError(f"{path} has IDX magic {found}, expected {magic}: it is not the right IDX file")
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise CreamError(f"{path} is truncated inside its header; replace the file")
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    expected = header + int(np.prod(shape))
    if len(raw) != expected:
        raise CreamError(f"{path} holds {len(raw)} bytes but its header says {expected}: the file is "
                         "truncated or corrupt; replace it")
    return torch.from_numpy(np.frombuffer(raw, dtype=np.uint8, offset=header).copy()).reshape(shape)


def load_fashion_mnist(root: str | Path = DEFAULT_ROOT) -> dict[str, torch.Tensor]:
    """``train_images`` (N,1,28,28) uint8, ``train_labels`` (N,) int64, and the same for ``test``."""
    root = Path(root)
    if not root.is_dir():
        raise CreamError(f"Fashion-MNIST dir {root} does not exist; {INSTALL_HINT}")
    out = {}
    for split in ("train", "test"):
        images = read_idx(find_file(root, FILES[f"{split}_images"]), IMAGE_MAGIC)
        labels = read_idx(find_file(root, FILES[f"{split}_labels"]), LABEL_MAGIC)
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise CreamError(f"Fashion-MNIST {split} images {tuple(images.shape)} and labels "
                             f"{tuple(labels.shape)} do not match; replace the files")
        if len(labels) and int(labels.max()) >= len(CLASSES):
            raise CreamError(f"Fashion-MNIST {split} labels go up to {int(labels.max())}; expected 0..9")
        out[f"{split}_images"] = images.unsqueeze(1)
        out[f"{split}_labels"] = labels.long()
    return out

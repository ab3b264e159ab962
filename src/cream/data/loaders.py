"""Batch loaders with deterministic, resumable epoch order, and ``build_data`` for search/retrain/test."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F

from cream.data import fashion_mnist, imagefolder
from cream.data.splits import derive_seed, epoch_order, select_per_class, split_train_val
from cream.errors import CreamError


class TensorLoader:
    """Batches of in-memory uint8 images; random crop with padding and flip run on whole batches."""

    def __init__(self, images, labels, batch_size, *, train, seed=0, crop_padding=0, hflip=False,
                 mean=(0.5,), std=(0.5,), resolution=None, channels=None, rank=0, world=1):
        self.images, self.labels = images, labels
        self.batch_size, self.train, self.seed = batch_size, train, seed
        self.crop_padding, self.hflip = crop_padding if train else 0, hflip and train
        self.mean = torch.tensor(mean).view(1, -1, 1, 1)
        self.std = torch.tensor(std).view(1, -1, 1, 1)
        self.resolution, self.channels = resolution, channels
        self.rank, self.world = rank, world

    def __len__(self) -> int:
        n = len(epoch_order(len(self.labels), self.seed, 0, self.train, self.rank, self.world))
        return n // self.batch_size if self.train else -(-n // self.batch_size)

    @property
    def num_images(self) -> int:
        return len(self.labels)

    def batches(self, epoch: int = 0, start: int = 0):
        """Yield (images float, labels) for ``epoch``, beginning at batch ``start`` (for resuming)."""
        order = epoch_order(len(self.labels), self.seed, epoch, self.train, self.rank, self.world)
        for b in range(start, len(self)):
            idx = order[b * self.batch_size: (b + 1) * self.batch_size]
            gen = torch.Generator().manual_seed(derive_seed(self.seed, epoch, b, self.rank, 7))
            yield self.prepare(self.images[idx], gen), self.labels[idx]

    def __iter__(self):
        return self.batches(0)

    def sample(self, n: int, gen: torch.Generator):
        """``n`` random images with labels (no augmentation) drawn with ``gen``."""
        idx = torch.randint(len(self.labels), (n,), generator=gen)
        return self.prepare(self.images[idx], None, augment=False), self.labels[idx]

    def prepare(self, x: torch.Tensor, gen: torch.Generator | None, augment: bool = True) -> torch.Tensor:
        if augment and self.crop_padding:
            x = random_crop(x, self.crop_padding, gen)
        if augment and self.hflip:
            flip = torch.rand(len(x), generator=gen) < 0.5
            x = torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x)
        x = (x.float() / 255 - self.mean) / self.std
        if self.resolution and self.resolution != x.shape[-1]:
            x = F.interpolate(x, size=(self.resolution, self.resolution), mode="bilinear", align_corners=False)
        if self.channels and self.channels != x.shape[1]:
            x = x.expand(-1, self.channels, -1, -1).contiguous()
        return x


def random_crop(x: torch.Tensor, padding: int, gen: torch.Generator | None) -> torch.Tensor:
    """Per-image random crop of a zero-padded batch back to its size, with one gather."""
    n, c, h, w = x.shape
    padded = F.pad(x, (padding,) * 4)
    dy = torch.randint(0, 2 * padding + 1, (n, 1), generator=gen)
    dx = torch.randint(0, 2 * padding + 1, (n, 1), generator=gen)
    rows = (dy + torch.arange(h)).view(n, 1, h, 1).expand(n, c, h, w)
    cols = (dx + torch.arange(w)).view(n, 1, 1, w).expand(n, c, h, w)
    flat = padded.flatten(2)
    return flat.gather(2, (rows * (w + 2 * padding) + cols).flatten(2)).view(n, c, h, w)


class FolderLoader:
    """Batches of an image folder through a torch DataLoader, with the same epoch order as TensorLoader."""

    def __init__(self, dataset, batch_size, *, train, seed=0, workers=4, rank=0, world=1):
        self.dataset, self.batch_size, self.train, self.seed = dataset, batch_size, train, seed
        self.workers, self.rank, self.world = workers, rank, world

    def __len__(self) -> int:
        n = len(epoch_order(len(self.dataset), self.seed, 0, self.train, self.rank, self.world))
        return n // self.batch_size if self.train else -(-n // self.batch_size)

    @property
    def num_images(self) -> int:
        return len(self.dataset)

    def batches(self, epoch: int = 0, start: int = 0):
        order = epoch_order(len(self.dataset), self.seed, epoch, self.train, self.rank, self.world).tolist()
        chunks = [order[b * self.batch_size: (b + 1) * self.batch_size] for b in range(start, len(self))]
        if not chunks:
            return
        loader = torch.utils.data.DataLoader(self.dataset, batch_sampler=chunks, num_workers=self.workers,
                                             pin_memory=torch.cuda.is_available())
        yield from loader

    def __iter__(self):
        return self.batches(0)

    def sample(self, n: int, gen: torch.Generator):
        idx = torch.randint(len(self.dataset), (n,), generator=gen).tolist()
        items = [self.dataset[i] for i in idx]
        return torch.stack([x for x, _ in items]), torch.tensor([y for _, y in items])


@dataclass
class DataBundle:
    """Loaders for one purpose: ``train`` (None for test) and ``val`` (search-val, val or test)."""

    train: TensorLoader | FolderLoader | None
    val: TensorLoader | FolderLoader
    classes: list[str]

    @property
    def num_classes(self) -> int:
        return len(self.classes)


Purpose = Literal["search", "retrain", "test"]


def build_data(cfg, resolution: int, in_chans: int, purpose: Purpose, *, seed: int = 0, rank: int = 0,
               world: int = 1, augment: bool = True) -> DataBundle:
    """Loaders for ``purpose``.

    search: search-train and search-val, both carved from the training set.
    retrain: Fashion-MNIST: the same split (the test set stays unseen); ImageFolder: train/ and val/.
    test: the Fashion-MNIST test set, or ImageFolder val/.
    """
    if cfg.dataset == "fashion_mnist":
        return _fashion_mnist(cfg, resolution, in_chans, purpose, seed, rank, world, augment)
    return _image_folder(cfg, resolution, in_chans, purpose, seed, rank, world, augment)


def _fashion_mnist(cfg, resolution, in_chans, purpose, seed, rank, world, augment) -> DataBundle:
    data = fashion_mnist.load_fashion_mnist(cfg.root)
    common = dict(mean=fashion_mnist.MEAN, std=fashion_mnist.STD, resolution=resolution, channels=in_chans,
                  rank=rank, world=world)
    classes = cfg.classes if cfg.classes is not None else list(range(len(fashion_mnist.CLASSES)))
    names = [fashion_mnist.CLASSES[c] for c in classes if 0 <= c < len(fashion_mnist.CLASSES)]
    if len(names) != len(classes):
        raise CreamError(f"data.classes {classes} must be Fashion-MNIST class indices 0..9")
    remap = _label_map(classes, len(fashion_mnist.CLASSES))
    if purpose == "test":
        labels = data["test_labels"]
        idx = select_per_class(labels, torch.arange(len(labels)), cfg.classes, cfg.val_per_class, cfg.split_seed)
        val = TensorLoader(data["test_images"][idx], remap[labels[idx]], cfg.eval_batch_size, train=False, **common)
        return DataBundle(None, val, names)
    labels = data["train_labels"]
    train_idx, val_idx = split_train_val(labels, cfg.val_fraction, cfg.split_seed)
    train_idx = select_per_class(labels, train_idx, cfg.classes, cfg.train_per_class, cfg.split_seed)
    val_idx = select_per_class(labels, val_idx, cfg.classes, cfg.val_per_class, cfg.split_seed)
    _check_nonempty(train_idx, val_idx, cfg)
    images = data["train_images"]
    train = TensorLoader(images[train_idx], remap[labels[train_idx]], cfg.batch_size, train=True, seed=seed,
                         crop_padding=cfg.crop_padding if augment else 0, hflip=cfg.hflip and augment, **common)
    val = TensorLoader(images[val_idx], remap[labels[val_idx]], cfg.eval_batch_size, train=False, **common)
    return DataBundle(train, val, names)


def _image_folder(cfg, resolution, in_chans, purpose, seed, rank, world, augment) -> DataBundle:
    if in_chans != 3:
        raise CreamError(f"image folders are read as RGB; set space.in_chans=3 (got {in_chans})")
    train_tf = imagefolder.folder_transform(resolution, augment, cfg)
    eval_tf = imagefolder.folder_transform(resolution, False, cfg)
    common = dict(seed=seed, workers=cfg.workers, rank=rank, world=world)
    if purpose in ("retrain", "test"):
        classes, val_samples = imagefolder.scan_split(cfg.root, "val")
        val_idx = _indices(val_samples, cfg.classes, cfg.val_per_class, cfg.split_seed)
        remap = _label_map(cfg.classes, len(classes))
        val_set = imagefolder.FolderImages([val_samples[i] for i in val_idx], eval_tf, _as_dict(remap))
        val = FolderLoader(val_set, cfg.eval_batch_size, train=False, **common)
        names = _names(classes, cfg.classes)
        if purpose == "test":
            return DataBundle(None, val, names)
        train_classes, samples = imagefolder.scan_split(cfg.root, "train")
        if train_classes != classes:
            raise CreamError(f"{cfg.root}/train and {cfg.root}/val hold different class folders; make them match")
        train_idx = _indices(samples, cfg.classes, cfg.train_per_class, cfg.split_seed)
    else:
        classes, samples = imagefolder.scan_split(cfg.root, "train")
        remap = _label_map(cfg.classes, len(classes))
        names = _names(classes, cfg.classes)
        labels = torch.tensor([t for _, t in samples])
        train_idx, val_idx = split_train_val(labels, cfg.val_fraction, cfg.split_seed)
        train_idx = select_per_class(labels, train_idx, cfg.classes, cfg.train_per_class, cfg.split_seed).tolist()
        val_idx = select_per_class(labels, val_idx, cfg.classes, cfg.val_per_class, cfg.split_seed).tolist()
        _check_nonempty(train_idx, val_idx, cfg)
        val_set = imagefolder.FolderImages([samples[i] for i in val_idx], eval_tf, _as_dict(remap))
        val = FolderLoader(val_set, cfg.eval_batch_size, train=False, **common)
    train_set = imagefolder.FolderImages([samples[i] for i in train_idx], train_tf, _as_dict(remap))
    return DataBundle(FolderLoader(train_set, cfg.batch_size, train=True, **common), val, names)


def _label_map(classes: list[int] | None, total: int) -> torch.Tensor:
    """Old label -> new label (subset classes become 0..K-1, in the given order)."""
    if classes is None:
        return torch.arange(total)
    if len(set(classes)) != len(classes) or not all(0 <= c < total for c in classes):
        raise CreamError(f"data.classes {classes} must be distinct class indices in 0..{total - 1}")
    remap = torch.full((total,), -1, dtype=torch.long)
    remap[torch.tensor(classes)] = torch.arange(len(classes))
    return remap


def _as_dict(remap: torch.Tensor) -> dict[int, int]:
    return {old: int(new) for old, new in enumerate(remap.tolist()) if new >= 0}


def _names(classes: list[str], subset: list[int] | None) -> list[str]:
    return list(classes) if subset is None else [classes[c] for c in subset]


def _indices(samples, classes, per_class, seed) -> list[int]:
    labels = torch.tensor([t for _, t in samples])
    return select_per_class(labels, torch.arange(len(labels)), classes, per_class, seed).tolist()


def _check_nonempty(train_idx, val_idx, cfg) -> None:
    if len(train_idx) == 0 or len(val_idx) == 0:
        raise CreamError(f"the train/val split is empty (train {len(train_idx)}, val {len(val_idx)} images); "
                         f"raise data.val_fraction (now {cfg.val_fraction}) or use more images")

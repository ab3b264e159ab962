"""Batch loaders with deterministic, resumable epoch order, and ``build_data`` for search/retrain/test."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F

from cream.data import fashion_mnist, imagefolder, in_memory
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


class EpochBatches:
    """Batch sampler: the batches of one epoch in ``epoch_order``, from batch ``start``.

    A DataLoader with persistent workers asks its batch sampler anew at each pass, so ``set`` before
    iterating chooses the epoch.
    """

    def __init__(self, n, batch_size, train, seed, rank, world):
        self.n, self.batch_size, self.train, self.seed, self.rank, self.world = n, batch_size, train, seed, rank, world
        self.epoch, self.start = 0, 0

    def set(self, epoch: int, start: int) -> None:
        self.epoch, self.start = epoch, start

    def total(self) -> int:
        n = len(epoch_order(self.n, self.seed, 0, self.train, self.rank, self.world))
        return n // self.batch_size if self.train else -(-n // self.batch_size)

    def __len__(self) -> int:
        return max(self.total() - self.start, 0)

    def __iter__(self):
        order = epoch_order(self.n, self.seed, self.epoch, self.train, self.rank, self.world).tolist()
        for b in range(self.start, self.total()):
            yield order[b * self.batch_size: (b + 1) * self.batch_size]


class FolderLoader:
    """Batches of an image folder read from disk, with the same epoch order as TensorLoader.

    One DataLoader serves every epoch and evaluation, so its worker processes start once.
    """

    def __init__(self, dataset, batch_size, *, train, seed=0, workers=None, rank=0, world=1):
        self.dataset, self.batch_size, self.train, self.seed = dataset, batch_size, train, seed
        self.sampler = EpochBatches(len(dataset), batch_size, train, seed, rank, world)
        workers = imagefolder.default_workers() if workers is None else workers
        self.loader = torch.utils.data.DataLoader(dataset, batch_sampler=self.sampler, num_workers=workers,
                                                  persistent_workers=workers > 0,
                                                  pin_memory=torch.cuda.is_available())

    def __len__(self) -> int:
        return self.sampler.total()

    @property
    def num_images(self) -> int:
        return len(self.dataset)

    def batches(self, epoch: int = 0, start: int = 0):
        self.sampler.set(epoch, start)
        if len(self.sampler):
            yield from self.loader

    def __iter__(self):
        return self.batches(0)

    def sample(self, n: int, gen: torch.Generator):
        idx = torch.randint(len(self.dataset), (n,), generator=gen).tolist()
        items = [self.dataset[i] for i in idx]
        return torch.stack([x for x, _ in items]), torch.tensor([y for _, y in items])


@dataclass
class DataBundle:
    """Loaders for one purpose: ``train`` (None for test) and ``val`` (search-val, val or test: ``split``)."""

    train: TensorLoader | FolderLoader | None
    val: TensorLoader | FolderLoader
    classes: list[str]
    split: str = "val"

    @property
    def num_classes(self) -> int:
        return len(self.classes)


Purpose = Literal["search", "retrain", "test"]


def build_data(cfg, resolution: int, in_chans: int, purpose: Purpose, *, seed: int = 0, rank: int = 0,
               world: int = 1, augment: bool = True) -> DataBundle:
    """Loaders for ``purpose``.

    search: search-train and search-val, both carved from the training set.
    retrain: Fashion-MNIST: the same split (the test set stays unseen); image folders: train/ and val/ (without
    val/, the search's split of train/).
    test: the Fashion-MNIST test set, or an image folder's test/ (val/ when there is no test/).
    Data from Python (``data.dataset: memory``) is split as an image folder, its train, val and test as the folders.
    """
    if cfg.dataset == "fashion_mnist":
        return _fashion_mnist(cfg, resolution, in_chans, purpose, seed, rank, world, augment)
    if cfg.dataset == "memory":
        return _in_memory(cfg, resolution, in_chans, purpose, seed, rank, world, augment)
    return _image_folder(cfg, resolution, in_chans, purpose, seed, rank, world, augment)


def _fashion_mnist(cfg, resolution, in_chans, purpose, seed, rank, world, augment) -> DataBundle:
    data = fashion_mnist.load_fashion_mnist(cfg.root)
    common = dict(mean=fashion_mnist.MEAN, std=fashion_mnist.STD, resolution=resolution, channels=in_chans,
                  rank=rank, world=world)
    classes = cfg.classes if cfg.classes is not None else list(range(len(fashion_mnist.CLASSES)))
    names = [fashion_mnist.CLASSES[c] for c in classes if 0 <= c < len(fashion_mnist.CLASSES)]
    if len(names) != len(classes):
        raise CreamError(f"data.classes {classes} must be Fashion-MNIST class indices 0..9")
    check_classes(names, "data.classes")
    remap = _label_map(classes, len(fashion_mnist.CLASSES))
    if purpose == "test":
        labels = data["test_labels"]
        idx = select_per_class(labels, torch.arange(len(labels)), cfg.classes, cfg.val_per_class, cfg.split_seed)
        val = TensorLoader(data["test_images"][idx], remap[labels[idx]], cfg.eval_batch_size, train=False, **common)
        return DataBundle(None, val, names, "test")
    labels = data["train_labels"]
    train_idx, val_idx = training_split(labels, cfg)
    images = data["train_images"]
    padding = crop_padding(cfg, images.shape[-1]) if augment else 0
    train = TensorLoader(images[train_idx], remap[labels[train_idx]], cfg.batch_size, train=True, seed=seed,
                         crop_padding=padding, hflip=cfg.hflip and augment, **common)
    val = TensorLoader(images[val_idx], remap[labels[val_idx]], cfg.eval_batch_size, train=False, **common)
    return DataBundle(train, val, names)


def _image_folder(cfg, resolution, in_chans, purpose, seed, rank, world, augment) -> DataBundle:
    """The images of ``_folder_pairs`` (read from their files), through ``_image_loaders``."""
    mode = imagefolder.mode_for(in_chans)
    classes, train_pairs, val_pairs, split = _folder_pairs(cfg, purpose)
    names = _names(classes, cfg.classes)
    check_classes(names, f"{cfg.root}")
    label_map = _as_dict(_label_map(cfg.classes, len(classes)))

    def images(pairs, transform):
        return imagefolder.FolderImages(pairs, transform, label_map, mode)

    return _image_loaders(cfg, images, train_pairs, val_pairs, names, split, resolution, in_chans, augment,
                          dict(seed=seed, rank=rank, world=world))


def _in_memory(cfg, resolution, in_chans, purpose, seed, rank, world, augment) -> DataBundle:
    """Data from Python (``in_memory.served``) split as an image folder is, through ``_image_loaders``: its items
    are resized, cropped, augmented and normalised as a folder's images once read."""
    source = in_memory.served(cfg.root)
    mode = imagefolder.mode_for(in_chans)
    classes = cfg.class_names if cfg.class_names is not None else source.classes  # a checkpoint's, when testing
    train_pairs, val_pairs, split = _memory_pairs(source, cfg, purpose)
    high = max(label for _, label in train_pairs + val_pairs)
    if high >= len(classes):
        raise CreamError(f"{source} has label {high}, outside 0..{len(classes) - 1} for the {len(classes)} classes "
                         f"it is {'tested' if purpose == 'test' else 'trained'} on; labels are class indices 0..C-1")
    names = _names(classes, cfg.classes)
    check_classes(names, str(source))
    label_map = _as_dict(_label_map(cfg.classes, len(classes)))

    def images(pairs, transform):
        return in_memory.PythonImages(source, pairs, transform, label_map, mode)

    return _image_loaders(cfg, images, train_pairs, val_pairs, names, split, resolution, in_chans, augment,
                          dict(seed=seed, rank=rank, world=world))


def _image_loaders(cfg, images, train_pairs, val_pairs, names, split, resolution, in_chans, augment,
                   common) -> DataBundle:
    """Loaders of images (``images(pairs, transform)``: a dataset of transformed images and labels), decoded once
    into memory when they fit in data.cache_mb, else read and transformed by timm at every epoch."""
    if fits_in_memory(len(train_pairs) + len(val_pairs), in_chans, resolution, cfg.cache_mb):
        mean, std = normalisation(cfg.dataset, in_chans)
        resize = imagefolder.eval_resize(resolution, cfg.crop_pct, cfg.interpolation)

        def kept_in_memory(pairs, batch_size, train):
            decoded, labels = imagefolder.decode_all(images(pairs, resize), resolution, in_chans, cfg.workers)
            padding = crop_padding(cfg, resolution) if train and augment else 0
            return TensorLoader(decoded, labels, batch_size, train=train, crop_padding=padding,
                                hflip=cfg.hflip and augment and train, mean=mean, std=std, **common)

        val = kept_in_memory(val_pairs, cfg.eval_batch_size, False)  # first: a bad val image is named in seconds
        train = kept_in_memory(train_pairs, cfg.batch_size, True) if train_pairs else None
        return DataBundle(train, val, names, split)

    def read_each_epoch(pairs, batch_size, train):
        transform = imagefolder.folder_transform(resolution, train and augment, cfg, in_chans)
        return FolderLoader(images(pairs, transform), batch_size, train=train, workers=cfg.workers, **common)

    train = read_each_epoch(train_pairs, cfg.batch_size, True) if train_pairs else None
    return DataBundle(train, read_each_epoch(val_pairs, cfg.eval_batch_size, False), names, split)


def _folder_pairs(cfg, purpose):
    """(class names, train and val (path, label) pairs, what val is) of an image folder for ``purpose``."""
    splits = imagefolder.splits_present(cfg.root)
    if purpose == "test":
        if "test" not in splits and "val" not in splits:
            raise CreamError(f"{cfg.root} has neither test/ nor val/, so there is nothing to test on; put unseen "
                             f"images in {cfg.root}/test/CLASS/")
        split = "test" if "test" in splits else "val"
        classes, samples = imagefolder.scan_split(cfg.root, split)
        labels = torch.tensor([t for _, t in samples])
        idx = select_per_class(labels, torch.arange(len(labels)), cfg.classes, cfg.val_per_class, cfg.split_seed)
        return classes, [], [samples[i] for i in idx.tolist()], split
    classes, samples = imagefolder.scan_split(cfg.root, "train")
    labels = torch.tensor([t for _, t in samples])
    if purpose == "search" or "val" not in splits:  # validate on a held-out part of train/
        train_idx, val_idx = training_split(labels, cfg)
        return (classes, [samples[i] for i in train_idx.tolist()], [samples[i] for i in val_idx.tolist()],
                "held-out part of train")
    val_classes, val_samples = imagefolder.scan_split(cfg.root, "val")
    if val_classes != classes:
        raise CreamError(f"{cfg.root}/train and {cfg.root}/val hold different class folders; make them match")
    val_labels = torch.tensor([t for _, t in val_samples])
    train_idx = select_per_class(labels, torch.arange(len(labels)), cfg.classes, cfg.train_per_class, cfg.split_seed)
    val_idx = select_per_class(val_labels, torch.arange(len(val_labels)), cfg.classes, cfg.val_per_class,
                               cfg.split_seed)
    _check_nonempty(train_idx, val_idx, cfg)
    return classes, [samples[i] for i in train_idx.tolist()], [val_samples[i] for i in val_idx.tolist()], "val"


def _memory_pairs(source, cfg, purpose):
    """Train and val ((split, index), label) pairs of data from Python for ``purpose``, and what val is: as
    ``_folder_pairs`` chooses a folder's."""
    if purpose == "test":
        if "test" not in source.splits and "val" not in source.splits:
            raise CreamError(f"{source} has neither test nor val data, so there is nothing to test on; pass "
                             "data={'test': ...} or the test set alone")
        split = "test" if "test" in source.splits else "val"
        labels = source.labels[split]
        idx = select_per_class(labels, torch.arange(len(labels)), cfg.classes, cfg.val_per_class, cfg.split_seed)
        pairs = source.pairs(split)
        return [], [pairs[i] for i in idx.tolist()], split
    labels, pairs = source.labels["train"], source.pairs("train")
    if purpose == "search" or "val" not in source.splits:  # validate on a held-out part of train
        train_idx, val_idx = training_split(labels, cfg)
        return [pairs[i] for i in train_idx.tolist()], [pairs[i] for i in val_idx.tolist()], "held-out part of train"
    val_labels, val_pairs = source.labels["val"], source.pairs("val")
    train_idx = select_per_class(labels, torch.arange(len(labels)), cfg.classes, cfg.train_per_class, cfg.split_seed)
    val_idx = select_per_class(val_labels, torch.arange(len(val_labels)), cfg.classes, cfg.val_per_class,
                               cfg.split_seed)
    _check_nonempty(train_idx, val_idx, cfg)
    return [pairs[i] for i in train_idx.tolist()], [val_pairs[i] for i in val_idx.tolist()], "val"


def training_split(labels: torch.Tensor, cfg) -> tuple[torch.Tensor, torch.Tensor]:
    """Training and held-out validation indices of a training set (stratified, then capped per class)."""
    train_idx, val_idx = split_train_val(labels, cfg.val_fraction, cfg.split_seed)
    train_idx = select_per_class(labels, train_idx, cfg.classes, cfg.train_per_class, cfg.split_seed)
    val_idx = select_per_class(labels, val_idx, cfg.classes, cfg.val_per_class, cfg.split_seed)
    _check_nonempty(train_idx, val_idx, cfg)
    return train_idx, val_idx


def normalisation(dataset: str, channels: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The mean and std images are normalised with, from what a checkpoint keeps (its config's data.dataset and its
    net's in_chans), so a net is used without its data: Fashion-MNIST's own; ImageNet's for image folders and data
    from Python."""
    if dataset == "fashion_mnist":
        return fashion_mnist.MEAN, fashion_mnist.STD
    return imagefolder.mean_std(channels)


def fits_in_memory(images: int, channels: int, resolution: int, cache_mb: float) -> bool:
    """Whether ``images`` decoded at ``resolution`` px take at most ``cache_mb`` MiB."""
    return images * channels * resolution * resolution <= cache_mb * 2**20


def crop_padding(cfg, resolution: int) -> int:
    return cfg.crop_padding if cfg.crop_padding is not None else resolution // 8


def check_classes(names: list[str], where: str) -> None:
    if len(names) < 2:
        raise CreamError(f"{where} gives {len(names)} class ({', '.join(names)}); a classifier needs at least two: "
                         "add class folders or list more data.classes")


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


def _check_nonempty(train_idx, val_idx, cfg) -> None:
    if len(train_idx) == 0 or len(val_idx) == 0:
        raise CreamError(f"the train/val split is empty (train {len(train_idx)}, val {len(val_idx)} images); "
                         f"raise data.val_fraction (now {cfg.val_fraction}) or use more images")

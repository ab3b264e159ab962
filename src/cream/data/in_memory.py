"""Data passed from Python (``cream.search(data=..., name=...)``): a torch ``Dataset``, a dict of ``train`` /
``val`` / ``test`` datasets, or tensors ``(images, labels)``.

``python_data`` checks what it is given and serves it under its name while the command runs: the config names it
(``data.dataset: memory``, ``data.root: NAME``), so the config stays plain YAML, and ``build_data`` and
``survey`` find the datasets by that name (``served``). Items are images as a folder's are once read: a PIL image,
or a tensor C x H x W (or H x W) of uint8, or of floats in 0..1; the loaders resize and normalise them as they do an
image folder's (``cream.data.imagefolder``).
"""

from __future__ import annotations

import contextlib
import os
import statistics
from dataclasses import dataclass

import numpy as np
import torch
import torchvision.transforms.functional as TF
from PIL import Image

from cream.config import AUTO_INSPECT
from cream.data.imagefolder import GRAY_MODES, check_depth
from cream.errors import CreamError

SPLITS = ("train", "val", "test")
UNNAMED = "python"  # data.root of test data given without name=
ITEM_HINT = ("a dataset yields (image, label): image a PIL image or a tensor C x H x W or H x W (uint8, or float "
             "in 0..1), label an int")


@dataclass
class InMemoryData:
    """Datasets from Python under one name, with every label read and a seeded draw of images inspected."""

    name: str
    splits: dict[str, torch.utils.data.Dataset]  # those given, of train, val, test
    labels: dict[str, torch.Tensor]              # per split, every item's label
    declared: list[str] | None                   # the train set's ``classes`` attribute, when it has one
    shapes: dict[str, list[tuple[int, int, int]]]  # per split, (channels, width, height) of the images inspected

    def __str__(self) -> str:
        return f"{self.name} (in memory)"

    @property
    def classes(self) -> list[str]:
        """Class names in label order: the dataset's own, else "0" .. "C-1" for the training labels (for test data
        alone, its labels; testing takes a checkpoint's own class names before these)."""
        if self.declared is not None:
            return self.declared
        labels = self.labels.get("train", torch.cat(list(self.labels.values())))
        return [str(c) for c in range(int(labels.max()) + 1)]

    def pairs(self, split: str) -> list[tuple[tuple[str, int], int]]:
        """[((split, index), label)] of one split, as an image folder's [(path, label)]."""
        return [((split, i), label) for i, label in enumerate(self.labels[split].tolist())]


_SERVED: dict[str, InMemoryData] = {}


def served(name: str) -> InMemoryData:
    """The data from Python that runs under ``name`` now."""
    if name not in _SERVED:
        raise CreamError(f"data.dataset=memory: the data {name!r} was passed from Python and is not here now; pass "
                         "it again from Python (e.g. cream.test(checkpoint, data=...)) or give files (--data DIR)")
    return _SERVED[name]


@contextlib.contextmanager
def python_data(data, name: str | None, command: str, *, name_required: bool = True):
    """Within the block, ``data`` as ``cream.assemble`` takes it: a path as it is, anything else checked and served
    as ``InMemoryData`` (``name`` then names it, and the run folder). One dataset or ``(images, labels)`` is the
    training set of ``command`` search or retrain and the test set of test."""
    if data is None or isinstance(data, (str, os.PathLike)):
        if name is not None:
            raise CreamError(f"name={name!r} names data passed from Python (a Dataset or tensors), not data={data!r}"
                             "; a folder names its own run folder (set run.out_dir to choose another)")
        yield data
        return
    if name is None and name_required:
        raise CreamError("cream.test with data from Python needs the checkpoint, or name='NAME' to test "
                         "runs/retrain/NAME/best.pth" if command == "test" else
                         f"data from Python needs a name for its run folder: cream.{command}(data=..., name='NAME') "
                         f"writes runs/{command}/NAME")
    source = inspect_data(data, check_name(name or UNNAMED), command)
    before = _SERVED.get(source.name)
    _SERVED[source.name] = source
    try:
        yield source
    finally:
        if before is None:
            del _SERVED[source.name]
        else:
            _SERVED[source.name] = before


def check_name(name) -> str:
    if not isinstance(name, str) or name in ("", ".", "..") or "/" in name or os.sep in name:
        raise CreamError(f"name={name!r} must be a plain folder name (it names runs/<command>/NAME), e.g. 'shapes'")
    return name


def inspect_data(data, name: str, command: str) -> InMemoryData:
    """``data`` checked: its splits, labels and a seeded draw of its images (every bad input is a CreamError)."""
    splits = as_splits(data, "test" if command == "test" else "train")
    if command != "test" and "train" not in splits:
        raise CreamError(f"{command} needs a train split; data has {', '.join(splits)}: give "
                         "{'train': ..., 'val': ..., 'test': ...} (val and test optional)")
    for split, dataset in splits.items():
        if not hasattr(dataset, "__len__") or not hasattr(dataset, "__getitem__"):
            raise CreamError(f"data {split!r} is a {type(dataset).__name__}; give a map-style torch Dataset "
                             "(with __len__ and __getitem__) or tensors (images, labels)")
        if len(dataset) == 0:
            raise CreamError(f"data {split!r} is empty; give at least one image per class")
    labels = {split: read_labels(dataset, split) for split, dataset in splits.items()}
    declared = getattr(splits.get("train", next(iter(splits.values()))), "classes", None)
    declared = [str(c) for c in declared] if declared is not None else None
    source = InMemoryData(name, splits, labels, declared,
                          {split: inspect_images(dataset, split) for split, dataset in splits.items()})
    check_labels(source, command)
    return source


def as_splits(data, single: str) -> dict[str, torch.utils.data.Dataset]:
    """{split: Dataset} from a dict of datasets, one dataset, or tensors ``(images, labels)`` (for ``single``)."""
    if isinstance(data, dict):
        unknown = [str(k) for k in data if k not in SPLITS]
        if unknown or not data:
            raise CreamError(f"data as a dict takes the keys train, val and test, not {', '.join(unknown) or 'none'}")
        return {split: as_dataset(data[split], split) for split in SPLITS if split in data}
    return {single: as_dataset(data, single)}


def as_dataset(data, split: str) -> torch.utils.data.Dataset:
    """A Dataset as it is (a list of (image, label) too); a tuple ``(images, labels)`` of tensors checked and held as
    a TensorDataset of N x C x H x W."""
    if not isinstance(data, tuple):
        return data
    if len(data) != 2 or not all(isinstance(t, torch.Tensor) for t in data):
        raise CreamError(f"data {split!r} as a pair must be tensors (images, labels): images N x C x H x W or "
                         "N x H x W, labels N ints")
    images, labels = data
    if images.ndim == 3:
        images = images.unsqueeze(1)  # N x H x W: grayscale
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise CreamError(f"data {split!r} images have shape {tuple(data[0].shape)}; give N x C x H x W with C 1 or 3, "
                         "or N x H x W for grayscale")
    if labels.ndim != 1 or len(labels) != len(images):
        raise CreamError(f"data {split!r} has {len(images)} images but labels of shape {tuple(labels.shape)}; give "
                         f"one label per image (shape ({len(images)},))")
    if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
        raise CreamError(f"data {split!r} labels are {labels.dtype}; give integer class indices 0..C-1")
    check_pixels(images, f"data {split!r} images")
    return torch.utils.data.TensorDataset(images, labels.long())


def read_labels(dataset, split: str) -> torch.Tensor:
    """Every item's label: from a TensorDataset's labels or a ``targets`` attribute, else by reading each item."""
    if isinstance(dataset, torch.utils.data.TensorDataset) and len(dataset.tensors) == 2:
        values = dataset.tensors[1].tolist()
    elif isinstance(getattr(dataset, "targets", None), (list, tuple, torch.Tensor, np.ndarray)) \
            and len(dataset.targets) == len(dataset):
        values = list(dataset.targets)
    else:
        values = [item_pair(dataset, i, split)[1] for i in range(len(dataset))]
    return torch.tensor([as_label(v, split, i) for i, v in enumerate(values)], dtype=torch.long)


def item_pair(dataset, i: int, split: str) -> tuple:
    item = dataset[i]
    if not isinstance(item, (tuple, list)) or len(item) != 2:
        raise CreamError(f"item {i} of data {split!r} is a {type(item).__name__}, not a pair; {ITEM_HINT}")
    return item


def as_label(value, split: str, i: int) -> int:
    if isinstance(value, torch.Tensor) and value.numel() == 1 and not value.is_floating_point():
        value = value.item()
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value)
    raise CreamError(f"item {i} of data {split!r} has label {value!r}; labels are ints 0..C-1")


def inspect_images(dataset, split: str) -> list[tuple[int, int, int]]:
    """(channels, width, height) of a seeded draw of AUTO_INSPECT images, checked to be images."""
    draw = np.random.default_rng(0).permutation(len(dataset))[:AUTO_INSPECT]
    return [image_shape(item_pair(dataset, i, split)[0], f"item {i} of data {split!r}") for i in sorted(draw.tolist())]


def image_shape(image, where: str) -> tuple[int, int, int]:
    """(channels, width, height) of one image: 1 for grayscale, 3 for colour (as an image folder reads it)."""
    if isinstance(image, Image.Image):
        check_depth(where, image)
        return (1 if image.mode in GRAY_MODES else 3), *image.size
    if isinstance(image, torch.Tensor):
        if image.ndim == 2:
            image = image.unsqueeze(0)
        if image.ndim != 3 or image.shape[0] not in (1, 3):
            raise CreamError(f"{where} is a tensor of shape {tuple(image.shape)}; {ITEM_HINT}")
        return image.shape[0], image.shape[2], image.shape[1]
    raise CreamError(f"{where} is a {type(image).__name__}, neither a tensor nor a PIL image; {ITEM_HINT}")


def check_pixels(images: torch.Tensor, where: str) -> None:
    """uint8 pixels, or floats in 0..1 (as ``ToTensor`` gives): cream normalises them itself."""
    if images.dtype == torch.uint8:
        return
    if not images.is_floating_point():
        raise CreamError(f"{where} are {images.dtype}; give uint8 (0..255) or float (0..1) pixels")
    if images.numel() and (float(images.min()) < 0 or float(images.max()) > 1):
        raise CreamError(f"{where} have float pixels in {float(images.min()):.3g}..{float(images.max()):.3g}; give "
                         "them in 0..1 (before any Normalize: cream normalises them itself) or as uint8")


def check_labels(source: InMemoryData, command: str) -> None:
    """Labels in 0..C-1 for the C classes, every class with training images (as every class folder must)."""
    count = len(source.classes)
    for split, labels in source.labels.items():
        low, high = int(labels.min()), int(labels.max())
        if low < 0 or high >= count:
            raise CreamError(f"data {split!r} has labels {low}..{high}, outside 0..{count - 1} for its {count} "
                             "classes; labels are class indices 0..C-1")
    if command != "test":
        present = torch.bincount(source.labels["train"], minlength=count)
        empty = [c for c in range(count) if present[c] == 0]
        if empty:
            raise CreamError(f"class {source.classes[empty[0]]!r} (label {empty[0]}) has no training images "
                             f"({len(empty)} empty in all); labels must cover 0..C-1")


def side_of(shapes: list[tuple[int, int, int]]) -> int | None:
    """The images' short side when they all have one size, else None (they need space.resolution)."""
    sizes = {(w, h) for _, w, h in shapes}
    return min(next(iter(sizes))) if len(sizes) == 1 else None


def describe(shapes: list[tuple[int, int, int]], total: int) -> str:
    """How channels and size were found, for the run's log."""
    gray = sum(c == 1 for c, _, _ in shapes)
    kind = "grayscale" if gray == len(shapes) else "colour"
    mixed = f", {gray} grayscale among them (read as colour)" if 0 < gray < len(shapes) else ""
    sizes = sorted({(w, h) for _, w, h in shapes})
    size = (f"all {sizes[0][0]}x{sizes[0][1]} px" if len(sizes) == 1 else
            f"{len(sizes)} sizes, median short side {int(statistics.median(min(w, h) for _, w, h in shapes))} px")
    return f"{len(shapes)} of {total} train images inspected: {kind}{mixed}, {size}"


class PythonImages(torch.utils.data.Dataset):
    """Items of ``InMemoryData`` as PIL images in ``mode`` through one transform: ``FolderImages`` for data from
    Python, so the folder's transforms (and decoding into memory) apply unchanged."""

    def __init__(self, source: InMemoryData, pairs: list[tuple[tuple[str, int], int]], transform,
                 label_map: dict[int, int] | None = None, mode: str = "RGB"):
        self.source, self.pairs, self.transform, self.label_map, self.mode = source, pairs, transform, label_map, mode

    def __len__(self):
        return len(self.pairs)

    def __getitem__(self, i):
        (split, index), label = self.pairs[i]
        image = item_pair(self.source.splits[split], index, split)[0]
        label = self.label_map[label] if self.label_map else label
        return self.transform(as_pil(image, self.mode, f"item {index} of data {split!r}")), label


def as_pil(image, mode: str, where: str) -> Image.Image:
    """One image as a PIL image in ``mode`` (``L`` or ``RGB``; grayscale repeated to three channels)."""
    image_shape(image, where)
    if isinstance(image, torch.Tensor):
        check_pixels(image, where)
        if image.is_floating_point():
            image = (image * 255).round().to(torch.uint8)
        image = TF.to_pil_image(image if image.ndim == 3 else image.unsqueeze(0))
    return image.convert(mode)

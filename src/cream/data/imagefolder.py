"""Image folders (``train/CLASS/*``, optional ``val/CLASS/*`` and ``test/CLASS/*``): scanning, reading, transforms.

Images are read in one mode for the whole tree: ``L`` (one channel) or ``RGB`` (three; grayscale images are
repeated to three channels). A tree that fits in memory is decoded once into a uint8 tensor (``decode_all``).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import torch
import torchvision.transforms as T
from PIL import Image
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD, create_transform
from timm.data.transforms import str_to_interp_mode
from torchvision.datasets.folder import IMG_EXTENSIONS, find_classes, make_dataset

from cream.errors import CreamError

GRAY_MODES = ("1", "L", "LA")  # PIL modes of grayscale images


def mean_std(channels: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """ImageNet's normalisation for colour; its channel averages for grayscale."""
    if channels == 1:
        return (sum(IMAGENET_DEFAULT_MEAN) / 3,), (sum(IMAGENET_DEFAULT_STD) / 3,)
    return IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD


def mode_for(channels: int) -> str:
    if channels not in (1, 3):
        raise CreamError(f"image folders give 1 (grayscale) or 3 (colour) channels; set space.in_chans=1 or 3 "
                         f"(got {channels})")
    return "L" if channels == 1 else "RGB"


def splits_present(root: str | Path) -> tuple[str, ...]:
    return tuple(s for s in ("train", "val", "test") if (Path(root) / s).is_dir())


def scan_split(root: str | Path, split: str) -> tuple[list[str], list[tuple[str, int]]]:
    """(class names, [(path, class index)]) of ``root/split``; every class folder must hold images."""
    folder = Path(root) / split
    if not folder.is_dir():
        raise CreamError(f"image folder {folder} does not exist; data.root must hold {split}/CLASS/ folders of images")
    try:
        classes, class_to_idx = find_classes(str(folder))
    except FileNotFoundError:
        raise CreamError(f"image folder {folder} has no class folders; put images in {folder}/CLASS/") from None
    samples = make_dataset(str(folder), class_to_idx, extensions=IMG_EXTENSIONS, allow_empty=True)
    counts = torch.bincount(torch.tensor([t for _, t in samples], dtype=torch.long), minlength=len(classes))
    empty = [classes[i] for i in range(len(classes)) if counts[i] == 0]
    if empty:
        raise CreamError(f"class folder {folder / empty[0]} holds no images ({len(empty)} empty in all); "
                         "add images or remove the folder")
    return classes, samples


def check_depth(path: str, image: Image.Image) -> None:
    """Refuse images of more than 8 bits per channel: converting them to 8 bits would clip them."""
    if image.mode in ("I", "F") or image.mode.startswith("I;16"):
        raise CreamError(f"image {path} has {image.mode} pixels (more than 8 bits per channel); cream reads 8-bit "
                         "images: convert it to an 8-bit PNG or JPEG")


def read_image(path: str, mode: str = "RGB") -> Image.Image:
    """Open one image in ``mode`` (``L`` or ``RGB``); an unreadable file is a CreamError that names it."""
    try:
        with open(path, "rb") as f:
            image = Image.open(f)
            check_depth(path, image)
            return image.convert(mode)
    except (OSError, ValueError, Image.DecompressionBombError) as e:
        raise CreamError(f"cannot decode image {path} ({type(e).__name__}); remove or replace the file") from None


def read_header(path: str) -> tuple[str, int, int]:
    """(mode, width, height) from an image's header, without decoding its pixels."""
    try:
        with Image.open(path) as image:
            check_depth(path, image)
            return image.mode, *image.size
    except (OSError, ValueError, Image.DecompressionBombError) as e:
        raise CreamError(f"cannot decode image {path} ({type(e).__name__}); remove or replace the file") from None


def eval_resize(resolution: int, crop_pct: float, interpolation: str):
    """Resize the short side to resolution / crop_pct, then take the central resolution x resolution crop."""
    mode = str_to_interp_mode("bicubic" if interpolation == "random" else interpolation)
    return T.Compose([T.Resize(math.floor(resolution / crop_pct), interpolation=mode), T.CenterCrop(resolution)])


class FolderImages(torch.utils.data.Dataset):
    """A list of (path, label) pairs, read in ``mode`` through one transform."""

    def __init__(self, samples: list[tuple[str, int]], transform, label_map: dict[int, int] | None = None,
                 mode: str = "RGB"):
        self.samples, self.transform, self.label_map, self.mode = samples, transform, label_map, mode

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, i):
        path, label = self.samples[i]
        label = self.label_map[label] if self.label_map else label
        return self.transform(read_image(path, self.mode)), label


class _Decoded(torch.utils.data.Dataset):
    """The images of a dataset of (uint8 PIL image, label) as uint8 tensors; an unreadable one gives zeros, its label
    and its error text."""

    def __init__(self, images: torch.utils.data.Dataset, blank: torch.Tensor):
        self.images, self.blank = images, blank

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        try:
            image, label = self.images[i]
            return T.functional.pil_to_tensor(image), label, ""
        except CreamError as e:
            return self.blank, -1, str(e)


def decode_all(images: torch.utils.data.Dataset, resolution: int, channels: int,
               workers: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Every image of ``images`` (a ``FolderImages``, or any dataset of PIL images and labels, through
    ``eval_resize``) as one (N, C, R, R) uint8 tensor, with their labels.

    Decoding runs in ``workers`` processes (default: ``default_workers()``; none for fewer than 1000 images).
    Unreadable images are all reported at once, before any training.
    """
    workers = default_workers() if workers is None else workers
    blank = torch.zeros(channels, resolution, resolution, dtype=torch.uint8)
    loader = torch.utils.data.DataLoader(_Decoded(images, blank), batch_size=256,
                                         num_workers=workers if len(images) >= 1000 else 0)
    decoded, labels, errors = [], [], []
    for x, y, messages in loader:
        decoded.append(x)
        labels.append(y)
        errors += [m for m in messages if m]
    if errors:
        more = f" (and {len(errors) - 1} more unreadable images)" if len(errors) > 1 else ""
        raise CreamError(f"{errors[0]}{more}")
    if not decoded:
        return blank.new_zeros((0, *blank.shape)), torch.zeros(0, dtype=torch.long)
    return torch.cat(decoded), torch.cat(labels).long()


def default_workers() -> int:
    """DataLoader processes: the cores this process gets (shared among torchrun's local processes), at most 8."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(8, cores // int(os.environ.get("LOCAL_WORLD_SIZE", "1"))))


def folder_transform(resolution: int, train: bool, cfg, channels: int = 3) -> object:
    """timm's train or eval transform for ``resolution`` px, from the data config."""
    mean, std = mean_std(channels)
    interpolation = cfg.interpolation if train or cfg.interpolation != "random" else "bicubic"
    if not train:
        return create_transform(resolution, is_training=False, interpolation=interpolation,
                                crop_pct=cfg.crop_pct, mean=mean, std=std)
    return create_transform(
        resolution, is_training=True, auto_augment=cfg.auto_augment, color_jitter=cfg.color_jitter or None,
        re_prob=cfg.reprob, re_mode="pixel", interpolation=interpolation, hflip=0.5 if cfg.hflip else 0.0,
        mean=mean, std=std,
    )

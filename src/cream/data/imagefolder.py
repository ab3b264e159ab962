"""ImageFolder trees (``train/CLASS/*.JPEG``, ``val/CLASS/*.JPEG``) with timm's transforms and clear errors."""

from __future__ import annotations

from pathlib import Path

import torch
from PIL import Image
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD, create_transform
from torchvision.datasets.folder import IMG_EXTENSIONS, find_classes, make_dataset

from cream.errors import CreamError

MEAN, STD = IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD


def scan_split(root: str | Path, split: str) -> tuple[list[str], list[tuple[str, int]]]:
    """(class names, [(path, class index)]) of ``root/split``; every class folder must hold images."""
    folder = Path(root) / split
    if not folder.is_dir():
        raise CreamError(f"image folder {folder} does not exist; data.root must hold {split}/CLASS/*.jpg")
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


def load_rgb(path: str) -> Image.Image:
    """Open one image as RGB; an unreadable file is a CreamError that names it."""
    try:
        with open(path, "rb") as f:
            return Image.open(f).convert("RGB")
    except (OSError, ValueError, Image.DecompressionBombError) as e:
        raise CreamError(f"cannot decode image {path} ({type(e).__name__}); remove or replace the file") from None


class FolderImages(torch.utils.data.Dataset):
    """A list of (path, label) pairs read through one transform."""

    def __init__(self, samples: list[tuple[str, int]], transform, label_map: dict[int, int] | None = None):
        self.samples, self.transform, self.label_map = samples, transform, label_map

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, i):
        path, label = self.samples[i]
        label = self.label_map[label] if self.label_map else label
        return self.transform(load_rgb(path)), label


def folder_transform(resolution: int, train: bool, cfg) -> object:
    """timm's train or eval transform for ``resolution`` px, from the data config."""
    interpolation = cfg.interpolation if train or cfg.interpolation != "random" else "bicubic"
    if not train:
        return create_transform(resolution, is_training=False, interpolation=interpolation,
                                crop_pct=cfg.crop_pct, mean=MEAN, std=STD)
    return create_transform(
        resolution, is_training=True, auto_augment=cfg.auto_augment, color_jitter=cfg.color_jitter or None,
        re_prob=cfg.reprob, re_mode="pixel", interpolation=interpolation, hflip=0.5 if cfg.hflip else 0.0,
        mean=MEAN, std=STD,
    )

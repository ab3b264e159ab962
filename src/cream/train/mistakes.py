"""Where a tested net errs: the confusion matrix and its most confident mistakes, for the test's report page."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

THUMBNAIL_PX = 64  # larger test images are shrunk to this side: the page shows a grid of them


class Mistakes:
    """Sees the test batches (``observe``): counts true class x predicted class and keeps the ``keep`` wrong
    predictions made with the highest confidence, as small uint8 thumbnails."""

    def __init__(self, num_classes: int, keep: int = 24):
        self.confusion = torch.zeros(num_classes, num_classes, dtype=torch.int64)
        self.keep = keep
        self.found: list[tuple[float, int, int, np.ndarray]] = []  # confidence, label, predicted, thumbnail

    @torch.no_grad()
    def observe(self, x: torch.Tensor, y: torch.Tensor, logits: torch.Tensor) -> None:
        confidence, predicted = logits.softmax(1).max(1)
        y, predicted, confidence = y.cpu(), predicted.cpu(), confidence.cpu()
        n = self.confusion.shape[0]
        self.confusion += torch.bincount(y * n + predicted, minlength=n * n).view(n, n)
        wrong = (predicted != y).nonzero().flatten()
        best = wrong[confidence[wrong].argsort(descending=True)[: self.keep]]
        for i in best.tolist():
            self.found.append((float(confidence[i]), int(y[i]), int(predicted[i]), thumbnail(x[i])))
        self.found = sorted(self.found, key=lambda m: -m[0])[: self.keep]

    def per_class(self, classes: list[str]) -> list[dict]:
        images = self.confusion.sum(1)
        return [{"class": name, "images": int(images[c]),
                 "top1": 100 * int(self.confusion[c, c]) / max(int(images[c]), 1)} for c, name in enumerate(classes)]

    def save(self, path: Path) -> None:
        """The thumbnails with their label, prediction and confidence, as one .npz written atomically."""
        buffer = io.BytesIO()
        images = np.stack([m[3] for m in self.found]) if self.found else np.zeros((0, 1, 1, 1), np.uint8)
        np.savez_compressed(buffer, images=images,
                            label=np.array([m[1] for m in self.found], dtype=np.int64),
                            predicted=np.array([m[2] for m in self.found], dtype=np.int64),
                            confidence=np.array([m[0] for m in self.found]))
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(buffer.getvalue())
        tmp.replace(path)


def thumbnail(image: torch.Tensor) -> np.ndarray:
    """A normalised C x H x W image as H x W x C uint8, stretched to its own range (no dataset statistics needed)."""
    image = image.float().cpu()
    if image.shape[-1] > THUMBNAIL_PX:
        image = F.interpolate(image[None], size=(THUMBNAIL_PX, THUMBNAIL_PX), mode="bilinear", antialias=True)[0]
    low, high = image.min(), image.max()
    image = (image - low) / max(float(high - low), 1e-6)
    return (255 * image).round().to(torch.uint8).permute(1, 2, 0).numpy()

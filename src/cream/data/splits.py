"""Deterministic splits and class/count subsets: the same inputs always give the same indices."""

from __future__ import annotations

import numpy as np
import torch

from cream.errors import CreamError


def derive_seed(*parts: int) -> int:
    """A well-mixed 63-bit seed from several integers (seed, epoch, step, rank, ...)."""
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(2, np.uint64)[0] >> 1)


def split_train_val(labels: torch.Tensor, val_fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Stratified split of indices: ``val_fraction`` of every class goes to validation."""
    rng = np.random.default_rng(seed)
    labels = labels.numpy()
    train, val = [], []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        rng.shuffle(idx)
        n_val = int(round(len(idx) * val_fraction))
        val.append(idx[:n_val])
        train.append(idx[n_val:])
    return torch.from_numpy(np.sort(np.concatenate(train))), torch.from_numpy(np.sort(np.concatenate(val)))


def choose_classes(num_classes: int, n: int, seed: int) -> list[int]:
    """``n`` distinct class indices out of ``num_classes``, drawn with ``seed``, in ascending order."""
    if not 1 <= n <= num_classes:
        raise CreamError(f"cannot choose {n} classes out of {num_classes}; ask for 1 to {num_classes}")
    return sorted(np.random.default_rng(seed).choice(num_classes, n, replace=False).tolist())


def select_per_class(labels: torch.Tensor, indices: torch.Tensor, classes: list[int] | None,
                     per_class: int | None, seed: int) -> torch.Tensor:
    """Keep ``indices`` whose label is in ``classes`` (all if None), at most ``per_class`` each (a seeded draw).

    ``per_class`` is a cap: a class with fewer images keeps them all.
    """
    if classes is None and per_class is None:
        return indices
    present = set(labels[indices].tolist())
    wanted = sorted(present) if classes is None else classes
    missing = [c for c in wanted if c not in present]
    if missing:
        raise CreamError(f"classes {missing} have no images here (present: {sorted(present)}); fix data.classes")
    rng = np.random.default_rng(seed)
    keep = []
    for c in wanted:
        idx = indices[labels[indices] == c].numpy()
        if per_class is not None:
            idx = np.sort(rng.permutation(idx)[:per_class])
        keep.append(idx)
    return torch.from_numpy(np.sort(np.concatenate(keep)))


def epoch_order(n: int, seed: int, epoch: int, shuffle: bool, rank: int = 0, world: int = 1) -> torch.Tensor:
    """Positions 0..n-1 for one epoch, shuffled by (seed, epoch), this rank's equal share of them."""
    if shuffle:
        order = torch.randperm(n, generator=torch.Generator().manual_seed(derive_seed(seed, epoch)))
    else:
        order = torch.arange(n)
    per_rank = n // world if shuffle else -(-n // world)
    return order[rank * per_rank: (rank + 1) * per_rank] if world > 1 else order

"""The prioritized path board: the K best paths seen so far, with a slice of images and their soft labels."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from cream.space.arch import Arch


@dataclass
class BoardEntry:
    arch: Arch
    accuracy: float  # top-1 (%) on the batch where the path was seen
    cost: float  # what breaks ties: predicted latency (ms) with a latency table, else million multiply-adds
    images: torch.Tensor  # a slice of that batch
    soft_labels: torch.Tensor  # the path's own softmax outputs on those images

    def to_state(self) -> dict:
        return {"arch": str(self.arch), "accuracy": self.accuracy, "cost": self.cost,
                "images": self.images.cpu(), "soft_labels": self.soft_labels.cpu()}

    @classmethod
    def from_state(cls, state: dict) -> BoardEntry:
        cost = state["cost"] if "cost" in state else state["flops"]  # checkpoints before latency tables
        return cls(Arch.parse(state["arch"]), float(state["accuracy"]), float(cost), state["images"],
                   state["soft_labels"])


class PrioritizedBoard:
    """Keeps at most ``size`` entries sorted best first: higher accuracy, then lower cost, one per path.

    ``paper_rule``: as the paper's code, equal accuracy puts the higher cost first (and so evicts the lower cost
    first), and a path seen again enters again beside its older entries.
    """

    def __init__(self, size: int = 10, margin: float = 5.0, paper_rule: bool = False):
        self.size, self.margin, self.paper_rule = size, margin, paper_rule
        self.entries: list[BoardEntry] = []
        self._batch: tuple[torch.Tensor, torch.Tensor] | None = None

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def worst(self) -> BoardEntry | None:
        return self.entries[-1] if self.entries else None

    def admits(self, accuracy: float, cost: float) -> bool:
        """A path enters when the board has room, beats the worst entry by the margin, or beats it at a lower
        cost (fewer FLOPs, or less predicted latency)."""
        worst = self.worst
        if len(self.entries) < self.size:
            return True
        return accuracy > worst.accuracy + self.margin or (accuracy > worst.accuracy and cost < worst.cost)

    def consider(self, arch: Arch, accuracy: float, cost: float, images: torch.Tensor,
                 soft_labels: torch.Tensor) -> bool:
        """Offer a path seen this step; returns whether the board changed.

        A path already on the board is refreshed with this newest observation instead of entering twice
        (``paper_rule``: it is offered as a new path).
        """
        entry = BoardEntry(arch, float(accuracy), float(cost), images.detach().clone(), soft_labels.detach().clone())
        existing = [] if self.paper_rule else [i for i, e in enumerate(self.entries) if e.arch == arch]
        if existing:
            self.entries[existing[0]] = entry
        elif self.admits(entry.accuracy, entry.cost):
            self.entries.append(entry)
        else:
            return False
        cost_sign = -1 if self.paper_rule else 1  # plain floats: the sort never compares tensors
        self.entries.sort(key=lambda e: (-e.accuracy, cost_sign * e.cost))
        del self.entries[self.size:]
        self._batch = None
        return True

    def batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Every slot's images as one batch of ``size`` × slice images, and soft labels (size, slice, classes).

        Slots not yet filled repeat the filled entries in turn, so the batch has one shape from the first
        entry on: forwards over it never meet a new input shape (no cuDNN re-planning, no re-compiling) as
        the board grows. Only the first ``len(self)`` rows are real entries. Rebuilt only when the board
        changes, on the device its entries live on.
        """
        if not self.entries:
            raise ValueError("the board is empty")
        if self._batch is None:
            slots = [self.entries[i % len(self.entries)] for i in range(self.size)]
            self._batch = (torch.cat([e.images for e in slots]), torch.stack([e.soft_labels for e in slots]))
        return self._batch

    def state_dict(self) -> dict:
        return {"size": self.size, "margin": self.margin, "entries": [e.to_state() for e in self.entries]}

    def load_state_dict(self, state: dict, device="cpu") -> None:
        self.size, self.margin = int(state["size"]), float(state["margin"])
        self.entries = [BoardEntry.from_state(s) for s in state["entries"]]
        self._batch = None
        for e in self.entries:
            e.images, e.soft_labels = e.images.to(device), e.soft_labels.to(device)

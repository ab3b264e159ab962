"""Losses of the search: label-smoothed cross-entropy, and distillation from a teacher path weighted by m."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from cream.engine.meter import EpochSums


def kd_loss(student_logits: torch.Tensor, teacher_probs: torch.Tensor) -> torch.Tensor:
    """Cross-entropy between the student's outputs and the teacher's softmax outputs."""
    return -(teacher_probs * F.log_softmax(student_logits, dim=1)).sum(dim=1).mean()


def cream_loss(ce: torch.Tensor, kd: torch.Tensor, m: float | torch.Tensor) -> torch.Tensor:
    """(m·KD + (2−m)·CE) / 2: a better-matched teacher (larger m) distils more."""
    return (m * kd + (2 - m) * ce) / 2


class DistillSums(EpochSums):
    """A distilling rule's figures of one epoch: its distillation loss, the share of its steps that distilled and
    their mean weight m (0 for rules without one)."""

    FIELDS = ("steps", "distill_steps", "kd", "m")

    def row(self) -> dict:
        s, distilled = self.sums, max(self.sums["distill_steps"], 1)
        return {"kd_loss": s["kd"] / distilled, "distill_fraction": s["distill_steps"] / max(s["steps"], 1),
                "mean_m": s["m"] / distilled}

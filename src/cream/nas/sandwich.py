"""The sandwich rule with in-place distillation (BigNAS, Yu et al., ECCV 2020; Once-for-All's progressive
shrinking uses the same teacher): each step trains the space's largest path on the labels, and its smallest
path and two random in-budget paths on the largest path's soft labels; one update with the gradients summed.

The largest and smallest paths are the space's extremes (every block k7 e6 at the full depths, every block k3 e4
at the fewest blocks: one per stage with space.elastic_depth) whatever the multiply-add range; the final choice
ranks random in-budget paths. It reports its mean distillation loss each epoch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from cream.nas.distill import DistillSums, kd_loss
from cream.nas.strategy import SearchStrategy, StepLoss, register_rule
from cream.space.arch import Arch

RANDOM_PATHS = 2


@register_rule
class Sandwich(SearchStrategy):
    name = "sandwich"
    multi_path = True

    def __init__(self, search):
        super().__init__(search)
        self.figures = DistillSums()

    def paths(self) -> tuple[Arch, list[Arch]]:
        """(the teacher: the largest path, the students: the smallest path and ``RANDOM_PATHS`` random ones)."""
        search = self.search
        randoms = [self.sampler.sample(search.step, draw=k) for k in range(RANDOM_PATHS)]
        return search.plan.largest, [search.plan.smallest, *randoms]

    def loss(self, epoch, x, y) -> StepLoss:
        search = self.search
        largest, students = self.paths()
        with search.ctx.autocast():
            teacher_logits = search.supernet(x, largest).float()
            student_logits = [search.supernet(x, arch).float() for arch in students]
        ce = F.cross_entropy(teacher_logits, y, label_smoothing=search.cfg.search.label_smoothing)
        soft_labels = F.softmax(teacher_logits.detach(), dim=1)
        kd = torch.stack([kd_loss(logits, soft_labels) for logits in student_logits])
        logits = torch.cat([teacher_logits, *student_logits])
        return StepLoss(loss=ce + kd.sum(), ce=ce, logits=logits, labels=y.repeat(1 + len(students)), arch=largest,
                        figures={"kd": kd.mean()})

    def after_update(self, epoch, x, out: StepLoss, accuracy: float) -> None:
        self.figures.add(steps=1, distill_steps=1, kd=out.figure_values["kd"])

    def epoch_figures(self) -> dict:
        row, self.figures = self.figures.row(), DistillSums()
        return row

    def epoch_text(self, row: dict) -> str:
        return f"kd {row['kd_loss']:.3f}"

    def state_dict(self) -> dict:
        return {"distill_sums": self.figures.sums}

    def load_state_dict(self, state: dict) -> None:
        self.figures = DistillSums(state.get("distill_sums", state["meter"]))

"""SPOS (Guo et al., 2020): single-path one-shot, one uniformly drawn in-budget path per step, labels only."""

from __future__ import annotations

import torch.nn.functional as F

from cream.nas.strategy import SearchStrategy, StepLoss, register_rule


@register_rule
class Spos(SearchStrategy):
    name = "spos"

    def loss(self, epoch, x, y) -> StepLoss:
        search = self.search
        arch = self.sampler.sample(search.step)
        with search.ctx.autocast():
            logits = search.model(x, arch).float()
        ce = F.cross_entropy(logits, y, label_smoothing=search.cfg.search.label_smoothing)
        return StepLoss(loss=ce, ce=ce, logits=logits, labels=y, arch=arch)

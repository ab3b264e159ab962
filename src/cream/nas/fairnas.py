"""FairNAS (Chu et al., ICCV 2021): strict fairness. Each step trains ``NUM_OPS`` paths in which every block runs
each of its ops exactly once, sums their gradients and makes one update, so every op is trained equally often.

The paths are permutations per block, so they ignore the multiply-add (or latency) range, and they run at the
full depths (with space.elastic_depth too): the range still bounds the final choice, which ranks random in-budget
paths.
"""

from __future__ import annotations

import random

import torch
import torch.nn.functional as F

from cream.data.splits import derive_seed
from cream.nas.strategy import SearchStrategy, StepLoss, register_rule
from cream.space.arch import NUM_OPS, Arch


@register_rule
class FairNas(SearchStrategy):
    name = "fairnas"
    multi_path = True

    def paths(self) -> list[Arch]:
        """This step's ``NUM_OPS`` paths: one permutation of the ops per block, the k-th path takes the k-th op."""
        search = self.search
        rng = random.Random(derive_seed(search.cfg.run.seed, search.step, 19))
        perms = [[rng.sample(range(NUM_OPS), NUM_OPS) for _ in range(depth)] for depth in search.plan.depths]
        return [Arch(tuple(tuple(perm[k] for perm in stage) for stage in perms)) for k in range(NUM_OPS)]

    def loss(self, epoch, x, y) -> StepLoss:
        search = self.search
        paths = self.paths()
        with search.ctx.autocast():
            logits = torch.cat([search.supernet(x, arch).float() for arch in paths])
        labels = y.repeat(len(paths))
        ce = F.cross_entropy(logits, labels, label_smoothing=search.cfg.search.label_smoothing)
        # The sum of the paths' mean losses: one update with their gradients summed, as FairNAS does.
        return StepLoss(loss=ce * len(paths), ce=ce, logits=logits, labels=labels, arch=paths[0])

"""A search strategy: the rule by which the supernet trains, behind one small interface.

Each step the search calls ``loss`` (which paths this step trains, and their loss), backpropagates and updates
the supernet, then calls ``after_update``. ``candidates`` are the paths final selection ranks; ``state_dict``
is what the rule keeps between steps (stored in the search's checkpoint). ``search.algorithm`` names the rule
(``STRATEGIES`` in ``cream.nas.trainer``); ``run_search(cfg, strategy=MyRule)`` runs any other.

A strategy sees the search through its public parts: ``cfg``, ``ctx``, ``plan``, ``supernet`` (the module),
``model`` (what a trained forward goes through: the supernet, or its DDP wrapper), ``data``, ``optimizer``,
``step``, ``counters`` and ``log``. It never reaches into the blocks.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from cream.errors import CreamError
from cream.nas.records import SearchRecords
from cream.nas.sampler import PathSampler
from cream.space.arch import Arch


@dataclass
class StepLoss:
    """What one step trains on: the loss to backpropagate and the figures the search logs."""

    loss: torch.Tensor          # backpropagated once
    ce: torch.Tensor            # cross-entropy on the labels (of the path that learns them)
    logits: torch.Tensor        # the trained paths' logits, for the training accuracy ...
    labels: torch.Tensor        # ... against these labels
    arch: Arch                  # the step's (first) path, named when its loss is not finite
    kd: torch.Tensor | None = None  # distillation loss, when the step distilled
    m: float | None = None          # the distillation weight, when it has one
    teacher_probs: torch.Tensor | None = None  # the teacher's soft labels on the batch, when one taught


def clear_grads(optimizer: torch.optim.Optimizer, dense: bool) -> None:
    """Before a step's backward. Sparse: gradients set to None, so tensors off the step's path keep still. Dense
    (``search.off_path_updates=dense``): zero gradients on every tensor the optimizer has stepped before, as
    torch 1.2 left them, so that momentum and weight decay keep moving them (after a resume too)."""
    optimizer.zero_grad(set_to_none=not dense)
    if dense:
        for p, state in optimizer.state.items():
            if p.grad is None and state:
                p.grad = torch.zeros_like(p)


class SearchStrategy:
    """The base rule: one uniformly drawn in-budget path per step, final choice among random in-budget paths."""

    name = "custom"
    multi_path = False  # several forwards before one backward: not under DistributedDataParallel (yet)

    def __init__(self, search):
        self.search = search
        s = search.cfg.search
        if self.multi_path and search.ctx.distributed:
            raise CreamError(f"search.algorithm={self.name} trains several paths per step, which runs in one process "
                             "only; run it without torchrun, or use search.algorithm=cream or spos")
        self.sampler = PathSampler(search.plan, "uniform", s.op_probs, s.max_redraws, seed=search.cfg.run.seed,
                                   redraw_out_of_budget=s.out_of_budget == "redraw")
        self.board = None  # the prioritized board, for rules that keep one
        self.records = SearchRecords()  # the paths it evaluated and its board's changes (paths.csv, board.csv)

    def loss(self, epoch: int, x: torch.Tensor, y: torch.Tensor) -> StepLoss:
        raise NotImplementedError

    def after_update(self, epoch: int, x: torch.Tensor, out: StepLoss, accuracy: float) -> None:
        """After the supernet's update (not after a skipped step); ``accuracy`` is the step's training top-1."""

    def candidates(self) -> list[Arch]:
        n = self.search.cfg.search.candidates
        candidates = self.sampler.distinct(n, seed=2)
        self.search.log.info(f"final selection over {len(candidates)} random in-budget paths")
        return candidates

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass

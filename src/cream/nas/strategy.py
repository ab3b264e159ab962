"""A search strategy: the rule by which the supernet trains, behind one small interface.

Each step the search calls ``loss`` (which paths this step trains, and their loss), backpropagates and updates
the supernet, then calls ``after_update``. ``candidates`` are the paths final selection ranks; ``state_dict``
is what the rule keeps between steps (stored in the search's checkpoint).

A strategy sees the search through its public parts: ``cfg``, ``ctx``, ``plan``, ``supernet`` (the module),
``model`` (what a trained forward goes through: the supernet, or its DDP wrapper), ``data``, ``optimizer``,
``step``, ``counters`` and ``log``. It never reaches into the blocks.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from cream.config import add_rule_keys
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
    # The rule's own figures of the step (scalar tensors, e.g. its distillation loss): the search averages them
    # over processes in the step's one host-device sync and hands them back in ``figure_values`` before
    # ``after_update``.
    figures: dict[str, torch.Tensor] = field(default_factory=dict)
    figure_values: dict[str, float] = field(default_factory=dict)


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
    """The base rule: one uniformly drawn in-budget path per step, final choice among random in-budget paths.

    A rule in one file: subclass this class, give it a ``name`` and, when it has keys of its own, a dataclass
    ``Keys`` of ``cream.config.key`` fields, and decorate it with ``@register_rule``. Importing its module
    registers it: ``search.algorithm=NAME`` then chooses it, and its keys join the search section, written
    ``search.KEY`` like the shared ones and read as ``self.search.cfg.search.KEY``. ``cream`` imports the
    built-in rules; a rule of your own is registered by importing its module before ``cream.search(...)``, or,
    on the command line, by naming the module: ``cream search search.rule_module=my_rules
    search.algorithm=NAME search.my_key=3`` (a module on the Python path, e.g. ``PYTHONPATH=.``; it is
    imported again on resume). ``run_search(cfg, strategy=MyRule)`` runs an unregistered class.

    A rule reports its own figures: ``epoch_figures`` (its columns of summary.csv and the history),
    ``epoch_text`` (its part of the epoch's log line), ``progress_figures`` (the progress bar),
    ``result_figures`` (its fields of result.json), ``COUNTERS`` (its counters in ``search.counters``, which
    result.json reports) and ``records`` (the rows of paths.csv and board.csv).
    """

    name = "custom"
    Keys: type | None = None  # the dataclass of the rule's own config keys
    COUNTERS: tuple[str, ...] = ()  # counters the rule increments in search.counters
    multi_path = False  # several forwards before one backward: not under DistributedDataParallel (yet)

    def __init__(self, search):
        self.search = search
        s = search.cfg.search
        if self.multi_path and search.ctx.distributed:
            raise CreamError(f"search.algorithm={self.name} trains several paths per step, which runs in one process "
                             "only; run it without torchrun, or use search.algorithm=cream or spos")
        self.sampler = PathSampler(search.plan, "uniform", max_redraws=s.max_redraws, seed=search.cfg.run.seed,
                                   redraw_out_of_budget=s.out_of_budget == "redraw")
        self.records = SearchRecords()  # the paths it evaluated and its board's changes (paths.csv, board.csv)

    def loss(self, epoch: int, x: torch.Tensor, y: torch.Tensor) -> StepLoss:
        raise NotImplementedError

    def after_update(self, epoch: int, x: torch.Tensor, out: StepLoss, accuracy: float) -> None:
        """After the supernet's update (not after a skipped step); ``accuracy`` is the step's training top-1."""

    def epoch_figures(self) -> dict:
        """The rule's columns of the epoch's row (summary.csv), after its steps; resets its per-epoch sums."""
        return {}

    def epoch_text(self, row: dict) -> str:
        """The rule's part of the epoch's log line, from the epoch's ``row``."""
        return ""

    def progress_figures(self) -> dict:
        """The rule's figures on the progress bar."""
        return {}

    def result_figures(self, ranked: list[dict]) -> dict:
        """The rule's fields of result.json, given the ranked candidates (rows it may add figures to): ``board``,
        the candidates that were on its board (none for rules that keep no board)."""
        return {"board": []}

    def candidates(self) -> list[Arch]:
        n = self.search.cfg.search.candidates
        candidates = self.sampler.distinct(n, seed=2)
        self.search.log.info(f"final selection over {len(candidates)} random in-budget paths")
        return candidates

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


RULES: dict[str, type[SearchStrategy]] = {}  # search.algorithm -> its rule


def register_rule(rule: type[SearchStrategy]) -> type[SearchStrategy]:
    """Class decorator: ``search.algorithm=<rule.name>`` chooses ``rule``, and its ``Keys`` join the search keys."""
    known = RULES.get(rule.name)
    if known is not None and (known.__module__, known.__qualname__) != (rule.__module__, rule.__qualname__):
        raise CreamError(f"two training rules are named {rule.name!r} ({known.__module__}.{known.__qualname__} and "
                         f"{rule.__module__}.{rule.__qualname__}); give one another name")
    add_rule_keys(rule.name, rule.Keys)
    RULES[rule.name] = rule
    return rule

"""Draw one in-budget path per step: uniformly, with fixed per-op probabilities, or learned from the board."""

from __future__ import annotations

import random

from cream.data.splits import derive_seed
from cream.errors import CreamError
from cream.space.arch import NUM_OPS, Arch
from cream.space.budget import SpacePlan


class PathSampler:
    """Paths are drawn from a seed derived from (run seed, step), so a resumed run draws the same paths."""

    def __init__(self, plan: SpacePlan, mode: str = "uniform", op_probs=None, max_redraws: int = 1000,
                 seed: int = 0, redraw_out_of_budget: bool = True):
        if mode == "fixed" and (op_probs is None or len(op_probs) != NUM_OPS or min(op_probs) < 0
                                or sum(op_probs) <= 0):
            raise CreamError(f"search.op_probs must be {NUM_OPS} non-negative numbers with a positive sum, "
                             f"got {op_probs!r}")
        self.plan, self.mode, self.op_probs = plan, mode, op_probs
        self.max_redraws, self.seed = max_redraws, seed
        self.redraw_out_of_budget = redraw_out_of_budget  # False: the paper's code, whose budget only sets depths

    def probabilities(self, board=None) -> list[float] | None:
        """Per-op probabilities for this draw (None = uniform)."""
        if self.mode == "fixed":
            return list(self.op_probs)
        if self.mode == "learned" and board is not None and len(board):
            counts = [1.0] * NUM_OPS  # add-one smoothing keeps every op reachable
            for entry in board.entries:
                for ops in entry.arch.stages:
                    for op in ops:
                        counts[op] += 1
            total = sum(counts)
            return [c / total for c in counts]
        return None

    def sample(self, step: int, board=None, draw: int = 0) -> Arch:
        """The path of ``step`` (``draw`` > 0: another one, for rules that train several paths per step)."""
        rng = random.Random(derive_seed(self.seed, step, 11) if draw == 0 else derive_seed(self.seed, step, 11, draw))
        probs = self.probabilities(board)
        for _ in range(self.max_redraws):
            arch = Arch.random(self.plan.draw_depths(rng), rng, probs)
            if self.plan.in_budget(arch) or not self.redraw_out_of_budget:
                return arch
        raise self._unreachable(self.max_redraws)

    def distinct(self, n: int, seed: int) -> list[Arch]:
        """``n`` distinct in-budget paths drawn uniformly (for SPOS's final choice and studies)."""
        rng = random.Random(derive_seed(self.seed, seed, 13))
        found: dict[Arch, None] = {}
        for _ in range(self.max_redraws * n):
            arch = Arch.random(self.plan.draw_depths(rng), rng)
            if self.plan.in_budget(arch):
                found.setdefault(arch)
                if len(found) == n:
                    break
        if not found:
            raise self._unreachable(self.max_redraws * n)
        return list(found)

    def _unreachable(self, draws: int) -> CreamError:
        return CreamError(f"no path within {self.plan.budget_text()} after {draws} draws; widen the range or raise "
                          "search.max_redraws")

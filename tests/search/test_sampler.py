import pytest

from cream.errors import CreamError
from cream.search.board import PrioritizedBoard
from cream.search.sampler import PathSampler
from cream.space import Arch, NetSpec
from cream.space.budget import plan_space

PLAN = plan_space(NetSpec(resolution=28, in_chans=1, num_classes=10, width=0.5), 5.0, 7.0)


def test_sampled_paths_respect_the_flops_range_and_are_reproducible():
    sampler = PathSampler(PLAN, "uniform", seed=3)
    paths = [sampler.sample(step) for step in range(200)]
    assert all(5.0 <= PLAN.table.macs(a) <= 7.0 for a in paths)
    assert paths == [PathSampler(PLAN, "uniform", seed=3).sample(step) for step in range(200)]
    assert len(set(paths)) > 150


def test_fixed_probabilities_favour_the_heavy_op():
    sampler = PathSampler(PLAN.__class__(PLAN.spec, PLAN.depths, PLAN.table, 0, 100), "fixed",
                          [0.05, 0.2, 0.05, 0.5, 0.05, 0.15], seed=0)
    ops = [op for step in range(100) for ops in sampler.sample(step).stages for op in ops]
    assert ops.count(3) / len(ops) == pytest.approx(0.5, abs=0.08)


def test_learned_probabilities_follow_the_board():
    import torch

    board = PrioritizedBoard(3, 0)
    board.consider(Arch.uniform(PLAN.depths, 5), 90, 1, torch.zeros(1), torch.zeros(1))
    probs = PathSampler(PLAN, "learned", seed=0).probabilities(board)
    assert probs[5] > 0.5 and min(probs) > 0 and sum(probs) == pytest.approx(1)
    assert PathSampler(PLAN, "learned", seed=0).probabilities(PrioritizedBoard()) is None


def test_an_unreachable_range_is_a_clear_error():
    narrow = PLAN.__class__(PLAN.spec, PLAN.depths, PLAN.table, 5.0001, 5.0002)
    with pytest.raises(CreamError, match="no path within .* after 50 draws"):
        PathSampler(narrow, "uniform", max_redraws=50).sample(0)
    with pytest.raises(CreamError, match="no path within .* after 150 draws"):  # 50 draws for each path asked for
        PathSampler(narrow, "uniform", max_redraws=50).distinct(3, seed=0)
    with pytest.raises(CreamError, match="op_probs"):
        PathSampler(PLAN, "fixed", [1, 2])

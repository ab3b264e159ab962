import pytest

from cream.errors import CreamError
from cream.nas.board import PrioritizedBoard
from cream.nas.sampler import PathSampler
from cream.space import Arch, NetSpec
from cream.space.budget import plan_space

PLAN = plan_space(NetSpec(resolution=28, in_chans=1, num_classes=10, width=0.5), 5.0, 7.0)


def test_kept_out_of_budget_paths_are_the_first_draws_as_in_the_papers_code():
    kept = [PathSampler(PLAN, "uniform", seed=3, redraw_out_of_budget=False).sample(step) for step in range(200)]
    assert any(not PLAN.in_budget(a) for a in kept) and any(PLAN.in_budget(a) for a in kept)
    redrawn = [PathSampler(PLAN, "uniform", seed=3).sample(step) for step in range(200)]
    assert [a for a in kept if PLAN.in_budget(a)] == [b for a, b in zip(kept, redrawn) if PLAN.in_budget(a)]


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
    sampler = PathSampler(PLAN, "learned", seed=0)
    # Add-one smoothing: every op counts 1, plus 1 per block of the board's paths that uses it.
    blocks = sum(PLAN.depths)
    assert sampler.probabilities(board) == pytest.approx([1 / (6 + blocks)] * 5 + [(1 + blocks) / (6 + blocks)])
    assert sampler.probabilities(PrioritizedBoard()) is None
    ops = [op for step in range(100) for ops in sampler.sample(step, board).stages for op in ops]
    assert ops.count(5) / len(ops) > 0.5  # drawn from those probabilities (within the budget)


def test_the_run_seed_and_the_step_choose_the_path():
    assert PathSampler(PLAN).sample(7) == PathSampler(PLAN, "uniform", max_redraws=1000, seed=0).sample(7)
    assert sum(PathSampler(PLAN, seed=3).sample(s) != PathSampler(PLAN, seed=4).sample(s) for s in range(20)) > 15


@pytest.mark.parametrize("op_probs", [None, [0.2] * 5, [-0.1, 0.3, 0.2, 0.2, 0.2, 0.2], [0.0] * 6])
def test_fixed_probabilities_must_be_six_non_negative_numbers_with_a_positive_sum(op_probs):
    with pytest.raises(CreamError, match="search.op_probs must be 6 non-negative numbers with a positive sum"):
        PathSampler(PLAN, "fixed", op_probs)


def test_a_zero_probability_is_allowed_and_never_drawn():
    wide = PLAN.__class__(PLAN.spec, PLAN.depths, PLAN.table, 0, 100)
    sampler = PathSampler(wide, "fixed", [0, 0, 0, 1, 0, 0], seed=0)
    assert all(op == 3 for step in range(10) for ops in sampler.sample(step).stages for op in ops)


def test_an_unreachable_range_is_a_clear_error():
    narrow = PLAN.__class__(PLAN.spec, PLAN.depths, PLAN.table, 5.0001, 5.0002)
    with pytest.raises(CreamError, match="no path within .* after 50 draws"):
        PathSampler(narrow, "uniform", max_redraws=50).sample(0)
    with pytest.raises(CreamError, match="after 1000 draws"):  # the default
        PathSampler(narrow).sample(0)
    with pytest.raises(CreamError, match="no path within .* after 150 draws"):  # 50 draws for each path asked for
        PathSampler(narrow, "uniform", max_redraws=50).distinct(3, seed=0)
    with pytest.raises(CreamError, match="op_probs"):
        PathSampler(PLAN, "fixed", [1, 2])

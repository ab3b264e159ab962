"""space.elastic_depth: a path may use the first 1..d blocks of each stage (Once-for-All's elastic depth)."""

import itertools
from collections import Counter

import pytest

from cream.assemble import make_config
from cream.config import SearchRun
from cream.nas.sampler import PathSampler
from cream.space import Arch, NetSpec
from cream.space.budget import plan_from_config, plan_space

SMALL = NetSpec(resolution=28, in_chans=1, num_classes=10, width=0.5)
DEPTHS = (2, 1, 1, 1, 2)


def every_path(depths, elastic):
    """Every path of the space, enumerated block by block."""
    choices = [range(1, d + 1) if elastic else [d] for d in depths]
    for stage_depths in itertools.product(*choices):
        yield from (Arch(tuple(tuple(ops[sum(stage_depths[:s]):sum(stage_depths[:s + 1])])
                               for s in range(len(depths))))
                    for ops in itertools.product(range(6), repeat=sum(stage_depths)))


@pytest.mark.parametrize("elastic", [False, True])
def test_the_plan_counts_and_covers_every_path_of_every_depth(elastic):
    plan = plan_space(SMALL, 0, 100, DEPTHS, elastic_depth=elastic)
    paths = list(every_path(DEPTHS, elastic))
    assert plan.num_paths == len(paths) == (6 ** 7 if not elastic else 42 * 6 ** 3 * 42)
    macs = [plan.table.macs(a) for a in paths]
    assert plan.table.macs(plan.smallest) == pytest.approx(min(macs))
    assert plan.table.macs(plan.largest) == pytest.approx(max(macs))


def test_the_sampler_draws_each_stage_depth_uniformly_and_keeps_the_range():
    plan = plan_space(SMALL, 2.0, 12.0, (4, 4, 4, 4, 4), elastic_depth=True)  # paths cover 1.5 .. 15.6 M
    paths = [PathSampler(plan, seed=1).sample(step) for step in range(800)]
    assert all(2.0 <= plan.table.macs(a) <= 12.0 for a in paths)
    # The range trims the shallowest and deepest corners a little; uniform depth leaves each at about 1/4.
    for stage in range(5):
        counts = Counter(a.depths[stage] for a in paths)
        assert set(counts) == {1, 2, 3, 4} and all(0.17 < n / len(paths) < 0.33 for n in counts.values())
    distinct = PathSampler(plan, seed=1).distinct(30, seed=5)
    assert len({a.depths for a in distinct}) > 20


def test_without_elastic_depth_every_path_has_the_plans_depths():
    plan = plan_space(SMALL, 0, 100, (4, 4, 4, 4, 4))
    assert {PathSampler(plan, seed=1).sample(step).depths for step in range(100)} == {(4, 4, 4, 4, 4)}
    assert plan.smallest.depths == (4, 4, 4, 4, 4)


def test_the_config_key_reaches_the_plan():
    for value in (False, True):
        cfg = make_config(SearchRun, None, [f"space.elastic_depth={str(value).lower()}"])
        assert plan_from_config(cfg.space).elastic_depth is value


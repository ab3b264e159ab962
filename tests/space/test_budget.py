import pytest

from cream.errors import CreamError
from cream.space import Arch, NetSpec
from cream.space.budget import MIN_RESOLUTION, grow_depths, plan_space
from cream.space.supernet import MAX_DEPTHS

SMALL = NetSpec(resolution=28, in_chans=1, num_classes=10, width=0.5)


def test_depths_grow_in_order_while_the_largest_path_fits():
    plan = plan_space(SMALL, 0, 8)
    assert plan.table.macs(plan.largest) <= 8
    assert plan.depths[2] >= plan.depths[0]  # stage 2 grows first
    for s in range(5):  # growing any stage further would break the budget (or its limit)
        bigger = list(plan.depths)
        bigger[s] += 1
        if bigger[s] <= MAX_DEPTHS[s]:
            assert plan.table.macs(Arch.uniform(bigger, 5)) > 8
    assert grow_depths(plan.table, 8) == plan.depths
    assert plan_space(SMALL, 0, 1000).depths == (5, 5, 5, 6, 6)


def test_resolution_drops_when_even_the_smallest_net_is_too_big():
    plan = plan_space(NetSpec(resolution=128), 0, 20)
    assert MIN_RESOLUTION <= plan.spec.resolution < 128
    assert plan.table.macs(plan.smallest) <= 20


def test_impossible_ranges_state_the_smallest_and_largest():
    with pytest.raises(CreamError, match=r"smallest net needs \d.*largest \d"):
        plan_space(SMALL, 0, 0.5)
    with pytest.raises(CreamError, match=r"largest net needs only \d.*smallest"):
        plan_space(SMALL, 500, 1000)
    with pytest.raises(CreamError, match=r"too narrow: the depths grown to fit flops_max, \[.*\], reach at most"):
        plan_space(SMALL, 7.9, 8)
    with pytest.raises(CreamError, match="empty"):
        plan_space(SMALL, 9, 8)

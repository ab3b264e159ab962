import pytest

from cream.errors import CreamError
from cream.space import Arch, NetSpec
from cream.space.budget import MIN_RESOLUTION, PAPER_BLOCK_MACS, grow_depths, paper_depths, plan_space
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


# The paper's code (search_for_layer) run on its own table, outside cream: budget -> (depths, logged resolution).
PAPER_CODE_DEPTHS = {600: ((4, 4, 4, 4, 4), 224), 481: ((2, 4, 4, 4, 4), 224), 400: ((2, 2, 4, 4, 3), 224),
                     287: ((1, 1, 3, 3, 3), 224), 200: ((1, 1, 3, 2, 1), 224), 114: ((1, 1, 1, 1, 1), 224),
                     43: ((1, 1, 1, 1, 1), 160), 14: ((1, 1, 1, 1, 1), 96)}


@pytest.mark.parametrize("budget", sorted(PAPER_CODE_DEPTHS))
def test_paper_depth_rule_on_the_papers_table(budget):
    assert paper_depths(PAPER_BLOCK_MACS, 0, budget) == PAPER_CODE_DEPTHS[budget]


def uniform_blocks(first, further):
    """A table where every op of every stage costs the same."""
    return tuple(tuple((first, further) for _ in range(6)) for _ in range(5))


def test_paper_depth_rule_stops_at_the_first_block_that_does_not_fit():
    blocks = [list(stage) for stage in uniform_blocks(1, 1)]
    blocks[2] = [(1, 100)] * 6  # stage 2 grows first and cannot: the rule stops there, every other stage stays 1
    assert paper_depths(blocks, 0, 10) == ((1, 1, 1, 1, 1), 224)
    # by hand: 5 M to start; stage 2 to 3, stage 3 to 3, stage 4 to 3, stage 1 to 2, stage 0 to 2 (+9), then all to 4
    assert paper_depths(uniform_blocks(1, 1), 0, 13) == ((2, 2, 3, 3, 3), 224)
    assert paper_depths(uniform_blocks(1, 1), 0, 16) == ((2, 2, 4, 4, 4), 224)
    assert paper_depths(uniform_blocks(1, 1), 0, 1e9) == ((4, 4, 4, 4, 4), 224)


def test_paper_depth_rule_grows_to_flops_min_first():
    # 5 M to start; stage 2 -> 3 (7 M), stage 3 -> 2 (8 M) reaches flops_min; then stage 3 -> 3 (9), stage 4 -> 2 (10)
    assert paper_depths(uniform_blocks(1, 1), 8, 10) == ((1, 1, 3, 3, 2), 224)
    blocks = [list(stage) for stage in uniform_blocks(1, 1)]
    blocks[2] = [(1, 4)] * 6  # growing to flops_min 8 takes stage 2 to 9 M, over flops_max, and keeps it
    assert paper_depths(blocks, 8, 8.5) == ((1, 1, 2, 1, 1), 224)


def test_paper_depth_rule_scales_the_budget_compounding_as_if_the_resolution_fell():
    # one block per stage is 15 M; fmax 10 becomes 10 * 7/6 = 11.67, then * 7/5 = 16.33 (not 10 * 7/5 = 14): 160 px
    assert paper_depths(uniform_blocks(3, 1), 0, 10) == ((1, 1, 2, 1, 1), 160)
    # fmax 1 scaled by 7/6 * 7/5 * 7/4 * 7/3 * 7/2 = 23.3 at 64 px: 15 M, then eight blocks of 1 M fit
    assert paper_depths(uniform_blocks(3, 1), 0, 1) == ((2, 2, 3, 3, 3), 64)
    assert paper_depths(uniform_blocks(3, 1), 0, 0.05) is None  # still over at 32 px: the code gives up


def test_paper_depth_rule_through_plan_space():
    paper = NetSpec()  # the paper's layout reads the paper's table
    assert plan_space(paper, 0, 481, depth_rule="paper").depths == (2, 4, 4, 4, 4)
    assert plan_space(paper, 0, 481).depths != (2, 4, 4, 4, 4)  # the greedy default
    # the paper's table: one k7 e6 block per stage is 121.02 M, and stage 2's second block (20.28 M) breaks 140
    assert plan_space(paper, 0, 140, depth_rule="paper").depths == (1, 1, 1, 1, 1)
    small = plan_space(SMALL, 0, 8, depth_rule="paper")  # elsewhere our measured table, searchable blocks only
    blocks = [[(stage[0][op], stage[1][op]) for op in range(6)] for stage in small.table.block_macs]
    assert small.depths == paper_depths(blocks, 0, 8)[0]
    assert small.spec.resolution == 28 and max(small.depths) <= 4
    with pytest.raises(CreamError, match="logs 160 px for this budget but trains at 224"):
        plan_space(paper, 0, 43, depth_rule="paper")

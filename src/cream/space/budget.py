"""Choose per-stage depths (and, if needed, a lower resolution) from a FLOPs budget, and from a latency budget
when a latency table is given: by our greedy rule (the default) or by the rule of the paper's code."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal

from cream.errors import CreamError
from cream.space.arch import NUM_OPS, Arch
from cream.space.flops import FlopsTable, measure_table
from cream.space.latency_table import LatencyTable, load_latency_table, make_command
from cream.space.net import NetSpec
from cream.space.supernet import MAX_DEPTHS

GROW_ORDER = (2, 3, 4, 1, 0)  # stages grow in this order, one block per turn
RESOLUTION_STEP = 32  # when even the smallest net is too big, drop the resolution by this much
MIN_RESOLUTION = 64

DepthRule = Literal["greedy", "paper"]
# The rule of the paper's code (microsoft/Cream, lib/utils/search_structure_supernet.py, search_for_layer):
# (stage, depth) in the order stages are filled, one stage at a time; it stops at the first block that does not fit.
PAPER_GROWTH = ((2, 3), (3, 3), (4, 3), (1, 2), (0, 2), (2, 4), (3, 4), (4, 4), (1, 4), (0, 4))
# Its table (lib/utils/op_by_layer_dict.py): million multiply-adds (ptflops) of the searchable blocks only at
# 224 px, width 1, as (first block of the stage, each further block) for ops 0..5 of stages 0..4.
PAPER_BLOCK_MACS = (
    ((21.828704, 18.820752), (32.669328, 28.16048), (25.039968, 23.637648), (37.486224, 35.385824),
     (29.856864, 30.862992), (44.711568, 46.22384)),
    ((11.808656, 11.86712), (17.68624, 17.780848), (13.01288, 13.87416), (19.492576, 20.791408),
     (14.819216, 16.88472), (22.20208, 25.307248)),
    ((8.198, 10.99632), (12.292848, 16.5172), (8.69976, 11.99984), (13.045488, 18.02248), (9.4524, 13.50512),
     (14.174448, 20.2804)),
    ((12.006112, 15.61632), (18.028752, 23.46096), (13.009632, 16.820544), (19.534032, 25.267296),
     (14.514912, 18.62688), (21.791952, 27.9768)),
    ((11.307456, 15.292416), (17.007072, 23.1504), (11.608512, 15.894528), (17.458656, 24.053568),
     (12.060096, 16.797696), (18.136032, 25.40832)),
)


@dataclass(frozen=True)
class SpacePlan:
    """The searchable space for one budget: its layout, depths, FLOPs table and the range it covers, and the
    latency table and range when there is one."""

    spec: NetSpec
    depths: tuple[int, ...]
    table: FlopsTable
    flops_min: float
    flops_max: float  # math.inf: no multiply-add limit
    latency: LatencyTable | None = None
    latency_min: float = 0.0
    latency_max: float = math.inf
    elastic_depth: bool = False  # a path may use the first 1..depths[s] blocks of stage s (Once-for-All)

    @property
    def min_depths(self) -> tuple[int, ...]:
        """The fewest blocks per stage a path may have."""
        return (1,) * len(self.depths) if self.elastic_depth else self.depths

    def draw_depths(self, rng) -> tuple[int, ...]:
        """A path's depths: the plan's, or with elastic depth each stage's drawn uniformly from 1..its depth."""
        return tuple(rng.randint(1, d) for d in self.depths) if self.elastic_depth else self.depths

    @property
    def smallest(self) -> Arch:
        return Arch.uniform(self.min_depths, 0)

    @property
    def largest(self) -> Arch:
        return Arch.uniform(self.depths, NUM_OPS - 1)

    @property
    def num_paths(self) -> int:
        return math.prod(sum(NUM_OPS ** d for d in range(low, high + 1))
                         for low, high in zip(self.min_depths, self.depths))

    def in_budget(self, arch: Arch) -> bool:
        if not self.flops_min <= self.table.macs(arch) <= self.flops_max:
            return False
        return self.latency is None or self.latency_min <= self.latency.ms(arch) <= self.latency_max

    def reachable(self, depths) -> bool:
        """Whether some path of these depths may lie in the budget: its cheapest ops not above the limits, its
        dearest not below the floors (a cheap test that lets tight budgets draw depths before ops)."""
        cheap, dear = Arch.uniform(depths, 0), Arch.uniform(depths, NUM_OPS - 1)
        if self.table.macs(cheap) > self.flops_max or self.table.macs(dear) < self.flops_min:
            return False
        latency = self.latency
        return latency is None or (latency.ms(latency.fastest(depths)) <= self.latency_max
                                   and latency.ms(latency.slowest(depths)) >= self.latency_min)

    def cost(self, arch: Arch) -> float:
        """What breaks ties between equally accurate paths: predicted ms with a latency table, else M multiply-adds."""
        return self.latency.ms(arch) if self.latency is not None else self.table.macs(arch)

    def with_budget(self, flops_min: float = 0.0, flops_max: float | None = None, latency_min: float = 0.0,
                    latency_max: float | None = None) -> SpacePlan:
        """The same space (depths, net, tables) under another budget, checked as plan_space checks one; a limit of
        None is no limit."""
        flops_max = math.inf if flops_max is None else flops_max
        latency_max = math.inf if latency_max is None else latency_max
        _check_range(flops_min, flops_max)
        _check_range(latency_min, latency_max, ("latency_min", "latency_max"), "milliseconds", "latency")
        plan = replace(self, flops_min=flops_min, flops_max=flops_max, latency_min=latency_min,
                       latency_max=latency_max)
        _check_feasible(plan)
        return plan

    def budget_text(self) -> str:
        flops = f"[{self.flops_min:g}, {self.flops_max:g}] M multiply-adds"
        if self.latency is None:
            return flops
        latency = f"[{self.latency_min:g}, {self.latency_max:g}] ms predicted latency"
        return latency if (self.flops_min, self.flops_max) == (0, math.inf) else f"{flops} and {latency}"


def plan_from_config(space, device=None, channels_last: bool | None = None, bf16: bool | None = None) -> SpacePlan:
    """The plan a ``space`` config section asks for; its latency table must match the net and, unless
    ``space.latency_any_device``, this run's device and format."""
    spec = NetSpec.from_config(space)
    latency = None
    if space.latency_table:
        device = None if space.latency_any_device else device
        latency = load_latency_table(space.latency_table, spec, device, channels_last, bf16)
    elif space.latency_min or space.latency_max is not None:  # as plan_space, but with the keys and the device
        raise CreamError("space.latency_min and space.latency_max need space.latency_table=FILE; make one with: "
                         + make_command(spec, device.type if device is not None else "cpu"))
    return plan_space(spec, space.flops_min, space.flops_max, space.depths, latency, space.latency_min,
                      space.latency_max, space.depth_rule, space.elastic_depth)


def grow_depths(table: FlopsTable, flops_max: float, op: int = NUM_OPS - 1, latency: LatencyTable | None = None,
                latency_max: float = math.inf) -> tuple[int, ...]:
    """Add blocks stage by stage in GROW_ORDER while the all-``op`` path (by default the largest) still fits
    under ``flops_max`` and, with a latency table, the slowest path under ``latency_max``."""
    depths = [1] * len(MAX_DEPTHS)
    grew = True
    while grew:
        grew = False
        for s in GROW_ORDER:
            if depths[s] == MAX_DEPTHS[s]:
                continue
            depths[s] += 1
            fits = table.macs(Arch.uniform(depths, op)) <= flops_max
            if fits and (latency is None or latency.ms(latency.slowest(depths)) <= latency_max):
                grew = True
            else:
                depths[s] -= 1
    return tuple(depths)


def paper_depths(blocks, flops_min: float, flops_max: float) -> tuple[tuple[int, ...], int] | None:
    """Depths by the rule of the paper's code, and the resolution that code logs (it trains at 224 px whatever
    it logs), or None where that code gives up.

    ``blocks[s][op]`` = (first block, each further block) million multiply-adds of searchable stage ``s``; the
    stem, fixed blocks and head are not counted. When even one block per stage of op 0 is over ``flops_max``, the
    code scales both limits by 7/6, then 7/5 and so on (compounding) as if the resolution fell from 224 px in
    32 px steps; when the largest op's net is under ``flops_min``, it first grows stages in PAPER_GROWTH until
    it is not. Then it fills stages in PAPER_GROWTH with the largest op until a block does not fit."""
    depths = [1] * len(blocks)
    size = 7  # resolution / 32
    total = sum(stage[-1][0] for stage in blocks)  # one block per stage of the largest op
    smallest = sum(stage[0][0] for stage in blocks)  # one block per stage of op 0
    if smallest > flops_max:
        while smallest > flops_max and size >= 2:
            size -= 1
            flops_min, flops_max = flops_min * 7 / size, flops_max * 7 / size
        if size < 2:
            return None
    elif total < flops_min:
        step = 0
        while total < flops_min and step < len(PAPER_GROWTH):
            stage, depth = PAPER_GROWTH[step]
            if depths[stage] >= depth:
                step += 1
                continue
            total += blocks[stage][-1][1]
            depths[stage] += 1
        if step > 7 and total < flops_min:
            return None
    for stage, depth in PAPER_GROWTH:
        while depths[stage] < depth:
            total += blocks[stage][-1][1]
            if total > flops_max:
                return tuple(depths), size * 32
            depths[stage] += 1
    return tuple(depths), size * 32


def paper_rule_table(spec: NetSpec, table: FlopsTable):
    """The (first, further) block table the paper's rule reads: the paper's own for its layout (224 px, width 1,
    its strides), else ours, measured on this net."""
    if (spec.resolution, spec.width, spec.strides) == (224, 1.0, NetSpec().strides):
        return PAPER_BLOCK_MACS
    return tuple(tuple((stage[0][op], stage[1][op]) for op in range(NUM_OPS)) for stage in table.block_macs)


def _check_range(low, high, names=("flops_min", "flops_max"), unit="million multiply-adds", what="FLOPs"):
    for name, value in zip(names, (low, high)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value or value < 0:
            raise CreamError(f"{name} must be a non-negative number of {unit}, got {value!r}")
    if low > high:
        raise CreamError(f"{what} range is empty: {names[0]}={low} is above {names[1]}={high}")


def plan_space(spec: NetSpec, flops_min: float, flops_max: float | None, depths=None,
               latency: LatencyTable | None = None, latency_min: float = 0.0,
               latency_max: float | None = None, depth_rule: DepthRule = "greedy",
               elastic_depth: bool = False) -> SpacePlan:
    """Depths (from the budget unless given) and resolution for [flops_min, flops_max] M multiply-adds and, with
    a latency table, [latency_min, latency_max] ms of predicted latency. A limit of None is no limit.

    ``depth_rule``: "greedy" grows every stage in turn while the whole largest net fits, up to MAX_DEPTHS, and
    lowers the resolution when needed; "paper" is the paper's code (``paper_depths``): the resolution stays.
    ``elastic_depth``: paths may also be shallower than the depths found (which only widens what they cover)."""
    if latency is None and (latency_min or latency_max is not None):
        raise CreamError("latency_min and latency_max need a latency table (--latency-table FILE, or "
                         f"space.latency_table=FILE); make one with: {make_command(spec, 'cpu')}")
    flops_max = math.inf if flops_max is None else flops_max
    latency_max = math.inf if latency_max is None else latency_max
    _check_range(flops_min, flops_max)
    _check_range(latency_min, latency_max, ("latency_min", "latency_max"), "milliseconds", "latency")
    table = measure_table(spec)
    if depths is not None:
        depths = Arch.uniform(depths, 0).depths  # validates
        plan = SpacePlan(spec, depths, table, flops_min, flops_max, latency, latency_min, latency_max, elastic_depth)
        _check_feasible(plan)
        return plan
    if depth_rule == "paper":
        return _paper_plan(spec, table, flops_min, flops_max, latency, latency_min, latency_max, elastic_depth)
    smallest_at_spec = table.macs(Arch.uniform([1] * len(MAX_DEPTHS), 0))
    largest_at_spec = table.macs(Arch.uniform(MAX_DEPTHS, NUM_OPS - 1))
    trial_spec, trial_table = spec, table
    while trial_table.macs(Arch.uniform([1] * len(MAX_DEPTHS), 0)) > flops_max:
        lower = trial_spec.resolution - RESOLUTION_STEP
        if lower < MIN_RESOLUTION:
            smallest = trial_table.macs(Arch.uniform([1] * len(MAX_DEPTHS), 0))
            raise CreamError(
                f"FLOPs range [{flops_min:g}, {flops_max:g}] M is impossible: the smallest net needs "
                f"{smallest:.2f} M (at {trial_spec.resolution} px) and the largest {largest_at_spec:.2f} M "
                f"(at {spec.resolution} px); raise flops_max or lower the width"
            )
        trial_spec = _at_resolution(trial_spec, lower)
        trial_table = measure_table(trial_spec)
    spec, table = trial_spec, trial_table
    if latency is not None:
        _check_latency_reach(spec, latency, latency_min, latency_max)
    plan = SpacePlan(spec, grow_depths(table, flops_max, latency=latency, latency_max=latency_max), table,
                     flops_min, flops_max, latency, latency_min, latency_max, elastic_depth)
    if largest_at_spec < flops_min:
        raise CreamError(
            f"FLOPs range [{flops_min:g}, {flops_max:g}] M is impossible: the largest net needs only "
            f"{largest_at_spec:.2f} M and the smallest {smallest_at_spec:.2f} M at {spec.resolution} px; "
            "lower flops_min or raise the resolution or width"
        )
    if table.macs(plan.largest) < flops_min:
        raise CreamError(
            f"FLOPs range [{flops_min:g}, {flops_max:g}] M is too narrow: the depths grown to fit flops_max, "
            f"{list(plan.depths)}, reach at most {table.macs(plan.largest):.2f} M; lower flops_min or set "
            "space.depths"
        )
    if latency is not None and latency.ms(latency.slowest(plan.depths)) < latency_min:
        raise CreamError(
            f"latency range [{latency_min:g}, {latency_max:g}] ms is too narrow: the depths grown to fit the budget, "
            f"{list(plan.depths)}, reach at most {latency.ms(latency.slowest(plan.depths)):.3g} ms; lower "
            "latency_min or set space.depths"
        )
    return plan


def _paper_plan(spec, table, flops_min, flops_max, latency, latency_min, latency_max, elastic_depth) -> SpacePlan:
    if latency is not None:
        raise CreamError("space.depth_rule=paper grows depths from multiply-adds only; use depth_rule=greedy with a "
                         "latency budget")
    found = paper_depths(paper_rule_table(spec, table), flops_min, flops_max)
    if found is None:
        raise CreamError(f"the paper's depth rule finds no depths for [{flops_min:g}, {flops_max:g}] M multiply-adds "
                         "(it gives up there); change the range or use space.depth_rule=greedy")
    depths, logged_px = found
    plan = SpacePlan(spec, depths, table, flops_min, flops_max, elastic_depth=elastic_depth)
    try:
        _check_feasible(plan)
    except CreamError as e:
        if logged_px >= spec.resolution:
            raise
        raise CreamError(f"{e} (the paper's code logs {logged_px} px for this budget but trains at "
                         f"{spec.resolution}; set the resolution to {logged_px})") from None
    return plan


def _check_latency_reach(spec: NetSpec, latency: LatencyTable, latency_min: float, latency_max: float) -> None:
    if latency.resolution != spec.resolution:
        raise CreamError(
            f"the multiply-add budget lowers the resolution to {spec.resolution} px, but the latency table is for "
            f"{latency.resolution} px; raise flops_max, or make a table at {spec.resolution} px (cream latency-table)"
        )
    fastest = latency.ms(latency.fastest([1] * len(MAX_DEPTHS)))
    slowest = latency.ms(latency.slowest(MAX_DEPTHS))
    where = f"predicted on {latency.describe()}"
    if fastest > latency_max:
        raise CreamError(
            f"latency range [{latency_min:g}, {latency_max:g}] ms is impossible: the fastest net takes {fastest:.3g} "
            f"ms ({where}); raise latency_max, or make a table at a lower resolution or width"
        )
    if slowest < latency_min:
        raise CreamError(
            f"latency range [{latency_min:g}, {latency_max:g}] ms is impossible: the slowest net takes only "
            f"{slowest:.3g} ms ({where}); lower latency_min"
        )


def _at_resolution(spec: NetSpec, resolution: int) -> NetSpec:
    try:
        return replace(spec, resolution=resolution)
    except CreamError:
        raise CreamError(f"no resolution down to {MIN_RESOLUTION} px fits the budget with these strides") from None


def _check_feasible(plan: SpacePlan) -> None:
    low, high = plan.table.macs(plan.smallest), plan.table.macs(plan.largest)
    if high < plan.flops_min or low > plan.flops_max:
        raise CreamError(
            f"FLOPs range [{plan.flops_min:g}, {plan.flops_max:g}] M holds no path at depths {plan.depths}: "
            f"they cover {low:.2f}..{high:.2f} M; change the range or the depths"
        )
    latency = plan.latency
    if latency is None:
        return
    low, high = latency.ms(latency.fastest(plan.min_depths)), latency.ms(latency.slowest(plan.depths))
    if high < plan.latency_min or low > plan.latency_max:
        raise CreamError(
            f"latency range [{plan.latency_min:g}, {plan.latency_max:g}] ms holds no path at depths {plan.depths}: "
            f"they cover {low:.3g}..{high:.3g} ms (predicted); change the range or the depths"
        )

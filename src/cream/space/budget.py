"""Choose per-stage depths (and, if needed, a lower resolution) from a FLOPs budget, as the paper does."""

from __future__ import annotations

from dataclasses import dataclass, replace

from cream.errors import CreamError
from cream.space.arch import NUM_OPS, Arch
from cream.space.flops import FlopsTable, measure_table
from cream.space.net import NetSpec
from cream.space.supernet import MAX_DEPTHS

GROW_ORDER = (2, 3, 4, 1, 0)  # stages grow in this order, one block per turn
RESOLUTION_STEP = 32  # when even the smallest net is too big, drop the resolution by this much
MIN_RESOLUTION = 64


@dataclass(frozen=True)
class SpacePlan:
    """The searchable space for one budget: its layout, depths, FLOPs table and the range it covers."""

    spec: NetSpec
    depths: tuple[int, ...]
    table: FlopsTable
    flops_min: float
    flops_max: float

    @property
    def smallest(self) -> Arch:
        return Arch.uniform(self.depths, 0)

    @property
    def largest(self) -> Arch:
        return Arch.uniform(self.depths, NUM_OPS - 1)

    @property
    def num_paths(self) -> int:
        return NUM_OPS ** sum(self.depths)

    def in_budget(self, arch: Arch) -> bool:
        return self.flops_min <= self.table.macs(arch) <= self.flops_max


def grow_depths(table: FlopsTable, flops_max: float, op: int = NUM_OPS - 1) -> tuple[int, ...]:
    """Add blocks stage by stage in GROW_ORDER while the all-``op`` path (by default the largest) still fits
    under ``flops_max``."""
    depths = [1] * len(MAX_DEPTHS)
    grew = True
    while grew:
        grew = False
        for s in GROW_ORDER:
            if depths[s] == MAX_DEPTHS[s]:
                continue
            depths[s] += 1
            if table.macs(Arch.uniform(depths, op)) <= flops_max:
                grew = True
            else:
                depths[s] -= 1
    return tuple(depths)


def _check_range(flops_min, flops_max):
    for name, value in (("flops_min", flops_min), ("flops_max", flops_max)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value or value < 0:
            raise CreamError(f"{name} must be a non-negative number of million multiply-adds, got {value!r}")
    if flops_min > flops_max:
        raise CreamError(f"FLOPs range is empty: flops_min={flops_min} is above flops_max={flops_max}")


def plan_space(spec: NetSpec, flops_min: float, flops_max: float, depths=None) -> SpacePlan:
    """Depths (from the budget unless given) and resolution for [flops_min, flops_max] M multiply-adds."""
    _check_range(flops_min, flops_max)
    table = measure_table(spec)
    if depths is not None:
        depths = Arch.uniform(depths, 0).depths  # validates
        plan = SpacePlan(spec, depths, table, flops_min, flops_max)
        _check_feasible(plan)
        return plan
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
    plan = SpacePlan(spec, grow_depths(table, flops_max), table, flops_min, flops_max)
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
    return plan


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

"""SPOS's evolution and random search over one budget, with planted score functions standing in for search-val."""

import random
import statistics
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cream.errors import CreamError
from cream.nas.evolution import EvolutionSizes, crossover, evolve, mutate, random_search, search_budget
from cream.space import Arch, NetSpec
from cream.space.budget import plan_space
from cream.space.latency_table import parse_latency_table
from cream.space.supernet import MAX_DEPTHS
from tests.latency_tables import table_json

SPEC = NetSpec(resolution=28, in_chans=1, num_classes=10, width=0.5)  # the net of tests/latency_tables.py
LATENCY = parse_latency_table(table_json())
WHOLE = plan_space(SPEC, 0, None, MAX_DEPTHS, LATENCY)  # measured once; spaces below are parts of it
SMALL = EvolutionSizes(population=6, top_k=2, mutations=3, crossovers=2, generations=3)


def space(depths, elastic=False, **budget):
    return replace(WHOLE, depths=tuple(depths), elastic_depth=elastic).with_budget(**budget)


def hashed_score(arch: Arch) -> float:
    """A score with no structure, fixed per path."""
    return random.Random(str(arch)).random()


def valid_in(plan, arch: Arch) -> bool:
    return (plan.in_budget(arch) and all(low <= d <= high for d, low, high in
                                         zip(arch.depths, plan.min_depths, plan.depths)))


@st.composite
def budgets(draw):
    """A space (depths, elastic or not) and a multiply-add or latency budget somewhere inside what it covers."""
    depths = [draw(st.integers(1, m)) for m in MAX_DEPTHS]
    plan = replace(WHOLE, depths=tuple(depths), elastic_depth=draw(st.booleans()))
    low, high = draw(st.floats(0, 1)), draw(st.floats(0, 1))
    low, high = min(low, high), max(low, high)
    if draw(st.booleans()):
        cheap, dear = plan.table.macs(plan.smallest), plan.table.macs(plan.largest)
        edges = {"flops_min": cheap + low * (dear - cheap), "flops_max": cheap + high * (dear - cheap)}
    else:
        fast = LATENCY.ms(LATENCY.fastest(plan.min_depths))
        slow = LATENCY.ms(LATENCY.slowest(plan.depths))
        edges = {"latency_min": fast + low * (slow - fast), "latency_max": fast + high * (slow - fast)}
    return plan.with_budget(**edges)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plan=budgets(), method=st.sampled_from(["evolution", "random"]), seed=st.integers(0, 3))
def test_no_path_proposed_or_returned_lies_outside_the_budget_or_the_supernets_depths(plan, method, seed):
    proposed = []

    def score(arch):
        proposed.append(arch)
        return hashed_score(arch)

    try:
        trace = search_budget(score, plan, method, SMALL, seed)
    except CreamError as e:  # a budget so narrow that random draws miss it: said, never a path outside
        assert "no path lies within" in str(e) and not proposed
        return
    assert proposed and all(valid_in(plan, arch) for arch in proposed)
    assert len(set(proposed)) == len(proposed)  # each path scored once
    assert valid_in(plan, trace.best[0]) and trace.best[1] == max(map(hashed_score, proposed))
    assert len(proposed) <= SMALL.evaluations


def test_a_seed_gives_the_same_search_and_another_seed_another():
    plan = space((2, 2, 3, 2, 2), elastic=True, flops_max=6)
    runs = [evolve(hashed_score, plan, SMALL, seed).scored for seed in (0, 0, 1)]
    assert runs[0] == runs[1] and runs[0] != runs[2]
    assert random_search(hashed_score, plan, 10, 3).scored == random_search(hashed_score, plan, 10, 3).scored


@pytest.mark.parametrize("elastic", [False, True])
def test_mutants_and_crossovers_are_architectures_of_the_space(elastic):
    plan = space((3, 4, 5, 2, 6), elastic=elastic)
    rng, mixes, depths_of_b = random.Random(0), 0, 0
    for _ in range(200):
        a, b = (Arch.random(plan.draw_depths(rng), rng) for _ in range(2))
        child = mutate(a, plan, rng, 0.3)
        assert all(low <= d <= high for d, low, high in zip(child.depths, plan.min_depths, plan.depths))
        if not elastic:
            assert child.depths == a.depths
        mixed = crossover(a, b, rng)
        for s, ops in enumerate(mixed.stages):
            assert len(ops) in (a.depths[s], b.depths[s])
            assert all(op in [p.stages[s][i] for p in (a, b) if i < p.depths[s]] for i, op in enumerate(ops))
        mixes += mixed not in (a, b)
        depths_of_b += any(len(ops) == d != e for ops, d, e in zip(mixed.stages, b.depths, a.depths))
    assert mixes > 150  # genes of both parents
    assert depths_of_b > 50 if elastic else depths_of_b == 0
    assert mutate(a, plan, rng, 0.0) == a
    changed = sum(mutate(a, plan, rng, 1.0) != a for _ in range(20))
    assert changed >= 19  # every op redrawn: the same path again is (1/6)^blocks unlikely


def test_evolution_finds_a_planted_best_op_sooner_than_random_search():
    """One op is best: a path scores the share of its blocks using it. After the same number of evaluations,
    evolution's best is far closer to all-op-5 than random search's, over several seeds."""
    plan = space((2, 2, 3, 2, 2), flops_max=8)

    def share_of_op_5(arch):
        ops = [op for stage in arch.stages for op in stage]
        return ops.count(5) / len(ops)

    sizes = EvolutionSizes(population=8, top_k=3, mutations=4, crossovers=4, generations=12)  # 96 evaluations
    blocks = 11
    evolved = [blocks * evolve(share_of_op_5, plan, sizes, seed).best[1] for seed in range(8)]
    drawn = [blocks * random_search(share_of_op_5, plan, sizes.evaluations, seed).best[1] for seed in range(8)]
    # random search's best of 96 paths: about 5 of 11 blocks on op 5 (P(>= 7) is below 1% per path)
    assert statistics.mean(evolved) >= statistics.mean(drawn) + 2
    assert sum(e > d for e, d in zip(evolved, drawn)) >= 6


def test_evolution_stops_when_the_budget_holds_no_more_new_paths():
    plan = space((1, 1, 1, 1, 1), flops_max=WHOLE.table.macs(Arch.uniform((1,) * 5, 0)) + 1e-9)
    trace = evolve(hashed_score, plan, SMALL, 0)
    assert [str(a) for a, _ in trace.scored] == ["0-0-0-0-0"]  # the one path that fits, scored once


def test_an_unknown_method_and_an_unreachable_budget_are_clear_errors():
    plan = space((2, 2, 3, 2, 2), flops_max=8)
    with pytest.raises(CreamError, match="must be one of evolution, random, got 'grid'"):
        search_budget(hashed_score, plan, "grid", SMALL)
    narrow = replace(plan, flops_min=5.0000001, flops_max=5.0000002)
    with pytest.raises(CreamError, match=r"^no path lies within \[5, 5\] M multiply-adds.* after 20000 random draws"):
        evolve(hashed_score, narrow, SMALL)


def test_a_tight_budget_in_an_elastic_space_draws_the_few_depths_that_fit():
    """Of 4,500 depth choices only the shallowest fits 0.3% over the cheapest path: drawn among the depths that
    can reach the budget, its paths are found at once (rejecting whole draws would need millions)."""
    cheapest = WHOLE.table.macs(Arch.uniform((1,) * 5, 0))
    plan = space(MAX_DEPTHS, elastic=True, flops_max=cheapest * 1.003)
    trace = evolve(hashed_score, plan, SMALL, 0)
    assert trace.scored and all(arch.depths == (1,) * 5 and plan.in_budget(arch) for arch, _ in trace.scored)

"""Searching a trained supernet for the best path of one budget: SPOS's evolution, and random search.

SPOS (Guo et al., 2020, "Single Path One-Shot Neural Architecture Search with Uniform Sampling", section 3.4
and its code's search.py): a population drawn in budget; each generation keeps the top-k paths scored so far,
breeds mutants (each gene redrawn with a small probability) and crossovers (each gene from one of two parents)
of them, fills up with random paths, and scores only paths not scored before. Every path it proposes lies in
the budget. Random search draws the same number of distinct in-budget paths.

Both are pure: ``score(arch) -> float`` stands in for search-val accuracy, and ``space`` is anything with a
SpacePlan's ``depths``, ``min_depths``, ``elastic_depth``, ``reachable(depths)``, ``in_budget(arch)`` and
``budget_text()``.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from cream.errors import CreamError
from cream.space.arch import NUM_OPS, Arch

METHODS = ("evolution", "random")
DRAWS_PER_PATH = 1000  # random draws allowed per in-budget path wanted ...
MIN_DRAWS = 20_000     # ... and at least this many for the first ones, before a budget is called unreachable
TRIES_PER_CHILD = 10   # mutation / crossover attempts per child wanted (SPOS: 10)


@dataclass(frozen=True)
class EvolutionSizes:
    """How much evolution does; SPOS's own: population 50, top-k 10, 25 mutants, 25 crossovers, 20 generations,
    mutation probability 0.1 (1,000 paths scored)."""

    population: int = 50
    top_k: int = 10
    mutations: int = 25
    crossovers: int = 25
    generations: int = 20
    mutation_prob: float = 0.1

    @property
    def evaluations(self) -> int:
        """The most paths it scores: a population per generation."""
        return self.population * self.generations


@dataclass
class Trace:
    """Every path a method scored, in order, with its score."""

    scored: list[tuple[Arch, float]] = field(default_factory=list)

    @property
    def best(self) -> tuple[Arch, float]:
        """The highest score; the first one scored among equals."""
        return max(self.scored, key=lambda item: item[1])

    def curve(self) -> list[float]:
        """The best score found after each evaluation."""
        best, out = float("-inf"), []
        for _, value in self.scored:
            best = max(best, value)
            out.append(best)
        return out


def random_path(space, rng: random.Random, draws: int = MIN_DRAWS) -> Arch | None:
    """A uniformly drawn path inside the budget, or None after ``draws`` misses."""
    choices = depth_choices(space)
    found = _new_paths(lambda: _draw(choices, rng), space, 1, draws, {}) if choices else []
    return found[0] if found else None


def depth_choices(space) -> list[tuple[int, ...]]:
    """The depths a path may have (the supernet's; with elastic depth, 1..d blocks per stage) that can reach the
    budget: drawing among these first keeps a tight budget from rejecting almost every draw."""
    ranges = [range(low, high + 1) for low, high in zip(space.min_depths, space.depths)]
    return [depths for depths in itertools.product(*ranges) if space.reachable(depths)]


def _draw(choices: list[tuple[int, ...]], rng: random.Random) -> Arch:
    """A path of depths drawn uniformly from ``choices`` and ops drawn uniformly: uniform over the space's paths
    that can reach the budget; it may still lie outside it."""
    return Arch.random(rng.choice(choices), rng)


def mutate(arch: Arch, space, rng: random.Random, prob: float) -> Arch:
    """Each op redrawn with probability ``prob``; with elastic depth each stage's depth too (blocks it gains get
    random ops). The result may lie outside the budget: callers check."""
    stages = []
    for ops, deepest in zip(arch.stages, space.depths):
        depth = rng.randint(1, deepest) if space.elastic_depth and rng.random() < prob else len(ops)
        kept = [rng.randrange(NUM_OPS) if rng.random() < prob else op for op in ops[:depth]]
        stages.append(tuple(kept + [rng.randrange(NUM_OPS) for _ in range(depth - len(kept))]))
    return Arch(tuple(stages))


def crossover(a: Arch, b: Arch, rng: random.Random) -> Arch:
    """Each stage's depth from one parent or the other, each block's op likewise (from the parent that has the
    block, when only one does). The result may lie outside the budget: callers check."""
    stages = []
    for ops_a, ops_b in zip(a.stages, b.stages):
        depth = rng.choice((len(ops_a), len(ops_b)))
        stages.append(tuple(rng.choice([ops[i] for ops in (ops_a, ops_b) if i < len(ops)]) for i in range(depth)))
    return Arch(tuple(stages))


class _Scorer:
    """Scores each path once and remembers the order."""

    def __init__(self, score: Callable[[Arch], float]):
        self.score, self.trace, self.seen = score, Trace(), {}

    def __call__(self, arch: Arch) -> None:
        if arch not in self.seen:
            self.seen[arch] = float(self.score(arch))
            self.trace.scored.append((arch, self.seen[arch]))


def _new_paths(make: Callable[[], Arch | None], space, want: int, tries: int, taken: dict) -> list[Arch]:
    """Up to ``want`` distinct in-budget paths not in ``taken`` from ``make``, within ``tries`` calls."""
    found: list[Arch] = []
    for _ in range(tries):
        if len(found) == want:
            break
        arch = make()
        if arch is not None and space.in_budget(arch) and arch not in taken and arch not in found:
            found.append(arch)
    return found


def _unreachable(space, draws: int) -> CreamError:
    return CreamError(f"no path lies within {space.budget_text()} after {draws} random draws; widen the range")


def _breed(parents: list[Arch], space, choices: list[tuple[int, ...]], sizes: EvolutionSizes, rng: random.Random,
           scored: dict) -> list[Arch]:
    """The next generation: mutants and crossovers of ``parents``, then random paths up to the population; all
    distinct, in budget and not yet ``scored``."""
    mutants = _new_paths(lambda: mutate(rng.choice(parents), space, rng, sizes.mutation_prob), space,
                         sizes.mutations, sizes.mutations * TRIES_PER_CHILD, scored)
    children = mutants + _new_paths(lambda: crossover(rng.choice(parents), rng.choice(parents), rng), space,
                                    sizes.crossovers, sizes.crossovers * TRIES_PER_CHILD,
                                    {**scored, **dict.fromkeys(mutants)})
    fill = max(sizes.population - len(children), 0)
    return children + _new_paths(lambda: _draw(choices, rng), space, fill, fill * DRAWS_PER_PATH,
                                 {**scored, **dict.fromkeys(children)})


def evolve(score: Callable[[Arch], float], space, sizes: EvolutionSizes, seed: int = 0) -> Trace:
    """SPOS's evolutionary search for the path of ``space`` with the highest ``score``."""
    rng, choices = random.Random(seed), depth_choices(space)
    scorer = _Scorer(score)
    draws = max(sizes.population * DRAWS_PER_PATH, MIN_DRAWS)
    population = _new_paths(lambda: _draw(choices, rng), space, sizes.population, draws, {}) if choices else []
    if not population:
        raise _unreachable(space, draws)
    for generation in range(sizes.generations):
        for arch in population:
            scorer(arch)
        if generation == sizes.generations - 1:
            break
        ranked = sorted(scorer.trace.scored, key=lambda item: -item[1])  # stable: earlier first among equals
        children = _breed([arch for arch, _ in ranked[:sizes.top_k]], space, choices, sizes, rng, scorer.seen)
        if not children:  # every in-budget path nearby has been scored: the space is used up
            break
        population = children
    return scorer.trace


def random_search(score: Callable[[Arch], float], space, evaluations: int, seed: int = 0) -> Trace:
    """``evaluations`` distinct uniformly drawn in-budget paths (fewer when the budget holds fewer), each scored."""
    rng, choices = random.Random(seed), depth_choices(space)
    scorer = _Scorer(score)
    draws = max(evaluations * DRAWS_PER_PATH, MIN_DRAWS)
    for arch in _new_paths(lambda: _draw(choices, rng), space, evaluations, draws, {}) if choices else []:
        scorer(arch)
    if not scorer.trace.scored:
        raise _unreachable(space, draws)
    return scorer.trace


def search_budget(score: Callable[[Arch], float], space, method: str, sizes: EvolutionSizes,
                  seed: int = 0) -> Trace:
    """``method`` (evolution or random, at evolution's number of evaluations) over ``space``."""
    if method == "evolution":
        return evolve(score, space, sizes, seed)
    if method == "random":
        return random_search(score, space, sizes.evaluations, seed)
    raise CreamError(f"the selection method must be one of {', '.join(METHODS)}, got {method!r}")

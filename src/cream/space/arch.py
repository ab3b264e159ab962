"""An architecture is a small immutable value: one op index per block of each searchable stage.

Text form: stages joined by '-', one digit per block, e.g. ``3-33-313-3333-333`` (cream_287).
JSON form: a list of lists of op indices, e.g. ``[[3], [3, 3], [3, 1, 3], [3, 3, 3, 3], [3, 3, 3]]``.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import NamedTuple

from cream.errors import CreamError


class Op(NamedTuple):
    kernel: int
    expansion: int


class Stage(NamedTuple):
    out_chs: int
    stride: int  # stride of the stage's first block at the paper's layout
    max_depth: int


# The six inverted-residual choices of every searchable block, by op index.
OPS = (Op(3, 4), Op(3, 6), Op(5, 4), Op(5, 6), Op(7, 4), Op(7, 6))
NUM_OPS = len(OPS)

# The five searchable stages of the paper's supernet.
STAGES = (Stage(24, 2, 5), Stage(40, 2, 5), Stage(80, 2, 5), Stage(96, 1, 6), Stage(192, 2, 6))


@dataclass(frozen=True)
class Arch:
    """One path through the supernet: ``stages[s][b]`` is the op index of block ``b`` of stage ``s``."""

    stages: tuple[tuple[int, ...], ...]

    def __post_init__(self):
        stages = self.stages
        if not isinstance(stages, (tuple, list)) or len(stages) != len(STAGES):
            n = len(stages) if isinstance(stages, (tuple, list)) else type(stages).__name__
            raise CreamError(f"architecture needs {len(STAGES)} stages, got {n}; write it like 3-33-313-3333-333")
        clean = []
        for s, (ops, spec) in enumerate(zip(stages, STAGES)):
            if not isinstance(ops, (tuple, list)) or not ops:
                raise CreamError(f"architecture stage {s} has no blocks; every stage needs 1..{spec.max_depth}")
            if len(ops) > spec.max_depth:
                raise CreamError(
                    f"architecture stage {s} has {len(ops)} blocks; at most {spec.max_depth} are allowed"
                )
            for op in ops:
                if isinstance(op, bool) or not isinstance(op, int) or not 0 <= op < NUM_OPS:
                    raise CreamError(f"architecture op {op!r} in stage {s} is not an op index 0..{NUM_OPS - 1}")
            clean.append(tuple(ops))
        object.__setattr__(self, "stages", tuple(clean))

    @property
    def depths(self) -> tuple[int, ...]:
        return tuple(len(ops) for ops in self.stages)

    def __str__(self) -> str:
        return "-".join("".join(str(op) for op in ops) for ops in self.stages)

    def to_json(self) -> list[list[int]]:
        return [list(ops) for ops in self.stages]

    @classmethod
    def from_json(cls, value) -> Arch:
        if not isinstance(value, list) or not all(isinstance(ops, list) for ops in value):
            raise CreamError(f"architecture JSON must be a list of lists of op indices, got {value!r}")
        return cls(tuple(tuple(ops) for ops in value))

    @classmethod
    def parse(cls, text: str) -> Arch:
        """Parse the text form (``3-33-313-3333-333``) or the JSON form."""
        if isinstance(text, Arch):
            return text
        if not isinstance(text, str):
            raise CreamError(f"architecture must be text like 3-33-313-3333-333, got {type(text).__name__}")
        text = text.strip()
        if text.startswith("["):
            try:
                return cls.from_json(json.loads(text))
            except json.JSONDecodeError as e:
                raise CreamError(f"architecture JSON does not parse ({e.msg}); write e.g. [[3],[3,3],...]") from None
        parts = text.split("-")
        for part in parts:
            if not part.isdigit() or not part.isascii():
                raise CreamError(
                    f"architecture {text!r} is not valid: each stage is a run of op digits 0..{NUM_OPS - 1}, "
                    "stages joined by '-', e.g. 3-33-313-3333-333"
                )
        return cls(tuple(tuple(int(c) for c in part) for part in parts))

    @classmethod
    def uniform(cls, depths, op: int) -> Arch:
        """Every block the same op, at the given depths."""
        return cls(tuple((op,) * d for d in depths))

    @classmethod
    def random(cls, depths, rng: random.Random, probs=None) -> Arch:
        """Ops drawn independently per block, uniformly or with per-op probabilities."""
        choices = range(NUM_OPS)
        return cls(tuple(tuple(rng.choices(choices, weights=probs, k=d)) for d in depths))

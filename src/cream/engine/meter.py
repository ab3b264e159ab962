"""Per-epoch sums of step figures, kept in checkpoints so a resumed epoch reports like an unbroken one."""

from __future__ import annotations


class EpochSums:
    """Sums ``FIELDS`` over the steps of one epoch; subclasses name the fields and turn them into a row."""

    FIELDS: tuple[str, ...] = ()

    def __init__(self, state: dict | None = None):
        state = state or {}
        self.sums = {name: state.get(name, 0.0) for name in self.FIELDS}  # a field new since the checkpoint: 0

    def add(self, **values) -> None:
        for k, v in values.items():
            self.sums[k] += v

    def row(self) -> dict:
        raise NotImplementedError

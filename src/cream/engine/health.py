"""Is a training run healthy? Checks on its per-epoch history, each a one-line warning that says what to change.

- diverged: an epoch's mean training loss more than RISE above the first epoch's, where it should fall;
- at chance: an epoch after the warm-up whose accuracy is still near chance.

Each check reports the first epoch where it holds, so a warning never changes once given: a run logs each one
as it appears and keeps them in result.json (``health``).
"""

from __future__ import annotations

import math

RISE = 0.10  # a fraction of the first epoch's loss: less is noise (a net that does not learn moves by a few %)
AT_CHANCE = 0.10  # within this fraction of the way from chance to 100%


def training_health(history: list[dict], *, loss: str, accuracy: str, what: str, num_classes: int,
                    warmup_epochs: float, lr_key: str, lr: float) -> dict:
    """``{"diverged": ..., "at_chance": ..., "warnings": [...]}`` of ``history`` (one row per epoch).

    ``loss`` and ``accuracy`` name the row's columns (``what`` says in words what the accuracy is), ``lr_key``
    and ``lr`` the learning rate to lower.
    """
    fix = f"lower {lr_key} (now {lr:g}), e.g. to {lr / 2:g}"
    health = {"diverged": None, "at_chance": None, "warnings": []}
    start = history[0][loss] if history else math.nan
    for row in history[1:]:
        if row[loss] > start * (1 + RISE):
            health["diverged"] = {"epoch": row["epoch"], "loss": row[loss], "first_epoch_loss": start}
            health["warnings"].append(
                f"the training loss rose from {start:.3f} in epoch 1 to {row[loss]:.3f} in epoch {row['epoch']}: "
                f"the training diverges; {fix}")
            break
    chance, line = near_chance(num_classes, AT_CHANCE)
    after_warmup = max(math.ceil(warmup_epochs), 1)
    for row in history:
        if row["epoch"] > after_warmup and row[accuracy] < line:
            health["at_chance"] = {"epoch": row["epoch"], "accuracy": row[accuracy], "chance": chance}
            health["warnings"].append(
                f"{what} is {row[accuracy]:.1f}% in epoch {row['epoch']}, after the warm-up, near chance "
                f"({chance:.1f}%): the net is not learning; {fix}, or check that each class folder holds its "
                "class's images")
            break
    return health


def near_chance(num_classes: int, fraction: float) -> tuple[float, float]:
    """Chance accuracy (%) with ``num_classes`` classes, and the accuracy ``fraction`` of the way from it to 100%,
    below which an accuracy counts as near chance."""
    chance = 100.0 / num_classes
    return chance, chance + fraction * (100 - chance)


def new_warnings(before: dict, after: dict) -> list[str]:
    """The warnings of ``after`` that ``before`` did not have (to log each once, when it first appears)."""
    return [w for w in after["warnings"] if w not in before["warnings"]]

"""What ``cream retrain`` trains: the architecture and net layout named by ``retrain.arch``."""

from __future__ import annotations

import json
from pathlib import Path

from cream.config import SpaceConfig
from cream.errors import CreamError
from cream.space.arch import Arch
from cream.space.net import NetSpec
from cream.space.zoo import resolve_arch


def retrain_target(arch: str, space: SpaceConfig) -> tuple[Arch, NetSpec]:
    """The architecture and layout to retrain.

    A search's result.json gives its architecture and its net layout (resolution, channels, width, strides), and
    so does a pick of `cream select`'s select.json (``select.json:BUDGET``, or just the file with one budget);
    a paper name gives its architecture and resolution; an architecture string gives just that. Whatever the
    source does not fix comes from the ``space`` section (classes and dropout always do).
    """
    text = arch.strip()
    if not text:
        raise CreamError("retrain.arch is empty; set it to a search's result.json, a select.json:BUDGET, a paper name "
                         "(cream_287) or an architecture string like 3-33-313-3333-333")
    if text.endswith(".json"):
        return _from_search_result(Path(text), space)
    path, _, budget = text.rpartition(":")
    if path.endswith(".json"):  # select.json:BUDGET
        return _from_search_result(Path(path), space, budget)
    parsed, paper_resolution = resolve_arch(text)
    return parsed, NetSpec.from_config(space, paper_resolution)


def _from_search_result(path: Path, space: SpaceConfig, budget: str | None = None) -> tuple[Arch, NetSpec]:
    """A search's result.json, or a pick of a `cream select` run's select.json (named by its budget)."""
    if not path.is_file():
        raise CreamError(f"retrain.arch={path} does not exist; run `cream search` first (`cream select` for a "
                         "select.json), or give a paper name or an architecture string")
    try:
        result = json.loads(path.read_text())
        net = result["net"]
        if "picks" in result:
            result = choose_pick(result["picks"], budget, f"retrain.arch={path}")
        elif budget is not None:
            raise CreamError(f"retrain.arch={path}:{budget} names a budget, but {path} is a search's result.json with "
                             f"one architecture; write retrain.arch={path}")
        return Arch.parse(result["arch"]), NetSpec(
            resolution=net["resolution"], in_chans=net["in_chans"], num_classes=space.num_classes,
            width=net["width"], stem_stride=net["stem_stride"], stage_strides=net["stage_strides"],
            drop_rate=space.drop_rate)
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise CreamError(f"retrain.arch={path} is not a search result.json with 'arch' and 'net' "
                         f"({type(e).__name__}: {e})") from None


def choose_pick(picks: dict[str, dict], name: str | None, source: str) -> dict:
    """The pick of a select.json's ``picks`` named ``name`` (a budget's limit as written, e.g. 4; 4.0 names it too);
    with one budget, ``name`` may be None."""
    if name is None:
        if len(picks) == 1:
            return next(iter(picks.values()))
        raise CreamError(f"{source} holds picks for several budgets ({', '.join(picks)}); name one, e.g. "
                         f"{source}:{next(iter(picks))}")
    if name not in picks:
        try:  # 4.0 names the budget written 4
            name = f"{float(name):g}"
        except ValueError:
            pass
    if name not in picks:
        raise CreamError(f"{source} holds no pick for budget {name}; its budgets are {', '.join(picks)}")
    return picks[name]

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

    A search's result.json gives its architecture and its net layout (resolution, channels, width, strides);
    a paper name gives its architecture and resolution; an architecture string gives just that. Whatever the
    source does not fix comes from the ``space`` section (classes and dropout always do).
    """
    text = arch.strip()
    if not text:
        raise CreamError("retrain.arch is empty; set it to a search's result.json, a paper name (cream_287) or an "
                         "architecture string like 3-33-313-3333-333")
    if text.endswith(".json"):
        return _from_search_result(Path(text), space)
    parsed, paper_resolution = resolve_arch(text)
    return parsed, NetSpec.from_config(space, paper_resolution)


def _from_search_result(path: Path, space: SpaceConfig) -> tuple[Arch, NetSpec]:
    if not path.is_file():
        raise CreamError(f"retrain.arch={path} does not exist; run `cream search` first, or give a paper name or "
                         "an architecture string")
    try:
        result = json.loads(path.read_text())
        net = result["net"]
        return Arch.parse(result["arch"]), NetSpec(
            resolution=net["resolution"], in_chans=net["in_chans"], num_classes=space.num_classes,
            width=net["width"], stem_stride=net["stem_stride"], stage_strides=net["stage_strides"],
            drop_rate=space.drop_rate)
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise CreamError(f"retrain.arch={path} is not a search result.json with 'arch' and 'net' "
                         f"({type(e).__name__}: {e})") from None

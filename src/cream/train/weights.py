"""Weights from every file we accept, and fitting them to a child net.

Accepted: our checkpoints (``kind: cream-child``), released Cream checkpoints (timm ``.pth.tar`` dicts with
``state_dict`` and/or ``state_dict_ema``, keys with or without DDP's ``module.`` prefix, the paper's ChildNet
layout, which is timm's MobileNetV3 layout key for key), bare state dicts, and our exported ``.safetensors``
(architecture and layout in the metadata). Pickles are read with ``weights_only=True``: a file that would run
code is refused.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from cream.engine.checkpoint import load_checkpoint
from cream.errors import CreamError
from cream.space.arch import Arch
from cream.space.net import NetSpec
from cream.space.supernet import load_supernet  # noqa: F401  (kept importable from here)
from cream.space.zoo import resolve_arch


class PaperConfig:
    """Stands in for the yacs ``CfgNode`` the paper's tools/retrain.py saves as ``args`` in its checkpoints: the
    config is read back as a plain ``OrderedDict`` (yacs is not needed, and nothing of it runs)."""

    def __new__(cls, *args):
        return OrderedDict()


# timm's training script stores its argparse.Namespace in checkpoints, the paper's scripts their yacs config;
# rebuilding either runs no code.
RELEASED_SAFE_GLOBALS = [argparse.Namespace, (PaperConfig, "yacs.config.CfgNode")]
CLASSIFIER = ("classifier.weight", "classifier.bias")


@dataclass
class Weights:
    """What a file holds: named weight sets (``ema`` first when present) and, for our files, the net."""

    path: Path
    sets: dict[str, dict[str, torch.Tensor]]  # "ema" and/or "plain"
    arch: str | None = None
    net: dict | None = None  # NetSpec.to_json()
    config: dict | None = None  # the run config of our checkpoints

    def preferred(self, plain: bool = False) -> tuple[str, dict[str, torch.Tensor]]:
        """The EMA weights when there are any (unless ``plain``), else the plain ones."""
        name = "plain" if plain and "plain" in self.sets else next(iter(self.sets))
        return name, self.sets[name]


def read_checkpoint(path: str | Path) -> dict:
    """A pickled checkpoint as a dict: ours, or one saved by timm's training script (with its args)."""
    with torch.serialization.safe_globals(RELEASED_SAFE_GLOBALS):
        return load_checkpoint(path)


def read_weights(path: str | Path) -> Weights:
    path = Path(path)
    if path.suffix == ".safetensors":
        return _read_safetensors(path)
    ckpt = read_checkpoint(path)
    kind = ckpt.get("kind")
    if kind == "cream-search":
        raise CreamError(f"{path} is a search checkpoint (a whole supernet); extract one path with "
                         f"`cream export --supernet {path} --arch ARCH`")
    if kind == "cream-child":
        sets = {"ema": ckpt["ema"], "plain": ckpt["model"]} if ckpt.get("ema") else {"plain": ckpt["model"]}
        return Weights(path, sets, ckpt["arch"], ckpt["net"], ckpt.get("config"))
    sets = {name: strip_prefix(ckpt[key]) for name, key in (("ema", "state_dict_ema"), ("plain", "state_dict"))
            if isinstance(ckpt.get(key), dict)}
    if not sets and ckpt and all(isinstance(v, torch.Tensor) for v in ckpt.values()):
        sets = {"plain": strip_prefix(ckpt)}  # a bare state_dict
    if not sets:
        keys = ", ".join(sorted(map(str, ckpt))[:6])
        raise CreamError(f"{path} holds no weights we know (keys: {keys}); expected our checkpoint, a dict with "
                         "state_dict/state_dict_ema, or a bare state_dict")
    return Weights(path, sets)


def strip_prefix(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Keys without DDP's ``module.`` prefix."""
    return {k.removeprefix("module."): v for k, v in state.items()}


def write_safetensors(path: Path, state: dict[str, torch.Tensor], arch: Arch, spec: NetSpec, which: str) -> None:
    metadata = {"kind": "cream-child", "arch": str(arch), "net": json.dumps(spec.to_json()), "weights": which}
    save_file({k: v.detach().cpu().contiguous() for k, v in state.items()}, str(path), metadata=metadata)


def _read_safetensors(path: Path) -> Weights:
    if not path.is_file():
        raise CreamError(f"checkpoint {path} does not exist")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            state = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError) as e:
        raise CreamError(f"{path} is not a readable safetensors file ({e})") from None
    net = json.loads(meta["net"]) if "net" in meta else None
    return Weights(path, {meta.get("weights", "plain"): state}, meta.get("arch"), net)


def net_for(weights: Weights, arch: str | None = None, resolution: int | None = None) -> tuple[Arch, NetSpec]:
    """The architecture and layout of a file's weights: from the file, or ``arch`` for files that hold none.

    For a file without a layout, channels and classes are read off the stem and classifier shapes; the
    resolution is ``resolution``, the paper model's, or 224.
    """
    if weights.arch is not None:
        held = Arch.parse(weights.arch)
        if arch is not None and resolve_arch(arch)[0] != held:
            raise CreamError(f"{weights.path} holds architecture {held}, not {arch}; leave the architecture out")
        spec = NetSpec(**weights.net)
        return held, dataclasses.replace(spec, resolution=resolution) if resolution else spec
    if arch is None:
        raise CreamError(f"{weights.path} does not say which architecture it holds; give it, e.g. --arch cream_287 "
                         "or --arch 3-33-313-3333-333")
    parsed, paper_resolution = resolve_arch(arch)
    _, state = weights.preferred()
    stem, head = state.get("conv_stem.weight"), state.get("classifier.weight")
    if stem is None or head is None:
        raise CreamError(f"{weights.path} has no conv_stem.weight/classifier.weight: not a timm MobileNetV3 layout")
    spec = NetSpec(resolution=resolution or paper_resolution or 224, in_chans=stem.shape[1],
                   num_classes=head.shape[0])
    return parsed, spec


def load_into(model: nn.Module, state: dict[str, torch.Tensor], source: str, fix: str) -> None:
    """Load ``state`` strictly; a mismatch is one line listing the first missing, unexpected and mis-shaped keys."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    shapes = [f"{k} {_shape(state[k])} in the file vs {_shape(expected[k])} in the model"
              for k in expected if k in state and state[k].shape != expected[k].shape]
    if missing or unexpected or shapes:
        parts = [f"{label} {', '.join(keys[:3])}" for label, keys in
                 (("missing", missing), ("unexpected", unexpected), ("shape", shapes)) if keys]
        raise CreamError(f"{source} does not fit the model ({len(missing) + len(unexpected) + len(shapes)} "
                         f"mismatched keys): {'; '.join(parts)}; {fix}")
    model.load_state_dict(state)


def init_from(model: nn.Module, path: str, arch: Arch, log=print) -> None:
    """Start ``model`` from a file's weights (EMA when present); a different class count gets a fresh classifier."""
    weights = read_weights(path)
    if weights.arch is not None and Arch.parse(weights.arch) != arch:
        raise CreamError(f"retrain.init={path} holds architecture {weights.arch}, not {arch}; retrain that "
                         "architecture or init from a matching checkpoint")
    which, state = weights.preferred()
    state = dict(state)
    ours = model.state_dict()
    theirs = state.get(CLASSIFIER[0])
    if theirs is not None and theirs.shape[0] != ours[CLASSIFIER[0]].shape[0]:
        for k in CLASSIFIER:
            state[k] = ours[k]
        log(f"init: {path} has {theirs.shape[0]} classes and this run {ours[CLASSIFIER[0]].shape[0]}: its "
            "classifier is replaced by a freshly initialised one")
    load_into(model, state, f"retrain.init={path}", f"init from weights of architecture {arch}")
    log(f"init: started from the {which} weights of {path}")


def _shape(t: torch.Tensor) -> str:
    return "x".join(map(str, t.shape)) or "scalar"

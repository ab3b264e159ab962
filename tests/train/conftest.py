"""Checkpoints made by the tests (the released Cream layout, a search checkpoint).

Runs set their own thread count; the tiny ones here get ``run.threads=1`` (``ONE_THREAD``), like the rest of
the tests (tests/conftest.py): two threads stall on a busy two-core machine.
"""

from __future__ import annotations

import argparse

import torch

from cream.assemble import make_config
from cream.config import SearchRun, to_dict
from cream.space.net import NetSpec
from cream.space.supernet import Supernet

ONE_THREAD = "run.threads=1"


def released_checkpoint(path, net, prefix="module.", ema_only=False):
    """A checkpoint in the layout of the released Cream models: the dict timm's training script saves.

    ``state_dict_ema`` holds ``net``'s weights; ``state_dict`` (unless ``ema_only``) holds all-zero weights,
    so tests can tell which set was used.
    """
    state = {prefix + k: v for k, v in net.state_dict().items()}
    ckpt = {"epoch": 499, "arch": "cream", "state_dict_ema": state, "metric": 77.6,
            "args": argparse.Namespace(lr=0.064, model="cream", smoothing=0.1, input_size=[3, 224, 224])}
    if not ema_only:
        ckpt["state_dict"] = {prefix + k: torch.zeros_like(v) for k, v in net.state_dict().items()}
    torch.save(ckpt, path)
    return path


def search_checkpoint(path, data_root, depths=(2, 2, 3, 2, 2), sharing=None):
    """A search's last.pth (a freshly initialised supernet) in the layout ``cream search`` writes (``sharing``
    None: as written before space.sharing existed, without the key)."""
    cfg = make_config(SearchRun, None, [f"data.root={data_root}", "data.batch_size=32", "data.val_fraction=0.2"])
    spec = NetSpec.from_config(cfg.space)
    torch.manual_seed(0)
    supernet = Supernet(spec, depths, sharing or "independent")
    torch.save({"kind": "cream-search", "config": to_dict(cfg), "supernet": supernet.state_dict(), "ema": None,
                "net": spec.to_json(), "depths": list(depths), **({"sharing": sharing} if sharing else {})}, path)
    return path

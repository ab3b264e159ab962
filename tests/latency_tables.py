"""Hand-written latency tables with known numbers, for the Fashion-MNIST-sized net the tests search."""

from __future__ import annotations

import json

import torch

from cream.space.latency_table import device_name

DEPTHS = (5, 5, 5, 6, 6)  # the deepest supernet: every position a table must time
FM_NET = {"resolution": 28, "in_chans": 1, "num_classes": 10, "width": 0.5, "stem_stride": 2,
          "stage_strides": [1, 2, 2, 1, 2]}  # the default search space's net (strides of a 28 px input)


def table_json(block_ms=lambda s, b, op: 100 * (s + 1) + 10 * b + op, fixed=(1, 2, 3, 4), **changes) -> dict:
    """A table made 'here' (this machine's CPU) whose op at stage s, block b costs ``block_ms(s, b, op)``."""
    return {"kind": "cream-latency-table", "device": "cpu", "device_name": device_name(torch.device("cpu")),
            "torch": torch.__version__, "threads": 1, "batch": 1, "channels_last": True, "bf16": False,
            "net": dict(FM_NET), "repeats": 3, "warmup": 1,
            "fixed_ms": dict(zip(("stem", "stage0", "last_conv", "head"), fixed)),
            "block_ms": [[[block_ms(s, b, op) for op in range(6)] for b in range(d)] for s, d in enumerate(DEPTHS)],
            **changes}


def write_table(path, **kwargs):
    path.write_text(json.dumps(table_json(**kwargs)))
    return path

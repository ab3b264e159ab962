"""A search checkpoint made directly (a freshly initialised supernet), so studies run in seconds."""

from __future__ import annotations

import functools

import pytest
import torch

from cream.assemble import make_config
from cream.config import SearchRun, to_dict
from cream.engine.checkpoint import save_atomic
from cream.space import budget
from cream.space.net import NetSpec
from cream.space.supernet import Supernet

# Measuring a FLOPs table builds the largest supernet; once per spec is enough for the whole session.
_measure_table = functools.lru_cache(budget.measure_table)


@pytest.fixture(autouse=True)
def cached_flops_tables(monkeypatch):
    monkeypatch.setattr(budget, "measure_table", _measure_table)


def write_search_checkpoint(path, data_root, init_seed=0, algorithm="cream"):
    cfg = make_config(SearchRun, None, [f"data.root={data_root}", "data.batch_size=32", "data.eval_batch_size=64",
                                        f"search.algorithm={algorithm}"])
    plan = budget.plan_space(NetSpec.from_config(cfg.space), cfg.space.flops_min, cfg.space.flops_max)
    torch.manual_seed(init_seed)
    supernet = Supernet(plan.spec, plan.depths)
    save_atomic({"kind": "cream-search", "config": to_dict(cfg), "supernet": supernet.state_dict(), "ema": None,
                 "net": plan.spec.to_json(), "depths": list(plan.depths)}, path, keep_previous=False)
    return path


@pytest.fixture
def supernet_ckpt(tiny_fashion_mnist, tmp_path):
    return write_search_checkpoint(tmp_path / "last.pth", tiny_fashion_mnist)

"""Tiny runs of every kind, made once per test session: a search, a retraining of its pick, a test of that, and
a rank-correlation study's rankcorr.json written by hand (a study trains many nets: too slow here); SELECT, a
select.json written by hand (its paths and front known without scoring any)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

import cream
from cream.nas.trainer import run_search
from cream.reporting import page_writer
from tests.conftest import write_idx
from tests.nas.test_trainer import tiny_config

EPOCHS = 3


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory):
    """The Fashion-MNIST-shaped set of tests/conftest.py (10 classes, 30 train and 10 test images per class)."""
    root = tmp_path_factory.mktemp("fashion")
    rng = np.random.default_rng(0)
    for split, per_class in (("train", 30), ("t10k", 10)):
        labels = np.repeat(np.arange(10), per_class)
        images = rng.integers(0, 255, (len(labels), 28, 28))
        images[:, :, :3] = labels[:, None, None] * 25
        write_idx(root / f"{split}-images-idx3-ubyte.gz", images, 2051)
        write_idx(root / f"{split}-labels-idx1-ubyte.gz", labels, 2049)
    return root


@pytest.fixture(scope="session")
def runs(tiny_data, tmp_path_factory):
    """runs/search/tiny, runs/retrain/tiny (its pick, tested) and runs/rankcorr/tiny; ``calls``: what the search's
    after_epoch hook saw at each call (summary.csv rows, whether result.json existed)."""
    root = tmp_path_factory.mktemp("runs")
    search_dir, retrain_dir = root / "search" / "tiny", root / "retrain" / "tiny"
    calls = []

    def hook(path):
        rows = (path / "summary.csv").read_text().count("\n") - 1
        calls.append({"path": path, "epochs": rows, "result": (path / "result.json").exists()})
        return page_writer(path)

    run_search(tiny_config(tiny_data, search_dir, f"search.epochs={EPOCHS}"), after_epoch=hook)
    cream.retrain(data=None, arch=str(search_dir / "result.json"), overrides=[
        f"data.root={tiny_data}", f"run.out_dir={retrain_dir}", "data.batch_size=32", "data.eval_batch_size=64",
        "data.val_fraction=0.2", "retrain.epochs=2", "retrain.opt=sgd", "retrain.lr=1.0", "retrain.ema_decay=0.9",
        "run.quiet=true", "run.ckpt_every_steps=0", "run.threads=1"])
    cream.test(str(retrain_dir / "best.pth"), data=str(tiny_data),
               overrides=["run.threads=1", "test.latency_batch=8", "test.latency_repeats=2", "test.latency_warmup=1"])
    rankcorr_dir = root / "rankcorr" / "tiny"
    rankcorr_dir.mkdir(parents=True)
    (rankcorr_dir / "rankcorr.json").write_text(json.dumps(RANKCORR))
    cream.report(str(rankcorr_dir))
    return {"root": root, "search": search_dir, "retrain": retrain_dir, "rankcorr": rankcorr_dir, "calls": calls,
            "data": tiny_data}


@pytest.fixture
def search_copy(runs, tmp_path):
    """A copy of the tiny search to change (runs/search/NAME, so a retraining can sit beside it)."""
    def copy(name="copy"):
        folder = tmp_path / "runs" / "search" / name
        shutil.copytree(runs["search"], folder)
        return folder
    return copy


def _path(i, ws, sa, seeds):
    return {"index": i, "arch": f"{i}-11-111-11-11", "flops": 4.0 + i, "params": 0.5, "ws_top1": ws, "sa_top1": sa,
            "sa_top1_seeds": seeds, "ws_rank": 0.0, "sa_rank": 0.0}


RANKCORR = {
    "kind": "cream-rankcorr-report", "n": 3, "kendall_tau": 0.333, "kendall_p": 0.6, "spearman_rho": 0.5,
    "spearman_p": 0.67, "kendall_tau_ci": {"low": -0.5, "high": 1.0, "confidence": 0.95},
    "noise": {"seeds": 2, "seed_sd": 0.5, "path_sd": 1.5, "noise_to_spread": 0.33},
    "supernet": "runs/search/tiny/last.pth", "algorithm": "cream",
    "paths": [_path(0, 30.0, 80.0, [79.0, 81.0]), _path(1, 35.0, 82.0, [82.0, 82.0]),
              _path(2, 33.0, 81.0, [80.0, 82.5])],
}


def _scored(arch, flops, top1):
    return {"arch": arch, "flops": flops, "params": flops / 10, "val_top1": top1, "val_top5": 99.0, "val_loss": 0.5,
            "seconds": 1.0}


SCORED = [_scored("0-0-0-0-0", 1.5, 80.0), _scored("1-0-0-0-0", 1.8, 79.0), _scored("2-0-0-0-0", 1.9, 81.0),
          _scored("3-3-3-3-3", 3.5, 80.5), _scored("4-4-4-4-4", 3.9, 82.0)]
FRONT = [SCORED[0], SCORED[2], SCORED[4]]  # 1-0-0-0-0 and 3-3-3-3-3 are beaten by a cheaper, better path
SELECT = {
    "kind": "cream-select", "supernet": "runs/search/whole_space/last.pth", "weights": "ema", "algorithm": "spos",
    "net": {}, "depths": [1, 1, 1, 1, 1], "elastic_depth": False, "method": "evolution",
    "evolution": {"population": 3, "top_k": 2, "mutations": 1, "crossovers": 1, "generations": 2,
                  "mutation_prob": 0.1},
    "seed": 0, "cost": "flops", "latency_table": None, "evaluations": 5, "elapsed_s": 12.0,
    "picks": {"2": {**SCORED[2], "flops_range": [0.0, 2.0], "latency_range": None, "evaluations": 3,
                    "new_evaluations": 3, "seconds": 4.0, "curve": [80.0, 80.0, 81.0]},
              "4": {**SCORED[4], "flops_range": [0.0, 4.0], "latency_range": None, "evaluations": 3,
                    "new_evaluations": 2, "seconds": 5.0, "curve": [80.5, 82.0, 82.0]}},
    "scored": SCORED, "front": FRONT,
    "config": {"data": {"root": "/data/pets"}, "select": {"val_images": 2000}},
}

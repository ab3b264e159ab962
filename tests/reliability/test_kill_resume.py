"""SIGKILL while a run makes progress, including during checkpoint writes: resumed runs equal unbroken ones.

Search, retrain and rank-correlation study: 21 kills asked for; each test prints how many landed mid-run
(run with ``-rP`` to see them) and requires most of them to.
"""

import json
import subprocess

import pytest

from tests.analysis.conftest import write_search_checkpoint
from tests.nas.test_trainer import comparable
from tests.reliability.harness import checkpoint_progress, cli, finished_paths, kill_and_resume

TIMING = ("images_per_s", "elapsed_s", "seconds", "sa_seconds", "ws_seconds")
PATHS = 8  # in the rank-correlation study


def search_args(root, out):
    return ["search", "fashion_mnist", f"data.root={root}", f"run.out_dir={out}", "data.batch_size=32",
            "data.eval_batch_size=64", "data.val_fraction=0.2", "data.train_per_class=null", "search.epochs=12",
            "search.warmup_epochs=1", "search.board_size=3", "search.meta_update_every=2", "search.meta_slice=8",
            "search.val_images=60", "search.bn_batches=1", "search.candidates=3", "run.ckpt_every_steps=2",
            "run.threads=1", "--quiet"]


def retrain_args(root, out):
    return ["retrain", "fashion_mnist", f"data.root={root}", f"run.out_dir={out}", "retrain.arch=0-13-2-45-1",
            "retrain.epochs=16", "retrain.ema_decay=0.9", "retrain.mixup=0.2", "data.batch_size=32",
            "data.val_fraction=0.2", "run.ckpt_every_steps=2", "run.threads=1", "--quiet"]


def rankcorr_args(ckpt, out):
    return ["rankcorr", "--supernet", str(ckpt), "--paths", str(PATHS), "--epochs", "2", "--out", str(out), "--quiet",
            "study.bn_batches=1", "retrain.warmup_epochs=0", "run.threads=1"]


def without_timing(value):
    if isinstance(value, dict):
        return {k: without_timing(v) for k, v in value.items() if k not in TIMING}
    if isinstance(value, list):
        return [without_timing(v) for v in value]
    return value


def run(args):
    done = subprocess.run(cli(*args), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]


@pytest.mark.slow
def test_search_survives_sigkill_and_ends_like_an_unbroken_run(tiny_fashion_mnist, tmp_path):
    run(search_args(tiny_fashion_mnist, tmp_path / "a"))
    out = tmp_path / "b"
    kills = kill_and_resume(cli(*search_args(tiny_fashion_mnist, out)), checkpoint_progress(out / "last.pth"),
                            kills=10, seed=0, write=out / "last.pth.tmp")
    print(f"search: {kills}")
    assert kills.landed >= 8 and kills.during_write >= 3, kills
    expected = comparable(json.loads((tmp_path / "a" / "result.json").read_text()))
    assert comparable(json.loads((out / "result.json").read_text())) == expected


@pytest.mark.slow
def test_retrain_survives_sigkill_and_ends_like_an_unbroken_run(tiny_fashion_mnist, tmp_path):
    run(retrain_args(tiny_fashion_mnist, tmp_path / "a"))
    out = tmp_path / "b"
    kills = kill_and_resume(cli(*retrain_args(tiny_fashion_mnist, out)), checkpoint_progress(out / "last.pth"),
                            kills=6, seed=1, write=out / "last.pth.tmp", delay=(0.0, 2.0))
    print(f"retrain: {kills}")
    assert kills.landed >= 5 and kills.during_write >= 2, kills
    unbroken, resumed = (json.loads((d / "result.json").read_text()) for d in (tmp_path / "a", out))
    assert without_timing(resumed["history"]) == without_timing(unbroken["history"])
    assert resumed["final"] == unbroken["final"] and resumed["best_epoch"] == unbroken["best_epoch"]


@pytest.mark.slow
def test_rankcorr_survives_sigkill_and_reports_like_an_unbroken_study(tiny_fashion_mnist, tmp_path):
    ckpt = write_search_checkpoint(tmp_path / "last.pth", tiny_fashion_mnist)
    run(rankcorr_args(ckpt, tmp_path / "a"))
    out = tmp_path / "b"
    results = out / "results-1-of-1.jsonl"
    kills = kill_and_resume(cli(*rankcorr_args(ckpt, out)), finished_paths(results), kills=5, seed=2,
                            delay=(0.0, 1.5))  # a path takes about 3 s
    print(f"rankcorr: {kills}")
    assert kills.landed >= 4, kills
    lines = len(results.read_text().splitlines())
    assert lines == PATHS, f"{lines} result lines for {PATHS} paths: a resumed study measured a path again"
    unbroken, resumed = (json.loads((d / "rankcorr.json").read_text()) for d in (tmp_path / "a", out))
    assert without_timing(resumed["paths"]) == without_timing(unbroken["paths"])
    assert resumed["kendall_tau"] == unbroken["kendall_tau"]


@pytest.mark.slow
@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_a_signal_checkpoints_and_says_how_to_resume(tiny_fashion_mnist, tmp_path, sig):
    import signal
    import time

    out = tmp_path / "run"
    proc = subprocess.Popen(cli(*retrain_args(tiny_fashion_mnist, out)), stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (out / "last.pth").exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(getattr(signal, sig))
    err = proc.communicate(timeout=120)[1]
    assert proc.returncode == 130, err
    assert err.count("\n") == 1 and f"stopped by {sig}" in err and "resume by running the same command again" in err
    run(retrain_args(tiny_fashion_mnist, out))
    assert (out / "result.json").exists()

"""SIGKILL at random moments, including during checkpoint writes: resumed runs equal unbroken ones."""

import json

import pytest

from tests.reliability.harness import cli, kill_and_resume
from tests.search.test_trainer import comparable


def search_args(root, out):
    return ["search", "fashion_mnist", f"data.root={root}", f"run.out_dir={out}", "data.batch_size=32",
            "data.eval_batch_size=64", "data.val_fraction=0.2", "data.train_per_class=null", "search.epochs=4", "search.warmup_epochs=1",
            "search.board_size=3", "search.meta_update_every=2", "search.meta_slice=8", "search.val_images=60",
            "search.bn_batches=1", "search.candidates=3", "run.ckpt_every_steps=2", "run.threads=1", "--quiet"]


@pytest.mark.slow
def test_search_survives_sigkill_and_ends_like_an_unbroken_run(tiny_fashion_mnist, tmp_path):
    import subprocess

    unbroken = subprocess.run(cli(*search_args(tiny_fashion_mnist, tmp_path / "a")), capture_output=True, text=True)
    assert unbroken.returncode == 0, unbroken.stderr
    out = tmp_path / "b"
    kills = kill_and_resume(cli(*search_args(tiny_fashion_mnist, out)), out / "last.pth.tmp", kills=10, seed=0,
                            max_seconds=600)
    assert kills["random"] + kills["during_write"] >= 6 and kills["during_write"] >= 2, kills
    expected = comparable(json.loads((tmp_path / "a" / "result.json").read_text()))
    assert comparable(json.loads((out / "result.json").read_text())) == expected

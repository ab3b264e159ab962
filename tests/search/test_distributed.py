import json
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
def test_two_process_gloo_search_runs_end_to_end(tiny_fashion_mnist, tmp_path):
    out = tmp_path / "ddp"
    torchrun = Path(sys.executable).with_name("torchrun")
    command = [
        str(torchrun), "--standalone", "--nproc_per_node=2", "-m", "cream.cli", "search", "fashion_mnist",
        f"data.root={tiny_fashion_mnist}", f"run.out_dir={out}", "data.batch_size=16", "data.eval_batch_size=32",
        "data.val_fraction=0.2", "data.train_per_class=null", "search.epochs=2", "search.warmup_epochs=1",
        "search.board_size=3",
        "search.meta_update_every=2", "search.meta_slice=4", "search.val_images=60", "search.bn_batches=1",
        "run.threads=1", "run.ckpt_every_steps=3", "--quiet",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("chosen architecture") == 1  # only rank 0 reports
    result = json.loads((out / "result.json").read_text())
    assert len(result["board"]) == 3 and result["counters"]["meta_updates"] > 0
    assert result["history"][0]["images_per_s"] > 0
    # 240 search-train images, 16 per process per step, 2 processes: 7 steps per epoch
    assert "7 steps per epoch, batch 16x2" in (out / "search.log").read_text()

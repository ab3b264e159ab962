import json
import subprocess
import sys
from pathlib import Path

import pytest

from cream.config import RetrainRun, load_config, preset_path
from cream.train.recipe import scaled_lr


@pytest.mark.slow
def test_two_process_gloo_retrain_runs_end_to_end(tiny_fashion_mnist, tmp_path):
    out = tmp_path / "ddp"
    torchrun = Path(sys.executable).with_name("torchrun")
    command = [
        str(torchrun), "--standalone", "--nproc_per_node=2", "-m", "cream.cli", "retrain", "fashion_mnist",
        f"data.root={tiny_fashion_mnist}", f"run.out_dir={out}", "retrain.arch=0-0-0-0-0", "retrain.epochs=2",
        "data.batch_size=16", "data.eval_batch_size=32", "data.val_fraction=0.2", "run.threads=1",
        "run.ckpt_every_steps=3", "--quiet",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("retrained 0-0-0-0-0") == 1  # only rank 0 reports
    result = json.loads((out / "result.json").read_text())
    assert len(result["history"]) == 2 and result["history"][0]["images_per_s"] > 0
    # 240 train images, 16 per process per step, 2 processes: 7 steps per epoch; lr scaled to the total batch 32
    recipe = load_config(RetrainRun, preset_path("retrain", "fashion_mnist")).retrain
    log = (out / "retrain.log").read_text()
    assert f"2 epochs of 7 steps, batch 16x2, {recipe.opt} lr {scaled_lr(recipe, 32):g}," in log

import itertools
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from cream.assemble import make_config
from cream.config import RetrainRun
from cream.data import build_data
from cream.engine.context import setup_context
from cream.space import Arch, NetSpec
from cream.space.net import build_child
from cream.train.recipe import scaled_lr
from cream.train.trainer import ChildTraining, seed_everything
from tests.torchrun import run_two_processes


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
    recipe = make_config(RetrainRun, "fashion_mnist").retrain
    log = (out / "retrain.log").read_text()
    assert f"2 epochs of 7 steps, batch 16x2, {recipe.opt} lr {scaled_lr(recipe, 32):g}," in log


def child_steps(overrides: list[str], batches) -> dict:
    """Retraining steps on each process's share of the given full batches (rank r takes the r-th of ``world``
    equal parts), with BatchNorm on its running statistics (see the test below); the weights, EMA and meter after.
    """
    cfg = make_config(RetrainRun, "fashion_mnist", overrides)
    ctx = setup_context(cfg.run)
    spec = NetSpec.from_config(cfg.space)
    seed_everything(cfg.run.seed)
    training = ChildTraining(build_child(Arch.parse("0-0-0-0-0"), spec), cfg.retrain, ctx, steps_per_epoch=7,
                             batch_size=cfg.data.batch_size, num_classes=spec.num_classes)
    training.net.eval()
    for x, y in batches:
        share = len(x) // ctx.world
        training.train_step(x[ctx.rank * share:(ctx.rank + 1) * share], y[ctx.rank * share:(ctx.rank + 1) * share])
    return {"rank": ctx.rank, "net": training.net.state_dict(), "ema": training.ema.module.state_dict(),
            "meter": training.meter.sums}


def retrain_overrides(root, batch_size):
    return [f"data.root={root}", "data.val_fraction=0.2", f"data.batch_size={batch_size}", "retrain.ema_decay=0.9",
            "run.threads=1"]


@pytest.mark.slow
def test_two_processes_of_16_images_retrain_like_one_process_of_32(tiny_fashion_mnist, tmp_path):
    """Two gloo processes, each on its half of a batch, against one process on the whole batch, step by step.

    BatchNorm runs on its running statistics (eval mode) in both: in training mode each process normalises with
    its own half's statistics (there is no SyncBatchNorm on CPUs), so no split of a batch over processes can equal
    the whole batch in one. With that out of play the runs must match: gradients averaged over the processes, the
    learning rate scaled to the total batch, the same EMA, and loss and accuracy summed over both halves.
    """
    cfg = make_config(RetrainRun, "fashion_mnist", retrain_overrides(tiny_fashion_mnist, 32))
    net_spec = NetSpec.from_config(cfg.space)
    data = build_data(cfg.data, net_spec.resolution, net_spec.in_chans, "retrain")
    batches = list(itertools.islice(data.train.batches(0), 3))
    torch.save(batches, tmp_path / "batches.pt")
    spec = {"batches": str(tmp_path / "batches.pt"), "out": str(tmp_path),
            "overrides": retrain_overrides(tiny_fashion_mnist, 16)}
    run_two_processes("tests.train.test_distributed", spec, tmp_path)
    one = child_steps(retrain_overrides(tiny_fashion_mnist, 32), batches)

    for r in (0, 1):
        two = torch.load(tmp_path / f"rank{r}.pt")
        for part in ("net", "ema"):
            for k, v in two[part].items():
                assert torch.allclose(v, one[part][k], rtol=1e-4, atol=1e-6), (part, k)
        assert {k: two["meter"][k] for k in ("correct", "images", "steps")} == {
            k: one["meter"][k] for k in ("correct", "images", "steps")}
        assert two["meter"]["loss"] == pytest.approx(one["meter"]["loss"], rel=1e-5)
    assert one["meter"]["images"] == 3 * 32


if __name__ == "__main__":  # one process of the test above, under torchrun
    spec = json.loads(Path(sys.argv[1]).read_text())
    record = child_steps(spec["overrides"], torch.load(spec["batches"]))
    torch.save(record, Path(spec["out"]) / f"rank{record['rank']}.pt")
    torch.distributed.destroy_process_group()

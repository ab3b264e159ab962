import csv
import json
import os
import signal

import pytest
import torch

from cream.assemble import make_config
from cream.config import RetrainConfig, RetrainRun, SpaceConfig
from cream.data import build_data
from cream.engine.context import RunContext
from cream.errors import CreamError, RunInterrupted
from cream.space.arch import Arch
from cream.space.net import NetSpec, build_child
from cream.train import trainer
from cream.train.target import retrain_target
from cream.train.trainer import Retrain, train_from_scratch
from tests.conftest import FASHION_MNIST, make_image_tree
from tests.train.conftest import ONE_THREAD, released_checkpoint

ARCH = "0-1-2-3-4"  # small, so tests run quickly
CPU = RunContext(torch.device("cpu"))


def tiny_config(root, out, *overrides):
    return make_config(RetrainRun, None, [
        f"data.root={root}", f"run.out_dir={out}", f"retrain.arch={ARCH}", "data.batch_size=32",
        "data.eval_batch_size=64", "data.val_fraction=0.2", "retrain.epochs=3", "retrain.opt=sgd", "retrain.lr=1.0",
        "retrain.sched_per=step", "retrain.warmup_epochs=0.5", "retrain.ema_decay=0.9", "run.quiet=true",
        "run.ckpt_every_steps=0", ONE_THREAD, *overrides])


def without_timing(history):
    return [{k: v for k, v in row.items() if k not in ("images_per_s", "elapsed_s")} for row in history]


def test_retrain_writes_checkpoints_summary_and_result(tiny_fashion_mnist, tmp_path):
    out = tmp_path / "run"
    result = trainer.run_retrain(tiny_config(tiny_fashion_mnist, out))
    assert result["arch"] == ARCH and result["weights"] == "ema" and len(result["history"]) == 3
    assert 1 < result["flops"] < 4 and result["best_top1"] == max(row["ema_top1"] for row in result["history"])
    for name in ("best.pth", "last.pth", "result.json", "summary.csv", "retrain.log", "config.yaml"):
        assert (out / name).is_file(), name
    assert list((out / "tensorboard").iterdir())
    rows = list(csv.DictReader((out / "summary.csv").open()))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    assert {"train_loss", "train_acc", "val_top1", "val_top5", "ema_top1", "ema_top5", "lr", "images_per_s"} <= set(
        rows[0])
    last = torch.load(out / "last.pth", weights_only=True)
    assert last["kind"] == "cream-child" and last["arch"] == ARCH and last["epoch"] == 3
    assert {"model", "ema", "optimizer", "scheduler", "config", "history", "best_top1", "net"} <= set(last)
    best = torch.load(out / "best.pth", weights_only=True)
    assert best["best_top1"] == result["best_top1"] and best["epoch"] == result["best_epoch"]
    again = trainer.run_retrain(tiny_config(tiny_fashion_mnist, out))  # a finished run is reported, not redone
    assert again["already_finished"] and again["best_top1"] == result["best_top1"]
    with pytest.raises(CreamError, match="retrain.epochs=3, not 4"):
        trainer.run_retrain(tiny_config(tiny_fashion_mnist, out, "retrain.epochs=4"))


def test_a_run_stopped_and_resumed_ends_exactly_like_an_unbroken_one(tiny_fashion_mnist, tmp_path, monkeypatch):
    # Mixup (numpy RNG), drop path and dropout (torch RNG) and the EMA all have to survive the restart.
    extra = ["retrain.mixup=0.4", "retrain.drop_path=0.1", "space.drop_rate=0.2"]
    unbroken = trainer.run_retrain(tiny_config(tiny_fashion_mnist, tmp_path / "a", *extra))

    original_step, original_end = trainer.ChildTraining.train_step, Retrain.end_epoch

    def interrupting_step(self, x, y):  # SIGINT in the middle of epoch 2
        original_step(self, x, y)
        if self.step == 10:
            os.kill(os.getpid(), signal.SIGINT)

    def killed_after_epoch_one(self, epoch):  # the process dies right after epoch 1's checkpoints
        original_end(self, epoch)
        raise SystemExit("killed")

    monkeypatch.setattr(Retrain, "end_epoch", killed_after_epoch_one)
    with pytest.raises(SystemExit):
        trainer.run_retrain(tiny_config(tiny_fashion_mnist, tmp_path / "b", *extra))
    monkeypatch.setattr(Retrain, "end_epoch", original_end)
    monkeypatch.setattr(trainer.ChildTraining, "train_step", interrupting_step)
    with pytest.raises(RunInterrupted, match="resume by running the same command again"):
        trainer.run_retrain(tiny_config(tiny_fashion_mnist, tmp_path / "b", *extra))
    monkeypatch.setattr(trainer.ChildTraining, "train_step", original_step)
    resumed = trainer.run_retrain(tiny_config(tiny_fashion_mnist, tmp_path / "b", *extra))
    assert without_timing(resumed["history"]) == without_timing(unbroken["history"])
    assert resumed["final"] == unbroken["final"]
    a = torch.load(tmp_path / "a" / "last.pth", weights_only=True)
    b = torch.load(tmp_path / "b" / "last.pth", weights_only=True)
    assert all(torch.equal(a["ema"][k], b["ema"][k]) for k in a["ema"])


def test_a_stop_at_the_last_step_of_an_epoch_still_evaluates_that_epoch_on_resume(tiny_fashion_mnist, tmp_path,
                                                                                   monkeypatch):
    unbroken = trainer.run_retrain(tiny_config(tiny_fashion_mnist, tmp_path / "a"))
    steps_per_epoch = torch.load(tmp_path / "a" / "last.pth", weights_only=True)["step"] // 3
    original_step = trainer.ChildTraining.train_step

    def interrupting_step(self, x, y):  # its checkpoint is written before epoch 1's evaluation
        original_step(self, x, y)
        if self.step == steps_per_epoch:
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(trainer.ChildTraining, "train_step", interrupting_step)
    with pytest.raises(RunInterrupted):
        trainer.run_retrain(tiny_config(tiny_fashion_mnist, tmp_path / "b"))
    monkeypatch.setattr(trainer.ChildTraining, "train_step", original_step)
    resumed = trainer.run_retrain(tiny_config(tiny_fashion_mnist, tmp_path / "b"))
    assert without_timing(resumed["history"]) == without_timing(unbroken["history"])


def test_train_from_scratch_on_an_image_folder_writes_nothing(tmp_path, monkeypatch):
    root = make_image_tree(tmp_path / "tree", per_class=8)
    monkeypatch.chdir(tmp_path)
    cfg = make_config(RetrainRun, None, [f"data.root={root}", "data.dataset=imagefolder", "data.batch_size=8",
                                         "data.workers=0", "space.in_chans=3", "space.num_classes=3",
                                         "space.resolution=32"])
    data = build_data(cfg.data, 32, 3, "retrain", seed=0)
    spec = NetSpec(resolution=32, in_chans=3, num_classes=3, width=0.5)
    recipe = RetrainConfig(epochs=2, opt="sgd", lr=0.1, lr_batch=64, warmup_epochs=0, ema_decay=0.0)
    lines = []
    result = train_from_scratch(Arch.parse(ARCH), spec, data, recipe, CPU, seed=0, log=lines.append)
    assert set(result) >= {"val_top1", "val_top5", "val_loss", "train_loss", "seconds"}
    assert result["val_top5"] == 100.0 and result["seconds"] > 0 and len(lines) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tree"]
    assert result == {**train_from_scratch(Arch.parse(ARCH), spec, data, recipe, CPU, seed=0),
                      "seconds": result["seconds"]}  # deterministic for a seed


@pytest.mark.skipif(not FASHION_MNIST.is_dir(), reason="needs the Fashion-MNIST dataset")
def test_train_from_scratch_learns_a_fashion_mnist_subset():
    cfg = make_config(RetrainRun, None, ["data.train_per_class=60", "data.val_per_class=30", "data.batch_size=40"])
    data = build_data(cfg.data, 28, 1, "retrain", seed=0)
    spec = NetSpec(resolution=28, in_chans=1, num_classes=10, width=0.5)
    recipe = RetrainConfig(epochs=3, opt="sgd", lr=0.8, lr_batch=1024, sched_per="step", warmup_epochs=0.5,
                           ema_decay=0.0)
    result = train_from_scratch(Arch.parse(ARCH), spec, data, recipe, CPU, seed=0)
    assert result["val_top1"] > 40  # chance is 10%; 58% when written
    assert result["train_loss"] < 1.8


def test_init_from_a_released_checkpoint_with_other_classes_replaces_the_classifier(tiny_fashion_mnist, tmp_path):
    source = build_child(Arch.parse(ARCH), NetSpec(resolution=28, in_chans=1, num_classes=1000, width=0.5))
    path = released_checkpoint(tmp_path / "big.pth.tar", source)
    out = tmp_path / "finetune"
    trainer.run_retrain(tiny_config(tiny_fashion_mnist, out, f"retrain.init={path}", "retrain.epochs=1"))
    log = (out / "retrain.log").read_text()
    assert "has 1000 classes and this run 10: its classifier is replaced" in log
    assert f"started from the ema weights of {path}" in log


def test_the_architecture_comes_from_a_search_result_a_paper_name_or_a_string(tmp_path):
    space = SpaceConfig(num_classes=4, drop_rate=0.2)  # 28 px, 1 channel, width 0.5
    result = tmp_path / "result.json"
    net = NetSpec(resolution=40, in_chans=3, num_classes=10, width=0.75, stem_stride=1,
                  stage_strides=(1, 2, 2, 1, 2)).to_json()
    result.write_text(json.dumps({"arch": ARCH, "net": net}))
    arch, spec = retrain_target(str(result), space)
    assert str(arch) == ARCH
    assert (spec.resolution, spec.in_chans, spec.width, spec.stem_stride, spec.stage_strides) == (
        40, 3, 0.75, 1, (1, 2, 2, 1, 2))
    assert (spec.num_classes, spec.drop_rate) == (4, 0.2)  # classes and dropout are the retrain's
    arch, spec = retrain_target("cream_43", space)
    assert str(arch) == "3-31-31-333-33" and spec.resolution == 96 and spec.in_chans == 1
    arch, spec = retrain_target(" 3-33-313-3333-333 ", space)
    assert spec.resolution == 28 and spec.width == 0.5


@pytest.mark.parametrize("arch, message", [
    ("", "retrain.arch is empty"),
    ("runs/nowhere/result.json", "does not exist; run `cream search` first"),
    ("3-33", "needs 5 stages"),
])
def test_bad_architectures_are_one_line_errors(arch, message):
    with pytest.raises(CreamError, match=message) as info:
        retrain_target(arch, SpaceConfig())
    assert "\n" not in str(info.value)


def test_a_broken_result_json_and_a_class_mismatch_are_clear(tiny_fashion_mnist, tmp_path):
    (tmp_path / "result.json").write_text('{"arch": "3-3-3-3-3"}')
    with pytest.raises(CreamError, match="not a search result.json with 'arch' and 'net'"):
        retrain_target(str(tmp_path / "result.json"), SpaceConfig())
    with pytest.raises(CreamError, match="set space.num_classes=10"):
        trainer.run_retrain(tiny_config(tiny_fashion_mnist, tmp_path / "r", "space.num_classes=7"))


def test_a_non_finite_loss_stops_naming_step_and_architecture_or_is_skipped_and_counted(tiny_fashion_mnist,
                                                                                         tmp_path, monkeypatch):
    from cream.space.net import CreamNet
    from tests.nas.test_trainer import poison_training_forward

    poison_training_forward(monkeypatch, CreamNet, at_call=4)
    with pytest.raises(CreamError, match=f"non-finite training loss at step 3 of {ARCH}; the last good checkpoint"):
        trainer.run_retrain(tiny_config(tiny_fashion_mnist, tmp_path / "stop", "run.ckpt_every_steps=2"))
    assert (tmp_path / "stop" / "last.pth").exists()

    poison_training_forward(monkeypatch, CreamNet, at_call=4)
    result = trainer.run_retrain(tiny_config(tiny_fashion_mnist, tmp_path / "skip", "run.nonfinite=skip"))
    assert result["history"][0]["skipped_steps"] == 1

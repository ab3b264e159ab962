import math

import pytest
import torch
from timm.data import Mixup
from timm.optim import RMSpropTF
from timm.utils import ModelEmaV3

from cream.assemble import make_config
from cream.config import RetrainConfig, RetrainRun
from cream.errors import CreamError
from cream.train.recipe import create_ema, create_mixup, create_optimizer, create_scheduler, scaled_lr

PAPER = {"14": "step", "43": "step", "114": "cosine", "287": "cosine", "481": "cosine", "604": "cosine"}


def lr_at(scheduler, epoch: int) -> float:
    scheduler.step(epoch)
    return scheduler.optimizer.param_groups[0]["lr"]


@pytest.mark.parametrize("name", PAPER)
def test_paper_presets_build_the_papers_optimizer_and_schedule(name):
    cfg = make_config(RetrainRun, name)
    r = cfg.retrain
    assert r.arch == f"cream_{name}" and r.epochs == 500 and cfg.data.batch_size == 128
    assert cfg.space.drop_rate == 0.2 and r.ema_decay == 0.9999 and r.label_smoothing == 0.1
    assert (cfg.data.auto_augment, cfg.data.reprob, cfg.data.color_jitter, cfg.data.interpolation) == (
        "rand-m9-mstd0.5", 0.2, 0.4, "random")
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.BatchNorm2d(8))
    optimizer = create_optimizer(model, r, total_batch=128 * 8)
    assert isinstance(optimizer, RMSpropTF)
    assert optimizer.defaults["eps"] == 1e-3 and optimizer.defaults["lr"] == pytest.approx(0.064)
    no_decay, decay = optimizer.param_groups  # BatchNorm and biases are not decayed
    assert no_decay["weight_decay"] == 0.0 and len(no_decay["params"]) == 3
    assert decay["weight_decay"] == 1e-5 and decay["params"] == [model[0].weight]

    scheduler = create_scheduler(optimizer, r, steps_per_epoch=1251)
    assert lr_at(scheduler, 0) == pytest.approx(1e-6)  # warm-up starts at 1e-6 ...
    assert lr_at(scheduler, 2) == pytest.approx(1e-6 + 2 * (0.064 - 1e-6) / 3)  # ... and is linear for 3 epochs
    if PAPER[name] == "step":  # x0.973 every 2.4 epochs (timm counts from epoch 0)
        for epoch in (3, 10, 100, 499):
            assert lr_at(scheduler, epoch) == pytest.approx(0.064 * 0.973 ** math.floor(epoch / 2.4))
    else:  # cosine from 0.064 at epoch 0 to 1e-5 at epoch 500
        for epoch in (3, 250, 499):
            expected = 1e-5 + 0.5 * (0.064 - 1e-5) * (1 + math.cos(math.pi * epoch / 500))
            assert lr_at(scheduler, epoch) == pytest.approx(expected)


def test_lr_scales_with_the_total_batch_and_a_per_step_schedule_moves_within_epochs():
    r = make_config(RetrainRun, None, ["retrain.sched=cosine", "retrain.sched_per=step", "retrain.epochs=2",
                                       "retrain.warmup_epochs=0.5", "retrain.lr=0.4", "retrain.lr_batch=256",
                                       "retrain.min_lr=0", "retrain.opt=sgd"]).retrain
    assert scaled_lr(r, 128) == pytest.approx(0.2)
    optimizer = create_optimizer(torch.nn.Linear(2, 2), r, total_batch=128)
    assert type(optimizer) is torch.optim.SGD and optimizer.defaults["nesterov"]
    scheduler = create_scheduler(optimizer, r, steps_per_epoch=10)
    scheduler.step(1)  # ignored by a per-step schedule
    assert optimizer.param_groups[0]["lr"] == pytest.approx(1e-6)
    for step in (5, 10, 19):  # after the 5 warm-up steps: cosine over all 20 steps
        scheduler.step_update(step)
        assert optimizer.param_groups[0]["lr"] == pytest.approx(0.1 * (1 + math.cos(math.pi * step / 20)))


def test_ema_and_mixup_only_when_configured():
    model = torch.nn.Linear(2, 2)
    assert create_ema(model, RetrainConfig(ema_decay=0.0)) is None
    assert isinstance(create_ema(model, RetrainConfig(ema_decay=0.99)), ModelEmaV3)
    assert create_mixup(RetrainConfig(), num_classes=10, batch_size=8) is None
    assert isinstance(create_mixup(RetrainConfig(mixup=0.2), num_classes=10, batch_size=8), Mixup)
    with pytest.raises(CreamError, match="even data.batch_size"):
        create_mixup(RetrainConfig(cutmix=1.0), num_classes=10, batch_size=7)


def test_an_unknown_optimizer_is_a_one_line_error():
    with pytest.raises(CreamError, match="retrain.opt='rmsprop_tf' is not a timm optimizer"):
        create_optimizer(torch.nn.Linear(2, 2), RetrainConfig(opt="rmsprop_tf"), total_batch=128)

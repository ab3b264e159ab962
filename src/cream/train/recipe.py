"""A retrain recipe (``RetrainConfig``) turned into timm's optimizer, schedule, EMA, mixup and loss."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from timm.data import Mixup
from timm.loss import SoftTargetCrossEntropy
from timm.optim import create_optimizer_v2
from timm.scheduler import create_scheduler_v2
from timm.utils import ModelEmaV3

from cream.config import RetrainConfig
from cream.errors import CreamError


def scaled_lr(recipe: RetrainConfig, total_batch: int) -> float:
    """The recipe's lr, scaled linearly from ``lr_batch`` to the actual total batch."""
    return recipe.lr * total_batch / recipe.lr_batch


def create_optimizer(model: nn.Module, recipe: RetrainConfig, total_batch: int) -> torch.optim.Optimizer:
    """timm's optimizer by name; no weight decay on BatchNorm and biases (timm's default)."""
    try:
        return create_optimizer_v2(model, recipe.opt, lr=scaled_lr(recipe, total_batch), eps=recipe.opt_eps,
                                   momentum=recipe.momentum, weight_decay=recipe.weight_decay)
    except ValueError as e:
        raise CreamError(f"retrain.opt={recipe.opt!r} is not a timm optimizer ({e}); use e.g. rmsproptf, sgd, "
                         "adamw") from None


def create_scheduler(optimizer: torch.optim.Optimizer, recipe: RetrainConfig, steps_per_epoch: int):
    """timm's warm-up + cosine or step schedule, stepped per epoch or per optimizer step (``sched_per``).

    Call ``scheduler.step(epoch)`` at the start of every epoch and ``scheduler.step_update(step)`` after every
    update: timm ignores the call that does not match how the schedule is stepped.
    """
    scheduler, _ = create_scheduler_v2(
        optimizer, recipe.sched, num_epochs=recipe.epochs, decay_epochs=recipe.decay_epochs,
        decay_rate=recipe.decay_rate, min_lr=recipe.min_lr, warmup_lr=recipe.warmup_lr,
        warmup_epochs=recipe.warmup_epochs, step_on_epochs=recipe.sched_per == "epoch",
        updates_per_epoch=steps_per_epoch)
    return scheduler


def create_ema(model: nn.Module, recipe: RetrainConfig) -> ModelEmaV3 | None:
    return ModelEmaV3(model, decay=recipe.ema_decay) if recipe.ema_decay > 0 else None


def create_mixup(recipe: RetrainConfig, num_classes: int, batch_size: int) -> Mixup | None:
    """timm's Mixup/CutMix (with label smoothing folded into the soft targets), only when configured."""
    if recipe.mixup <= 0 and recipe.cutmix <= 0:
        return None
    if batch_size % 2:
        raise CreamError(f"mixup and cutmix need an even data.batch_size, got {batch_size}")
    return Mixup(mixup_alpha=recipe.mixup, cutmix_alpha=recipe.cutmix, label_smoothing=recipe.label_smoothing,
                 num_classes=num_classes)


def training_loss(recipe: RetrainConfig, mixup: Mixup | None):
    """Soft-target cross-entropy behind mixup; otherwise cross-entropy with label smoothing."""
    if mixup is not None:
        return SoftTargetCrossEntropy()
    return lambda logits, target: F.cross_entropy(logits, target, label_smoothing=recipe.label_smoothing)

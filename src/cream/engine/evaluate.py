"""Accuracy and loss of a model on a loader, and BatchNorm recalibration of one path."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from cream.engine.context import RunContext


@torch.no_grad()
def evaluate(forward, loader, ctx: RunContext, max_images: int | None = None, observe=None) -> dict:
    """Top-1/top-5 (%) and mean cross-entropy of ``forward(x)`` over ``loader`` (summed over processes).

    ``observe(x, y, logits)``, when given, sees every batch (e.g. to count errors per class)."""
    totals = torch.zeros(4, dtype=torch.float64, device=ctx.device)  # correct1, correct5, loss, count
    seen = 0
    for x, y in loader.batches():
        if max_images is not None and seen >= max_images:
            break
        x, y = ctx.to_device(x), y.to(ctx.device)
        with ctx.autocast():
            logits = forward(x).float()
        if observe is not None:
            observe(x, y, logits)
        top = logits.topk(min(5, logits.shape[1]), dim=1).indices
        totals[0] += (top[:, 0] == y).sum()
        totals[1] += (top == y[:, None]).any(dim=1).sum()
        totals[2] += F.cross_entropy(logits, y, reduction="sum")
        totals[3] += len(y)
        seen += len(y)
    ctx.all_reduce(totals)
    count = max(totals[3].item(), 1)
    return {"top1": 100 * totals[0].item() / count, "top5": 100 * totals[1].item() / count,
            "loss": totals[2].item() / count, "images": int(totals[3].item())}


@torch.no_grad()
def recalibrate_bn(model: nn.Module, forward, batches, ctx: RunContext) -> None:
    """Re-estimate BatchNorm running statistics of ``model`` as exact averages over ``batches``.

    With several processes the statistics are averaged over them, so every process evaluates the same model.
    """
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average
    was_training = model.training
    model.train()
    for x, _ in batches:
        with ctx.autocast():
            forward(ctx.to_device(x))
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum
        if ctx.distributed:
            for stat in (m.running_mean, m.running_var):
                ctx.all_reduce(stat).div_(ctx.world)
    model.train(was_training)

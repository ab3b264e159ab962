"""Inference latency of a model: the median of repeated timed forward passes after an untimed warm-up."""

from __future__ import annotations

import statistics
import time

import torch

from cream.engine.context import RunContext


@torch.no_grad()
def measure_latency(model: torch.nn.Module, image_shape: tuple[int, int, int], batch: int, ctx: RunContext,
                    repeats: int, warmup: int) -> dict:
    """Median milliseconds per forward pass of ``batch`` random images on ``ctx.device``, and images/s."""
    model.eval()
    x = ctx.to_device(torch.randn(batch, *image_shape))
    times = []
    for i in range(warmup + repeats):
        _sync(ctx)
        began = time.perf_counter()
        with ctx.autocast():
            model(x)
        _sync(ctx)
        if i >= warmup:
            times.append(time.perf_counter() - began)
    median = statistics.median(times)
    return {"batch": batch, "ms": 1e3 * median, "images_per_s": batch / median, "repeats": repeats}


def _sync(ctx: RunContext) -> None:
    if ctx.device.type == "cuda":
        torch.cuda.synchronize(ctx.device)

"""Inference latency: the median of repeated timed forward passes after an untimed warm-up."""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Callable

import torch

from cream.engine.context import RunContext


def timed_call(forward: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, ctx: RunContext,
               clock=time.perf_counter) -> tuple[torch.Tensor, float]:
    """``forward(x)`` under the run's autocast, and its milliseconds on ``ctx.device`` (synchronised on a GPU).

    ``clock`` is wall time; ``time.thread_time`` (CPU time, valid with one thread) leaves out the time other
    processes hold the core, for benchmarks on a busy machine.
    """
    _sync(ctx)
    began = clock()
    with ctx.autocast():
        out = forward(x)
    _sync(ctx)
    return out, 1e3 * (clock() - began)


@torch.no_grad()
def median_ms(forward: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, ctx: RunContext, repeats: int,
              warmup: int, clock=time.perf_counter) -> float:
    """Median milliseconds of ``forward(x)`` over ``repeats`` calls after ``warmup`` untimed ones."""
    times = [timed_call(forward, x, ctx, clock)[1] for _ in range(warmup + repeats)]
    return statistics.median(times[warmup:])


def measure_latency(model: torch.nn.Module, image_shape: tuple[int, int, int], batch: int, ctx: RunContext,
                    repeats: int, warmup: int) -> dict:
    """Median milliseconds per forward pass of ``batch`` random images on ``ctx.device``, and images/s."""
    model.eval()
    ms = median_ms(model, ctx.to_device(torch.randn(batch, *image_shape)), ctx, repeats, warmup)
    return {"batch": batch, "ms": ms, "images_per_s": 1e3 * batch / ms, "repeats": repeats}


@contextlib.contextmanager
def cpu_threads(threads: int):
    """Run the block with ``threads`` CPU threads, then restore the previous count."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _sync(ctx: RunContext) -> None:
    if ctx.device.type == "cuda":
        torch.cuda.synchronize(ctx.device)

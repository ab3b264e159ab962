"""Device, processes (torchrun / DDP) and numeric settings of one run."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from cream.errors import CreamError


@dataclass
class RunContext:
    device: torch.device
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    bf16: bool = False
    channels_last: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world > 1

    @property
    def uses_bf16(self) -> bool:
        """bf16 autocast is asked for and available: on CUDA only."""
        return self.bf16 and self.device.type == "cuda"

    def autocast(self):
        if self.uses_bf16:
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def to_device(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.device, non_blocking=True)
        if self.channels_last and x.ndim == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    def prepare_model(self, model: torch.nn.Module) -> torch.nn.Module:
        model = model.to(self.device)
        return model.to(memory_format=torch.channels_last) if self.channels_last else model

    def all_reduce(self, tensor: torch.Tensor) -> torch.Tensor:
        """Sum over processes (in place; a no-op in a single process)."""
        if self.distributed:
            dist.all_reduce(tensor)
        return tensor

    def broadcast(self, tensor: torch.Tensor) -> torch.Tensor:
        """Rank 0's value everywhere (in place)."""
        if self.distributed:
            dist.broadcast(tensor, 0)
        return tensor

    def check_agree(self, value, what: str) -> None:
        """Fail loudly if processes disagree on ``value`` (they must take identical decisions)."""
        if not self.distributed:
            return
        values = [None] * self.world
        dist.all_gather_object(values, value)
        if any(v != values[0] for v in values):
            raise RuntimeError(f"processes disagree on the {what}: {values}")

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()


def setup_context(run_cfg) -> RunContext:
    """Read torchrun's environment, start the process group, pick the device and thread count."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", str(world)))
    device = _pick_device(run_cfg.device, local_rank)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if device.type == "cpu":
        threads = run_cfg.threads or max(1, (os.cpu_count() or 1) // local_world)
        torch.set_num_threads(threads)
    else:
        torch.backends.cudnn.benchmark = run_cfg.cudnn_benchmark
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    return RunContext(device, rank, world, local_rank, bf16=run_cfg.bf16, channels_last=run_cfg.channels_last)


def teardown_context(ctx: RunContext) -> None:
    if ctx.distributed and dist.is_initialized():
        dist.destroy_process_group()


def _pick_device(name: str, local_rank: int) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise CreamError(f"run.device={name} but no CUDA GPU is visible; use run.device=cpu or auto")
        if name == "cuda":
            name = f"cuda:{local_rank}"
        torch.cuda.set_device(torch.device(name))
    elif name != "cpu":
        raise CreamError(f"run.device must be auto, cpu, cuda or cuda:N, got {name!r}")
    return torch.device(name)

"""Multiply-adds and parameters per (block position, op), measured on the actual model, for cheap look-ups.

Counting uses torch's FlopCounterMode (convolutions and matrix products; one multiply-add = 2 FLOPs).
The search looks paths up in the table every step, so ``macs(arch)`` is a plain sum over Python floats.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
from torch.utils.flop_counter import FlopCounterMode

from cream.space.arch import Arch
from cream.space.net import NetSpec
from cream.space.supernet import MAX_DEPTHS, Supernet


def count_macs(module: nn.Module, *inputs) -> float:
    """Multiply-adds of one forward of ``module`` on ``inputs``, in millions."""
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        module(*inputs)
    return counter.get_total_flops() / 2e6


def count_params(module: nn.Module) -> float:
    """Parameters of ``module``, in millions."""
    return sum(p.numel() for p in module.parameters()) / 1e6


@dataclass(frozen=True)
class FlopsTable:
    """Per-image multiply-adds and parameters (millions): a fixed part plus one entry per block and op."""

    resolution: int
    fixed_macs: float
    fixed_params: float
    block_macs: tuple[tuple[tuple[float, ...], ...], ...]  # [stage][block][op]
    block_params: tuple[tuple[tuple[float, ...], ...], ...]

    def macs(self, arch: Arch) -> float:
        total = self.fixed_macs
        for stage, ops in zip(self.block_macs, arch.stages):
            for block, op in zip(stage, ops):
                total += block[op]
        return total

    def params(self, arch: Arch) -> float:
        total = self.fixed_params
        for stage, ops in zip(self.block_params, arch.stages):
            for block, op in zip(stage, ops):
                total += block[op]
        return total

    def to_json(self) -> dict:
        return dict(self.__dict__)

    @classmethod
    def from_json(cls, data: dict) -> FlopsTable:
        def nest(rows):
            return tuple(tuple(tuple(ops) for ops in stage) for stage in rows)

        return cls(data["resolution"], data["fixed_macs"], data["fixed_params"],
                   nest(data["block_macs"]), nest(data["block_params"]))


@torch.no_grad()
def measure_table(spec: NetSpec, supernet: Supernet | None = None) -> FlopsTable:
    """Count every op of every block position at ``spec.resolution`` (batch of one image)."""
    net = supernet if supernet is not None and supernet.depths == MAX_DEPTHS else Supernet(spec, MAX_DEPTHS)
    was_training = net.training
    net.eval()
    device = next(net.parameters()).device
    x = torch.zeros(1, spec.in_chans, spec.resolution, spec.resolution, device=device)

    stem = nn.Sequential(net.conv_stem, net.bn1, net.blocks[0])
    fixed_macs = count_macs(stem, x)
    x = stem(x)
    block_macs, block_params = [], []
    for stage in net.blocks[1:-1]:
        stage_macs, stage_params = [], []
        for choice in stage:
            stage_macs.append(tuple(count_macs(op, x) for op in choice.ops))
            stage_params.append(tuple(count_params(op) for op in choice.ops))
            x = choice.ops[0](x)  # every op gives the same output shape
        block_macs.append(tuple(stage_macs))
        block_params.append(tuple(stage_params))
    fixed_macs += count_macs(net.blocks[-1], x)
    fixed_macs += count_macs(net.forward_head, net.blocks[-1](x))
    head = [net.conv_stem, net.bn1, net.blocks[0], net.blocks[-1], net.conv_head, net.norm_head, net.classifier]
    fixed_params = sum(count_params(m) for m in head)
    net.train(was_training)
    return FlopsTable(spec.resolution, fixed_macs, fixed_params, tuple(block_macs), tuple(block_params))

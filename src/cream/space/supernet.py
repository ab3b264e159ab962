"""The weight-sharing supernet: every searchable block holds its six ops as siblings.

Its keys mirror a child net's, with ``ops.{op}`` inserted in searchable blocks
(``blocks.{stage}.{block}.ops.{op}.*``), so extracting a path is a key rename.
"""

from __future__ import annotations

import re

import torch
import torch.nn as nn

from cream.errors import CreamError
from cream.space.arch import NUM_OPS, STAGES, Arch
from cream.space.net import CreamNet, NetSpec, build_child

MAX_DEPTHS = tuple(stage.max_depth for stage in STAGES)
_SEARCHABLE_KEY = re.compile(r"^blocks\.([1-5])\.(\d+)\.(.*)$")


class ChoiceBlock(nn.Module):
    """One searchable block position: the six candidate inverted-residual ops."""

    def __init__(self, ops: list[nn.Module]):
        super().__init__()
        self.ops = nn.ModuleList(ops)

    def forward(self, x: torch.Tensor, op: int) -> torch.Tensor:
        return self.ops[op](x)


class Supernet(nn.Module):
    """All paths of the space at ``depths`` blocks per stage; ``forward(x, arch)`` runs exactly one path."""

    def __init__(self, spec: NetSpec, depths: tuple[int, ...] = MAX_DEPTHS):
        super().__init__()
        Arch.uniform(depths, 0)  # validates the depths
        self.spec = spec
        self.depths = tuple(depths)
        # Build one uniform trunk per op with timm's builder and take its blocks, so every op module is
        # constructed exactly as in a child net.
        stem, _ = spec.strides
        trunks = [
            CreamNet(spec.block_args(Arch.uniform(depths, op)), stem_stride=stem, **spec.model_kwargs())
            for op in range(NUM_OPS)
        ]
        base = trunks[0]
        searchable = [
            nn.ModuleList(ChoiceBlock([t.blocks[s + 1][b] for t in trunks]) for b in range(depth))
            for s, depth in enumerate(self.depths)
        ]
        self.conv_stem, self.bn1 = base.conv_stem, base.bn1
        self.blocks = nn.ModuleList([base.blocks[0], *searchable, base.blocks[-1]])
        self.global_pool, self.conv_head = base.global_pool, base.conv_head
        self.norm_head, self.act2, self.flatten = base.norm_head, base.act2, base.flatten
        self.drop_rate, self.classifier = base.drop_rate, base.classifier

    def check(self, arch: Arch) -> None:
        if any(d > m for d, m in zip(arch.depths, self.depths)):
            raise CreamError(f"architecture {arch} is deeper than the supernet's depths {self.depths}")

    def forward_features(self, x: torch.Tensor, arch: Arch) -> torch.Tensor:
        x = self.bn1(self.conv_stem(x))
        x = self.blocks[0](x)
        for stage, ops in zip(self.blocks[1:-1], arch.stages):
            for block, op in zip(stage, ops):
                x = block(x, op)
        return self.blocks[-1](x)

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        x = self.flatten(self.act2(self.norm_head(self.conv_head(self.global_pool(x)))))
        if self.drop_rate > 0:
            x = nn.functional.dropout(x, p=self.drop_rate, training=self.training)
        return self.classifier(x)

    def forward(self, x: torch.Tensor, arch: Arch) -> torch.Tensor:
        return self.forward_head(self.forward_features(x, arch))

    def path_parameters(self, arch: Arch) -> list[nn.Parameter]:
        """The parameters one path uses (shared parts plus its chosen ops)."""
        chosen = {id(p) for name, p in self.path_state(arch, params_only=True)}
        return [p for p in self.parameters() if id(p) in chosen]

    def path_state(self, arch: Arch, params_only: bool = False) -> list[tuple[str, torch.Tensor]]:
        """(child-net key, supernet tensor) for every tensor of the path ``arch``."""
        self.check(arch)
        items = self.named_parameters() if params_only else self.state_dict(keep_vars=True).items()
        out = []
        for name, tensor in items:
            match = _SEARCHABLE_KEY.match(name)
            if match is None:
                out.append((name, tensor))
                continue
            stage, block, rest = int(match[1]), int(match[2]), match[3]
            op_prefix, _, tail = rest.partition(".")[2].partition(".")
            if block < arch.depths[stage - 1] and int(op_prefix) == arch.stages[stage - 1][block]:
                out.append((f"blocks.{stage}.{block}.{tail}", tensor))
        return out

    def extract(self, arch: Arch) -> CreamNet:
        """A standalone child net holding this path's weights and BatchNorm statistics."""
        child = build_child(arch, self.spec)
        child.load_state_dict({k: v.detach().clone() for k, v in self.path_state(arch)})
        return child.to(next(self.parameters()).device)

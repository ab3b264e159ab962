"""Human-readable tables of an architecture and of a planned search space."""

from __future__ import annotations

import torch

from cream.space.arch import OPS, STAGES, Arch
from cream.space.budget import SpacePlan
from cream.space.flops import count_macs, count_params
from cream.space.net import HEAD_CHS, LAST_CONV_CHS, STEM_CHS, NetSpec, build_child


def op_name(op: int) -> str:
    kernel, expansion = OPS[op]
    return f"k{kernel}e{expansion}"


def arch_report(arch: Arch, spec: NetSpec, name: str | None = None) -> str:
    """Stage table, output shape, parameters and multiply-adds of one child net (measured, not looked up)."""
    model = build_child(arch, spec).eval()
    x = torch.zeros(1, spec.in_chans, spec.resolution, spec.resolution)
    with torch.no_grad():
        out = model(x)
    stem, strides = spec.strides
    title = f"{name}  {arch}" if name else str(arch)
    lines = [
        f"{title}  ({spec.resolution} px, {spec.in_chans} channel(s), {spec.num_classes} classes, "
        f"width {spec.width:g})",
        f"{'stage':<6}{'out':>6}{'stride':>8}{'blocks':>8}  ops (kernel k, expansion e)",
        f"{'stem':<6}{STEM_CHS:>6}{stem:>8}{1:>8}  conv3x3",
        f"{'0':<6}{16:>6}{1:>8}{1:>8}  depthwise-separable k3",
    ]
    for s, ops in enumerate(arch.stages):
        ops_text = " ".join(op_name(op) for op in ops)
        lines.append(f"{s + 1:<6}{STAGES[s].out_chs:>6}{strides[s]:>8}{len(ops):>8}  {ops_text}")
    lines += [
        f"{'6':<6}{LAST_CONV_CHS:>6}{1:>8}{1:>8}  conv1x1",
        f"{'head':<6}{HEAD_CHS:>6}{'':>8}{'':>8}  avgpool, conv1x1+bias, swish, dropout, linear {spec.num_classes}",
        "(channels before the width multiplier; SE 0.25 and swish in every block)",
        f"output shape   {tuple(out.shape)}",
        f"params         {count_params(model):.1f} M ({sum(p.numel() for p in model.parameters()):,})",
        f"multiply-adds  {count_macs(model, x):.1f} M",
    ]
    return "\n".join(lines)


def space_report(plan: SpacePlan) -> str:
    table = plan.table
    low, high = table.macs(plan.smallest), table.macs(plan.largest)
    stem, strides = plan.spec.strides
    return "\n".join([
        f"FLOPs range    [{plan.flops_min:g}, {plan.flops_max:g}] M multiply-adds",
        f"resolution     {plan.spec.resolution} px (stem stride {stem}, stage strides {list(strides)}, "
        f"width {plan.spec.width:g})",
        f"depths         {list(plan.depths)} blocks per searchable stage",
        f"paths          {plan.num_paths:.3e} (6 ops per block)",
        f"covered        {low:.2f} .. {high:.2f} M multiply-adds (all op 0 .. all op 5)",
        f"params         {table.params(plan.smallest):.2f} .. {table.params(plan.largest):.2f} M",
    ])

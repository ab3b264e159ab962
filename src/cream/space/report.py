"""Human-readable tables of an architecture and of a planned search space."""

from __future__ import annotations

import torch

from cream.space.arch import OPS, STAGES, Arch
from cream.space.budget import SpacePlan
from cream.space.flops import count_macs, count_params
from cream.space.latency_table import FIXED_PARTS, LatencyTable, measured_ms
from cream.space.net import HEAD_CHS, LAST_CONV_CHS, STEM_CHS, NetSpec, build_child


def op_name(op: int) -> str:
    kernel, expansion = OPS[op]
    return f"k{kernel}e{expansion}"


def arch_report(arch: Arch, spec: NetSpec, name: str | None = None, latency: LatencyTable | None = None,
                table_path: str = "") -> str:
    """Stage table, output shape, parameters and multiply-adds of one child net (measured, not looked up), and with
    a latency table its predicted latency beside the latency measured here as the table was."""
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
    if latency is not None:
        measured = measured_ms(latency, model)
        lines.append(f"latency        predicted {latency.ms(arch):.3g} ms, measured {measured:.3g} ms "
                     f"({latency.describe()}; table {table_path})")
    return "\n".join(lines)


def space_report(plan: SpacePlan) -> str:
    table = plan.table
    low, high = table.macs(plan.smallest), table.macs(plan.largest)
    stem, strides = plan.spec.strides
    lines = [
        f"budget         {plan.budget_text()}",
        f"resolution     {plan.spec.resolution} px (stem stride {stem}, stage strides {list(strides)}, "
        f"width {plan.spec.width:g})",
        f"depths         {list(plan.depths)} blocks per searchable stage"
        + (" (elastic: a path uses the first 1..d of each)" if plan.elastic_depth else ""),
        f"paths          {plan.num_paths:.3e} (6 ops per block)",
        f"covered        {low:.2f} .. {high:.2f} M multiply-adds (all op 0{' at depth 1' if plan.elastic_depth else ''}"
        " .. all op 5)",
        f"params         {table.params(plan.smallest):.2f} .. {table.params(plan.largest):.2f} M",
    ]
    latency = plan.latency
    if latency is not None:
        lines.append(f"latency        {latency.ms(latency.fastest(plan.min_depths)):.3g} .. "
                     f"{latency.ms(latency.slowest(plan.depths)):.3g} ms predicted (quickest .. slowest op at every "
                     f"block; {latency.describe()})")
    return "\n".join(lines)


def latency_table_report(table: LatencyTable) -> str:
    """Where a table was measured, its fixed parts, and each op's mean over the positions of each stage."""
    lines = [
        f"latency table  {table.describe()}, channels_last {table.channels_last}, bf16 {table.bf16}, "
        f"torch {table.torch}; median of {table.repeats} after {table.warmup} warm-up passes",
        "fixed parts    " + "  ".join(f"{part} {table.fixed_ms[part]:.3g}" for part in FIXED_PARTS) + " ms",
        f"{'stage':<15}" + "".join(f"{op_name(op):>9}" for op in range(len(OPS))) + "   ms per block (mean)",
    ]
    for s, stage in enumerate(table.block_ms):
        means = [sum(block[op] for block in stage) / len(stage) for op in range(len(OPS))]
        lines.append(f"{s + 1:<15}" + "".join(f"{ms:>9.3g}" for ms in means))
    return "\n".join(lines)

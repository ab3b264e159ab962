"""Final choice: evaluate candidate paths on search-val, each with BatchNorm recalibrated, pick the best."""

from __future__ import annotations

import itertools

from cream.engine.context import RunContext
from cream.engine.evaluate import evaluate, recalibrate_bn
from cream.errors import CreamError
from cream.space.arch import Arch
from cream.space.budget import SpacePlan
from cream.space.supernet import Supernet


def evaluate_path(supernet: Supernet, arch: Arch, data, ctx: RunContext, bn_batches: int, val_images: int,
                  seed: int = 0) -> dict:
    """Search-val accuracy of one path, extracted as a child net with recalibrated BatchNorm."""
    child = ctx.prepare_model(supernet.extract(arch))
    if bn_batches > 0:
        batches = itertools.islice(data.train.batches(epoch=10_000 + seed), bn_batches)
        recalibrate_bn(child, child, batches, ctx)
    child.eval()
    return evaluate(child, data.val, ctx, max_images=val_images)


def select_final(supernet: Supernet, candidates: list[Arch], plan: SpacePlan, data, ctx: RunContext,
                 bn_batches: int, val_images: int, log=print) -> list[dict]:
    """Every in-budget candidate with its FLOPs, params, predicted latency (with a latency table) and search-val
    top-1, best first: ties go to the lower cost (latency with a table, else FLOPs)."""
    in_budget = [a for a in dict.fromkeys(candidates) if plan.in_budget(a)]
    if not in_budget:
        raise CreamError(f"no candidate path lies inside {plan.budget_text()}, so nothing can be selected; "
                         "widen the range or train longer so the board fills")
    results = []
    for arch in in_budget:
        row = path_row(supernet, arch, plan, data, ctx, bn_batches, val_images)
        results.append(row)
        log(candidate_line(row))
    return rank_rows(results)


def path_row(supernet: Supernet, arch: Arch, plan: SpacePlan, data, ctx: RunContext, bn_batches: int,
             val_images: int) -> dict:
    """One path's FLOPs, params, predicted latency (with a latency table) and search-val top-1, top-5 and loss."""
    metrics = evaluate_path(supernet, arch, data, ctx, bn_batches, val_images)
    row = {"arch": str(arch), "flops": plan.table.macs(arch), "params": plan.table.params(arch)}
    if plan.latency is not None:
        row["latency_ms"] = plan.latency.ms(arch)
    return {**row, "val_top1": metrics["top1"], "val_top5": metrics["top5"], "val_loss": metrics["loss"]}


def candidate_line(row: dict) -> str:
    latency = f"  {row['latency_ms']:.3g} ms" if "latency_ms" in row else ""
    return f"  candidate {row['arch']}  {row['flops']:.2f} M{latency}  search-val top-1 {row['val_top1']:.2f}%"


def rank_rows(rows: list[dict]) -> list[dict]:
    """Best search-val top-1 first; ties go to the lower cost (latency with a latency table, else FLOPs)."""
    return sorted(rows, key=lambda r: (-r["val_top1"], r.get("latency_ms", r["flops"])))  # plan.cost of each row

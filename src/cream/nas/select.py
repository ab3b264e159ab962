"""``cream select``: search a trained supernet for the best path of each budget, scoring each path once.

Reading order: ``run_select`` -> ``budget_limits`` and ``make_budgets`` (one SpacePlan per budget, all checked
before anything is written) -> ``PathScores`` (search-val with BatchNorm recalibrated, one evaluation per path
whatever the number of budgets) -> ``cream.nas.evolution.search_budget`` per budget -> ``pareto_front`` ->
select.json.
``evolution_final`` is the same search for one budget at the end of ``cream search`` (search.final=evolution).
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from cream.config import EvolutionConfig, SelectConfig, SelectRun, run_folder, to_dict
from cream.data import build_data
from cream.engine.checkpoint import read_search_checkpoint
from cream.engine.context import setup_context, teardown_context
from cream.engine.logs import json_number, versions, write_text_atomic
from cream.engine.rundir import RunDir
from cream.errors import CreamError
from cream.nas.evolution import MIN_DRAWS, EvolutionSizes, Trace, random_path, search_budget
from cream.nas.selection import candidate_line, path_row, rank_rows
from cream.space.arch import Arch
from cream.space.budget import SpacePlan, plan_space
from cream.space.latency_table import load_latency_table
from cream.space.supernet import load_supernet

SELECT = "select.json"
OUTPUTS = (SELECT, SELECT + ".tmp")


class PathScores:
    """Each path's row (``selection.path_row``: cost and search-val accuracy), measured once and kept by its
    architecture string; every budget of a run shares it."""

    def __init__(self, measure: Callable[[Arch], dict]):
        self.measure, self.rows = measure, {}

    def row(self, arch: Arch) -> dict:
        key = str(arch)
        if key not in self.rows:
            tick = time.perf_counter()
            self.rows[key] = {**self.measure(arch), "seconds": time.perf_counter() - tick}
        return self.rows[key]

    def score(self, arch: Arch) -> float:
        return self.row(arch)["val_top1"]


def sizes_of(evolution: EvolutionConfig) -> EvolutionSizes:
    return EvolutionSizes(**asdict(evolution))


def pareto_front(rows: list[dict], cost: str) -> list[dict]:
    """The rows no other row beats on both counts (lower ``cost`` and higher search-val top-1), cheapest first."""
    front, best = [], float("-inf")
    for row in sorted(rows, key=lambda r: (r[cost], -r["val_top1"])):
        if row["val_top1"] > best:
            front.append(row)
            best = row["val_top1"]
    return front


def pick_row(rows: list[dict]) -> dict:
    """The best row: highest search-val top-1, the lower cost among equals."""
    return rank_rows(rows)[0]


def budget_key(value: float) -> str:
    """A budget's name in select.json and in ``retrain.arch=select.json:NAME``: its limit as written (4, 2.5)."""
    return f"{value:g}"


def budget_limits(s: SelectConfig, searched_flops_max: float | None) -> dict[str, tuple[float | None, float | None]]:
    """Each budget's (multiply-add limit, latency limit), named by the limit that varies (``select.flops_max`` or
    ``select.latency_max``, one list of them); checked before anything is loaded."""
    flops = s.flops_max if s.flops_max is not None else [searched_flops_max]
    latency = s.latency_max if s.latency_max is not None else [None]
    if not flops or not latency:
        raise CreamError("the budget list is empty; give one or more limits, e.g. --flops-max 2,4,8")
    if len(flops) > 1 and len(latency) > 1:
        raise CreamError("give several budgets for multiply-adds or for latency, not both (e.g. --flops-max 2,4,8, "
                         "or --latency-table T --latency-max 5,10)")
    if s.latency_table is None and (s.latency_max is not None or s.latency_min):
        raise CreamError("latency budgets need --latency-table FILE (select.latency_table), a table made for the "
                         "supernet's net by `cream latency-table`")
    by_latency = len(latency) > 1 or (s.latency_max is not None and s.flops_max is None)
    names = [budget_key(v) if v is not None else "any" for v in (latency if by_latency else flops)]
    if len(set(names)) < len(names):
        raise CreamError(f"a budget is given twice in {', '.join(names)}; give each once")
    return {name: (flops[0 if by_latency else i], latency[i if by_latency else 0]) for i, name in enumerate(names)}


def make_budgets(base: SpacePlan, s: SelectConfig, limits: dict[str, tuple]) -> dict[str, SpacePlan]:
    """One plan per budget of ``limits``, each checked to hold a path of the supernet."""
    plans = {}
    for i, (name, (flops_max, latency_max)) in enumerate(limits.items()):
        plan = base.with_budget(s.flops_min, flops_max, s.latency_min, latency_max)
        if random_path(plan, random.Random(i)) is None:  # as many draws as the search makes before it gives up
            raise CreamError(f"no path of the supernet lies within {plan.budget_text()} (none in {MIN_DRAWS} random "
                             "draws); widen that budget")
        plans[name] = plan
    return plans


def select_budgets(plans: dict[str, SpacePlan], scores: PathScores, method: str, sizes: EvolutionSizes, seed: int,
                   cost: str, log=print) -> dict[str, dict]:
    """For each budget, ``method``'s search with what it took: its paths' number, those new to the run, seconds and
    the best search-val top-1 after each evaluation. Each pick is the best of every path the run scored inside
    that budget, whichever budget's search scored it: those cost nothing more, and a larger budget's pick is then
    never worse than a smaller one's."""
    searched = {}
    for name, plan in plans.items():
        before, tick = len(scores.rows), time.perf_counter()
        trace: Trace = search_budget(scores.score, plan, method, sizes, seed)
        searched[name] = {"evaluations": len(trace.scored), "new_evaluations": len(scores.rows) - before,
                          "seconds": time.perf_counter() - tick, "curve": trace.curve()}
        log(f"budget {name} ({plan.budget_text()}): {method} scored {len(trace.scored)} paths "
            f"({len(scores.rows) - before} new) in {searched[name]['seconds']:.0f} s")
    picks = {}
    for name, plan in plans.items():
        pick = pick_row([row for key, row in scores.rows.items() if plan.in_budget(Arch.parse(key))])
        picks[name] = {**pick, "flops_range": [plan.flops_min, json_number(plan.flops_max)],
                       "latency_range": [plan.latency_min, json_number(plan.latency_max)] if plan.latency else None,
                       **searched[name]}
        log(f"budget {name}: pick {pick['arch']}, {pick[cost]:.3g} {'ms' if cost == 'latency_ms' else 'M'}, "
            f"search-val top-1 {pick['val_top1']:.2f}%")
    return picks


def default_out_dir(supernet: str) -> str:
    """runs/select/<the search run folder's name>."""
    return run_folder("select", Path(supernet).resolve().parent.name)


def run_select(cfg: SelectRun, force: bool = False, log=print) -> dict:
    """Pick a path for every budget of ``cfg.select``; writes select.json (atomically) and returns its content."""
    s, tick = cfg.select, time.perf_counter()
    ckpt = read_search_checkpoint(s.supernet, "pass --supernet RUN/last.pth of a `cream search` run (a retrained "
                                              "best.pth holds one net, not a supernet)")
    searched = ckpt["config"]
    limits = budget_limits(s, searched["space"]["flops_max"])
    supernet = load_supernet(ckpt, ema=s.ema)
    latency = load_latency_table(s.latency_table, supernet.spec) if s.latency_table else None
    base = plan_space(supernet.spec, 0.0, None, supernet.depths, latency,
                      elastic_depth=searched["space"].get("elastic_depth", False))
    plans = make_budgets(base, s, limits)
    out_dir = Path(cfg.run.out_dir or default_out_dir(s.supernet))
    ctx = setup_context(cfg.run)
    try:
        if ctx.distributed:
            raise CreamError("cream select runs in one process; run it without torchrun")
        data = build_data(cfg.data, supernet.spec.resolution, supernet.spec.in_chans, "search",
                          seed=searched["run"]["seed"])  # the search's BatchNorm batches
        if data.num_classes != supernet.spec.num_classes:
            raise CreamError(f"the data has {data.num_classes} classes but the supernet {supernet.spec.num_classes}; "
                             "select on the data it was searched on (see data.classes)")
        bn_batches = s.bn_batches if s.bn_batches is not None else searched["search"]["bn_batches"]
        net = ctx.prepare_model(supernet)
        scores = PathScores(lambda arch: path_row(net, arch, base, data, ctx, bn_batches, s.val_images))
        run_dir = RunDir(out_dir, OUTPUTS)
        run_dir.acquire()
        try:
            if force:
                run_dir.clear()
            elif run_dir.file(SELECT).exists():
                raise CreamError(f"{out_dir} holds a selection ({SELECT}); pass --force to replace it, or choose "
                                 "another --out")
            cost = "latency_ms" if latency is not None else "flops"
            sizes = sizes_of(cfg.evolution)
            picks = select_budgets(plans, scores, s.method, sizes, cfg.run.seed, cost, log)
            scored = sorted(scores.rows.values(), key=lambda r: (r[cost], -r["val_top1"]))
            result = {
                "kind": "cream-select", "supernet": str(s.supernet), "weights": supernet.weights,
                "algorithm": searched["search"]["algorithm"], "net": supernet.spec.to_json(),
                "depths": list(supernet.depths), "elastic_depth": base.elastic_depth, "method": s.method,
                "evolution": asdict(sizes) if s.method == "evolution" else None, "seed": cfg.run.seed, "cost": cost,
                "latency_table": _table_summary(s.latency_table, latency), "picks": picks,
                "scored": scored, "front": pareto_front(scored, cost), "evaluations": len(scored),
                "elapsed_s": time.perf_counter() - tick, "config": to_dict(cfg), "versions": versions(),
            }
            write_text_atomic(run_dir.file(SELECT), json.dumps(result, indent=2))
            log(f"wrote {run_dir.file(SELECT)}: {len(picks)} pick(s) from {len(scored)} paths scored, "
                f"{len(result['front'])} on the Pareto front")
            return {**result, "written_to": str(run_dir.file(SELECT))}
        finally:
            run_dir.release()
    finally:
        teardown_context(ctx)


def _table_summary(path: str | None, table) -> dict | None:
    if table is None:
        return None
    return {"file": str(path), "device": table.device, "device_name": table.device_name, "batch": table.batch,
            "threads": table.threads, "channels_last": table.channels_last, "bf16": table.bf16, "torch": table.torch}


def evolution_final(supernet, plan: SpacePlan, data, ctx, bn_batches: int, val_images: int,
                    evolution: EvolutionConfig, seed: int, log=print) -> list[dict]:
    """search.final=evolution: SPOS's evolutionary search over the search's own budget; every path it scored,
    best first."""
    scores = PathScores(lambda arch: path_row(supernet, arch, plan, data, ctx, bn_batches, val_images))
    sizes = sizes_of(evolution)
    log(f"final selection by evolution: up to {sizes.evaluations} paths ({sizes.generations} generations of "
        f"{sizes.population})")
    search_budget(scores.score, plan, "evolution", sizes, seed)
    rows = [{k: v for k, v in row.items() if k != "seconds"} for row in scores.rows.values()]
    for row in rows:
        log(candidate_line(row))
    return rank_rows(rows)

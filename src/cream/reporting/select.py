"""The select page (``cream select``): the pick of each budget with the command that retrains it, every scored path
against its cost with the Pareto front, the best search-val top-1 found after each path scored, and the front."""

from __future__ import annotations

import plotly.graph_objects as go

from cream.reporting.charts import COLORS, as_html, figure
from cream.reporting.files import RunFiles
from cream.reporting.search import COST_LABELS, retrain_source

UNITS = {"flops": "M", "latency_ms": "ms"}


def select_page(run: RunFiles) -> dict:
    """The select template's values."""
    chosen, cost = run.select, run.select["cost"]
    return {"kind": "select", "title": f"select {run.folder.name}", "run": run, "facts": select_facts(run),
            "picks": picks_table(run), "cost_label": COST_LABELS[cost],
            "scored": as_html(scored_figure([run]), "scored"), "curves": as_html(curves_figure(chosen), "curves"),
            "front": [[row["arch"], f"{row[cost]:.3g}", f"{row['params']:.3f}", f"{row['val_top1']:.2f}"]
                      for row in chosen["front"]]}


def select_facts(run: RunFiles) -> list[tuple[str, str]]:
    chosen = run.select
    sizes = chosen.get("evolution")
    method = ("evolution: population {population}, top {top_k} breed, {mutations} mutants and {crossovers} "
              "crossovers per generation, {generations} generations, mutation probability {mutation_prob:g}"
              .format(**sizes)) if sizes else "random paths inside each budget"
    selecting = chosen["config"]["select"]
    facts = [("supernet", f"{chosen['supernet']} ({chosen['algorithm']}, {chosen['weights']} weights, depths "
                          f"{chosen['depths']}{', elastic' if chosen['elastic_depth'] else ''})"),
             ("method", method),
             ("scoring", f"search-val top-1 on {selecting['val_images']} images, BatchNorm recalibrated per path; "
                         "each path scored once whatever the number of budgets"),
             ("done", f"{chosen['evaluations']} paths scored in {chosen['elapsed_s'] / 60:.1f} min, seed "
                      f"{chosen['seed']}")]
    table = chosen.get("latency_table")
    if table:
        facts.append(("latency table", f"{table['file']} ({table['device_name']}, batch {table['batch']})"))
    return facts


def budget_limits(pick: dict, cost: str) -> list:
    """[low, high] of the budget a pick was made for, in the selection's cost (high None: no limit)."""
    return pick["latency_range"] if cost == "latency_ms" else pick["flops_range"]


def budget_text(pick: dict, cost: str) -> str:
    low, high = budget_limits(pick, cost)
    return f"{low or 0:g} to {'no limit' if high is None else f'{high:g}'} {UNITS[cost]}"


def picks_table(run: RunFiles) -> dict:
    """One row per budget with its pick, and the commands that retrain the picks."""
    chosen, cost = run.select, run.select["cost"]
    source = retrain_source(chosen["config"]["data"])
    rows = [[name, budget_text(pick, cost), pick["arch"], f"{pick[cost]:.3g}", f"{pick['params']:.3f}",
             f"{pick['val_top1']:.2f}", pick["evaluations"], f"{pick['seconds']:.0f}"]
            for name, pick in chosen["picks"].items()]
    return {"columns": ["budget", "range", "pick", COST_LABELS[cost], "M params", "search-val top-1 (%)",
                        "paths scored", "seconds"], "rows": rows,
            "commands": [f"cream retrain {source} retrain.arch={run.folder / 'select.json'}:{name}"
                         for name in chosen["picks"]]}


def scored_figure(runs: list[RunFiles]) -> go.Figure:
    """Search-val top-1 against cost of every scored path; the Pareto front as a line; each pick a star; each
    budget's upper limit a dashed line."""
    cost = runs[0].select["cost"]
    fig = figure(height=460, xaxis_title=COST_LABELS[cost], yaxis_title="search-val top-1 (%)")
    for i, run in enumerate(runs):
        chosen, color = run.select, COLORS[i % len(COLORS)]
        name = f"{run.folder.name}: " if len(runs) > 1 else ""
        dots = {"mode": "markers", "marker": {"size": 6, "color": color, "opacity": 0.4}}
        front = {"mode": "lines+markers", "marker": {"size": 7, "color": color},
                 "line": {"color": color, "width": 2, "shape": "hv"}}
        for what, rows, style in (("paths scored", chosen["scored"], dots), ("Pareto front", chosen["front"], front)):
            fig.add_trace(go.Scatter(x=[r[cost] for r in rows], y=[r["val_top1"] for r in rows], name=name + what,
                                     text=[r["arch"] for r in rows], **style,
                                     hovertemplate="%{text}<br>%{x:.3g}, %{y:.2f}%<extra></extra>"))
        picks = chosen["picks"]
        fig.add_trace(go.Scatter(
            x=[p[cost] for p in picks.values()], y=[p["val_top1"] for p in picks.values()], mode="markers",
            name=f"{name}picks", text=[f"budget {b}: {p['arch']}" for b, p in picks.items()],
            marker={"size": 18, "symbol": "star", "color": "gold", "line": {"width": 1.5, "color": color}},
            hovertemplate="%{text}<br>%{x:.3g}, %{y:.2f}%<extra></extra>"))
    for name, pick in runs[0].select["picks"].items():
        high = budget_limits(pick, cost)[1]
        if high is not None:
            fig.add_vline(x=high, line_dash="dash", line_color="#888", annotation_text=f"budget {name}",
                          annotation_position="top left")
    return fig


def curves_figure(chosen: dict) -> go.Figure:
    """Per budget, the best search-val top-1 found after each path its search scored."""
    fig = figure(height=360, xaxis_title="paths scored", yaxis_title="best search-val top-1 so far (%)")
    for i, (name, pick) in enumerate(chosen["picks"].items()):
        fig.add_trace(go.Scatter(x=list(range(1, len(pick["curve"]) + 1)), y=pick["curve"], mode="lines",
                                 name=f"budget {name}", line={"color": COLORS[i % len(COLORS)], "shape": "hv"}))
    return fig

"""The search page: what was searched, the verdict, the picked network, the cloud of paths, the board over time,
the training curves, the throughput per phase and the final candidates."""

from __future__ import annotations

import re

import plotly.graph_objects as go

from cream.config import DataConfig
from cream.reporting.charts import COLORS, as_html, curve, epoch_grid, figure
from cream.reporting.files import RunFiles
from cream.reporting.network import network_stages

FASHION_MNIST_ROOT = DataConfig().root  # the preset's data: no --data in the command to retrain the pick
COST_LABELS = {"flops": "multiply-adds (M)", "latency_ms": "predicted latency (ms)"}  # a path's cost, as an axis


def search_page(run: RunFiles) -> dict:
    """The search template's values."""
    cfg, result = run.config, run.result or {}
    axis = cost_axis(result, cfg)
    pick = (result.get("candidates") or [None])[0]
    return {
        "kind": "search", "title": f"search {run.folder.name}", "run": run, "facts": search_facts(run),
        "verdict": verdict(run, pick), "pick": pick,
        "network": network_stages(pick["arch"], result["net"]) if pick else None,
        "cloud": as_html(cloud_figure([run], axis), "cloud") if cloud_points(run) else None,
        "board_timeline": as_html(board_figure(run), "board") if run.board else None,
        "curves": as_html(curves_figure([run]), "curves") if run.history else None,
        "throughput": throughput(run),
        "candidates": candidates_table(result.get("candidates") or [], axis), "cost_label": axis[1],
    }


def cost_axis(result: dict, cfg: dict) -> tuple[str, str]:
    """(key, label) of the cost axis: predicted latency when the search had a latency table, else multiply-adds."""
    if result.get("latency_table") or (cfg or {}).get("space", {}).get("latency_table"):
        return "latency_ms", COST_LABELS["latency_ms"]
    return "flops", COST_LABELS["flops"]


def search_facts(run: RunFiles) -> list[tuple[str, str]]:
    """The header: data, space, budget, rule, length and provenance, as (name, value) rows."""
    cfg, result = run.config, run.result or {}
    data, space, search = cfg["data"], cfg["space"], cfg["search"]
    per_class = f", {data['train_per_class']} train images per class" if data.get("train_per_class") else ""
    flops = result.get("flops_range") or [space.get("flops_min"), space.get("flops_max")]
    budget = f"{_num(flops[0])} to {_num(flops[1], 'no limit')} M multiply-adds"
    latency = result.get("latency_range")
    if latency or space.get("latency_table"):
        latency = latency or [space.get("latency_min"), space.get("latency_max")]
        budget += f"; {_num(latency[0])} to {_num(latency[1], 'no limit')} ms predicted latency " \
                  f"({space.get('latency_table')})"
    depths = result.get("depths") or space.get("depths") or logged(run, r"; space (\[[\d, ]+\])") or "from the budget"
    elastic = ", elastic depth" if space.get("elastic_depth") else ""
    transforms = ", kernel transforms" if space.get("kernel_transform") else ""
    elapsed = result.get("elapsed_s") or (run.history[-1].get("elapsed_s") if run.history else None)
    versions = result.get("versions") or {}
    facts = [
        ("data", f"{data['dataset']} ({data.get('root')}){per_class}, {_fraction(data)}"),
        ("classes, resolution", f"{space['num_classes']} classes, {space['resolution']} px, {space['in_chans']} "
                                "channel(s)"),
        ("space", f"depths {depths}, {space.get('sharing', 'independent')} weights{transforms}{elastic}, width "
                  f"{space['width']:g}"),
        ("budget", budget),
        ("rule", f"{result.get('algorithm') or search['algorithm']}, {search['epochs']} epochs "
                 f"({search['warmup_epochs']} warm-up), lr {search['lr']:g} per {search['lr_batch']} images, "
                 f"batch {data['batch_size']}"),
        ("done", f"{len(run.history)} of {search['epochs']} epochs in {_minutes(elapsed)} on {device(run)}"
                 + (f"; cream {versions['cream']}, torch {versions.get('torch')}" if versions else "")),
    ]
    provenance = next((line for line in run.log if line.startswith("config:")), None)
    if provenance:
        facts.append(("config", provenance.removeprefix("config: ")))
    return facts


def verdict(run: RunFiles, pick: dict | None) -> dict:
    """The verdict in plain words: the pick and how far to trust it, the health warnings, the command to go on."""
    result = run.result
    if result is None or pick is None:
        done = len(run.history)
        return {"ok": None, "lines": [f"The search has not finished: {done} epoch(s) done. Run the same command again "
                                      "to resume it; this page is rewritten after every epoch."], "command": None}
    health = result.get("health") or {}
    lines = [f"Picked {pick['arch']}: {pick['flops']:.2f} M multiply-adds, {pick['params']:.2f} M parameters, "
             f"{pick['val_top1']:.1f}% top-1 on the search-val images inside the supernet."]
    probe = health.get("probe_val_top1")
    if probe is not None:
        lines.append(f"Trained alone for {health.get('probe_steps')} steps, the same network reaches {probe:.1f}% "
                     f"(the supernet gives it {pick['val_top1']:.1f}%).")
    warnings = health.get("warnings") or []
    lines += [f"Warning: {w}" for w in warnings]
    if not warnings:
        lines.append("No health warning: the supernet trained without diverging and above chance.")
    command = f"cream retrain {retrain_source(run.config['data'])} retrain.arch={run.folder}/result.json"
    return {"ok": not warnings, "lines": lines, "command": command}


def retrain_source(data: dict) -> str:
    """How ``cream retrain`` names a run's data: the built-in preset, or --data with its folder."""
    return "fashion_mnist" if data["root"] == FASHION_MNIST_ROOT else f"--data {data['root']}"


def device(run: RunFiles) -> str:
    """The device the run's log names (its config may say only "auto")."""
    return logged(run, r"device (\S+?)[;,]") or run.config["run"].get("device", "?")


def logged(run: RunFiles, pattern: str) -> str | None:
    """The first group of ``pattern``'s first match in the run's log (e.g. what the run worked out itself)."""
    for line in run.log:
        found = re.search(pattern, line)
        if found:
            return found.group(1)
    return None


def throughput(run: RunFiles) -> list[list]:
    """Mean training images/s per phase: warm-up (no board yet) and after it (with the prioritized board)."""
    warmup = run.config["search"]["warmup_epochs"]
    phases = []
    for name, rows in (("warm-up", [r for r in run.history if r["epoch"] <= warmup]),
                       ("after warm-up", [r for r in run.history if r["epoch"] > warmup])):
        speeds = [r["images_per_s"] for r in rows if r.get("images_per_s")]
        if speeds:
            phases.append([name, len(rows), f"{sum(speeds) / len(speeds):.0f}"])
    return phases


def candidates_table(candidates: list[dict], axis: tuple[str, str]) -> dict | None:
    if not candidates:
        return None
    key, label = axis
    rows = [[c["arch"], _fmt(c.get(key), ".3g"), _fmt(c.get("params"), ".3f"), _fmt(c.get("val_top1"), ".2f"),
             _fmt(c.get("val_top5"), ".2f"), _fmt(c.get("batch_accuracy"), ".1f")] for c in candidates]
    columns = ["arch", label, "M params", "search-val top-1 (%)", "top-5 (%)", "on the board: batch top-1 (%)"]
    return {"columns": columns, "rows": rows}


# ---------------------------------------------------------------------------------------------- charts


def cloud_points(run: RunFiles) -> list[dict]:
    """Every path evaluated during the search (paths.csv), or where there is none (older runs, rules without a
    board) the final candidates."""
    if run.paths:
        return run.paths
    return [{**c, "top1": c.get("batch_accuracy") or c["val_top1"]} for c in (run.result or {}).get("candidates", [])]


def board_archs(run: RunFiles) -> list[dict]:
    """The board's paths at the end (board.csv's last state, else result.json's board), with their cost."""
    if run.board:
        on = {}
        for row in run.board:
            if row["event"] == "enter":
                on[row["arch"]] = row
            else:
                on.pop(row["arch"], None)
        return list(on.values())
    return [{**b, "top1": b.get("batch_accuracy")} for b in (run.result or {}).get("board", [])]


def cloud_figure(runs: list[RunFiles], axis: tuple[str, str]) -> go.Figure:
    """Accuracy against cost of every evaluated path; the budget shaded; the board and the pick marked."""
    key, label = axis
    fig = figure(height=460, xaxis_title=label, yaxis_title="top-1 when evaluated (%)")
    for i, run in enumerate(runs):
        name = f"{run.folder.name}: " if len(runs) > 1 else ""
        color = COLORS[i % len(COLORS)]
        points = [p for p in cloud_points(run) if p.get(key) is not None and p.get("top1") is not None]
        what = "paths evaluated" if run.paths else "final candidates (no path in paths.csv)"
        fig.add_trace(go.Scatter(
            x=[p[key] for p in points], y=[p["top1"] for p in points], mode="markers", name=f"{name}{what}",
            text=[p["arch"] for p in points], marker={"size": 5, "color": color, "opacity": 0.35},
            hovertemplate="%{text}<br>%{x:.3g}, %{y:.1f}%<extra></extra>"))
        board = [b for b in board_archs(run) if b.get(key) is not None and b.get("top1") is not None]
        fig.add_trace(go.Scatter(
            x=[b[key] for b in board], y=[b["top1"] for b in board], mode="markers", name=f"{name}board",
            text=[b["arch"] for b in board],
            marker={"size": 11, "color": color, "line": {"width": 1.5, "color": "black"}},
            hovertemplate="board %{text}<br>%{x:.3g}, %{y:.1f}%<extra></extra>"))
        pick = ((run.result or {}).get("candidates") or [None])[0]
        if pick is not None and pick.get(key) is not None:
            fig.add_trace(go.Scatter(
                x=[pick[key]], y=[pick.get("batch_accuracy") or pick["val_top1"]], mode="markers",
                name=f"{name}pick {pick['arch']}", text=[pick["arch"]],
                marker={"size": 20, "symbol": "star", "color": "gold", "line": {"width": 1.5, "color": color}},
                hovertemplate="picked %{text}<br>%{x:.3g}, %{y:.1f}%<extra></extra>"))
    low, high = budget_range(runs[0], key)
    if high is not None:
        fig.add_vrect(x0=low, x1=high, fillcolor="#2ca02c", opacity=0.07, line_width=0, annotation_text="budget",
                      annotation_position="top left")
    return fig


def budget_range(run: RunFiles, key: str) -> tuple[float, float | None]:
    result, space = run.result or {}, run.config["space"]
    if key == "latency_ms":
        low, high = result.get("latency_range") or [space.get("latency_min"), space.get("latency_max")]
    else:
        low, high = result.get("flops_range") or [space.get("flops_min"), space.get("flops_max")]
    return low or 0.0, high


def board_figure(run: RunFiles) -> go.Figure:
    """Each board path as a bar from the step it entered to the step it left (or the end), at its accuracy."""
    fig = figure(height=400, xaxis_title="training step", yaxis_title="top-1 when it entered (%)")
    end = max(row["step"] for row in (run.paths or run.board))
    entered = {}
    spans = []
    for row in run.board:
        if row["event"] == "enter":
            entered[row["arch"]] = row
        elif row["arch"] in entered:
            spans.append((entered.pop(row["arch"]), row["step"]))
    spans += [(row, end) for row in entered.values()]
    xs, ys, texts = [], [], []
    for row, left in spans:
        xs += [row["step"], left, None]
        ys += [row["top1"], row["top1"], None]
        texts += [row["arch"], row["arch"], None]
    fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines+markers", text=texts, name="on the board",
                             line={"width": 3, "color": COLORS[0]}, marker={"size": 5},
                             hovertemplate="%{text}<br>step %{x}, %{y:.1f}%<extra></extra>"))
    return fig


def curves_figure(runs: list[RunFiles]) -> go.Figure:
    """Loss, top-1 (train and the reference path's val), lr, and the share of distilled steps with mean m."""
    epochs = max(len(run.history) for run in runs)
    fig = epoch_grid(2, 2, ["loss", "top-1 (%)", "learning rate", "distilled steps (share) and mean m"], epochs)
    for i, run in enumerate(runs):
        color, prefix = COLORS[i % len(COLORS)], (f"{run.folder.name}: " if len(runs) > 1 else "")
        rows, group = run.history, run.folder.name
        curve(fig, rows, "loss", f"{prefix}loss", 1, 1, color, group=group)
        curve(fig, rows, "train_acc", f"{prefix}train top-1 (sampled paths)", 1, 2, color, group=group)
        curve(fig, rows, "ref_val_acc", f"{prefix}val top-1 (reference path)", 1, 2, color, "dash", group=group)
        curve(fig, rows, "lr", f"{prefix}lr", 2, 1, color, group=group, show_legend=False)
        curve(fig, rows, "distill_fraction", f"{prefix}distilled share", 2, 2, color, group=group)
        curve(fig, rows, "mean_m", f"{prefix}mean m", 2, 2, color, "dot", group=group)
    fig.update_xaxes(title_text="epoch", row=2)
    return fig


def _fmt(value, spec: str) -> str | None:
    return None if value is None else format(value, spec)


def _num(value, none: str = "0") -> str:
    return none if value is None else f"{value:g}"


def _minutes(seconds: float | None) -> str:
    return "?" if seconds is None else f"{seconds / 60:.1f} min"


def _fraction(data: dict) -> str:
    return f"{100 * data.get('val_fraction', 0):g}% of train held out as search-val"

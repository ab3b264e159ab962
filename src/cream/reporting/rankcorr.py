"""The rank-correlation page: supernet against stand-alone accuracy per path with seed error bars, Kendall tau with
its bootstrap interval, and the stand-alone seed noise against the spread between paths."""

from __future__ import annotations

import statistics

import plotly.graph_objects as go

from cream.reporting.charts import COLORS, as_html, figure
from cream.reporting.files import RunFiles


def rankcorr_page(run: RunFiles) -> dict:
    report = run.rankcorr
    return {"kind": "rankcorr", "title": f"rank correlation {run.folder.name}", "run": run,
            "facts": rankcorr_facts(report), "scatter": as_html(scatter_figure([run]), "scatter"),
            "noise": as_html(noise_figure(report), "noise") if (report.get("noise") or {}).get("seed_sd") else None,
            "paths_rows": [[p["arch"], f"{p['flops']:.2f}", f"{p['ws_top1']:.2f}", f"{p['sa_top1']:.2f}",
                            f"{p['ws_rank']:g}", f"{p['sa_rank']:g}"] for p in report["paths"]]}


def rankcorr_facts(report: dict) -> list[tuple[str, str]]:
    ci = report.get("kendall_tau_ci")
    interval = f" (95% bootstrap interval {ci['low']:.2f} to {ci['high']:.2f})" if ci and ci.get("low") is not None \
        else ""
    facts = [("paths", f"{report['n']} paths of the {report.get('algorithm')} supernet {report.get('supernet')}"),
             ("Kendall tau", f"{stat(report['kendall_tau'])}{interval}, p = {stat(report['kendall_p'], '.3g')}"
                             + UNDEFINED * (report["kendall_tau"] is None)),
             ("Spearman rho", f"{stat(report['spearman_rho'])}, p = {stat(report['spearman_p'], '.3g')}")]
    noise = report.get("noise") or {}
    if noise.get("seed_sd") is not None:
        facts.append(("seed noise", f"{noise['seed_sd']:.2f} points (sd over {noise['seeds']} seeds) against a spread "
                                    f"of {stat(noise['path_sd'], '.2f')} between paths: ratio "
                                    f"{stat(noise['noise_to_spread'], '.2f')} "
                                    "(above 1/3, the stand-alone figures cannot rank these paths)"))
    else:
        facts.append(("seed noise", "unknown: one stand-alone seed per path (study.seeds=2 or more measures it)"))
    return facts


UNDEFINED = " (undefined: every path got the same top-1 on one side, so there is no order to compare)"


def stat(value: float | None, spec: str = ".3f") -> str:
    """A statistic for the page, or 'undefined' where it has no value (e.g. tau of equal scores)."""
    return "undefined" if value is None else format(value, spec)


def seed_error(path: dict) -> float:
    """Standard deviation of a path's stand-alone top-1 over its seeds (0 with one seed)."""
    seeds = path.get("sa_top1_seeds") or [path["sa_top1"]]
    return statistics.stdev(seeds) if len(seeds) > 1 else 0.0


def scatter_figure(runs: list[RunFiles]) -> go.Figure:
    fig = figure(height=460, xaxis_title="supernet (weight-sharing) top-1 (%)",
                 yaxis_title="stand-alone top-1 (%), mean over seeds ± sd")
    for i, run in enumerate(runs):
        paths, report = run.rankcorr["paths"], run.rankcorr
        fig.add_trace(go.Scatter(
            x=[p["ws_top1"] for p in paths], y=[p["sa_top1"] for p in paths], mode="markers",
            name=f"{run.folder.name}: tau {stat(report['kendall_tau'], '.2f')}", text=[p["arch"] for p in paths],
            error_y={"type": "data", "array": [seed_error(p) for p in paths], "visible": True},
            marker={"size": 9, "color": COLORS[i % len(COLORS)]},
            hovertemplate="%{text}<br>supernet %{x:.1f}%, alone %{y:.1f}%<extra></extra>"))
    return fig


def noise_figure(report: dict) -> go.Figure:
    noise = report["noise"]
    fig = figure(height=300, yaxis_title="top-1 points (sd)")
    fig.add_trace(go.Bar(x=["seed noise (same path, other seed)", "spread between paths"],
                         y=[noise["seed_sd"], noise["path_sd"] or 0.0], marker={"color": [COLORS[1], COLORS[0]]},
                         text=[f"{noise['seed_sd']:.2f}", stat(noise["path_sd"], ".2f")]))
    return fig

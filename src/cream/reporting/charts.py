"""Glue between plotly and the pages: one look for every chart, and each figure as a <div> that needs no network.

plotly.js itself is inlined once per page (``plotly_js``); each figure's own snippet only calls it. The config
below keeps every chart offline: no plotly logo linking to its site, no "send to cloud" button, no MathJax.
Charts are SVG (no WebGL), so they draw the same in any browser, headless ones included.
"""

from __future__ import annotations

import functools

import plotly.graph_objects as go
import plotly.offline
from markupsafe import Markup
from plotly.subplots import make_subplots

# Passed to every Plotly.newPlot: nothing on the page reaches for the network.
OFFLINE_CONFIG = {"displaylogo": False, "showSendToCloud": False,
                  "typesetMath": False, "responsive": True, "modeBarButtonsToRemove": ["sendDataToCloud"]}
# plotly's "plotly_white" look in a few keys: its own template object takes 0.3 s per figure to copy in, against
# the 2 s a whole page may take
LOOK = go.layout.Template(layout={
    "plot_bgcolor": "white", "paper_bgcolor": "white", "font": {"color": "#2a3f5f"},
    "xaxis": {"gridcolor": "#ebf0f8", "linecolor": "#ebf0f8", "zerolinecolor": "#ebf0f8", "automargin": True},
    "yaxis": {"gridcolor": "#ebf0f8", "linecolor": "#ebf0f8", "zerolinecolor": "#ebf0f8", "automargin": True}})
COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2")


@functools.cache
def plotly_js() -> Markup:
    """plotly.js, to inline once in the page's <head> (read once per process: 4.8 MB)."""
    return Markup(plotly.offline.get_plotlyjs())


def figure(height: int = 380, **layout) -> go.Figure:
    fig = go.Figure()
    fig.update_layout(height=height, margin={"l": 60, "r": 20, "t": 40, "b": 50}, hovermode="closest",
                      legend={"orientation": "h", "y": -0.2}, template=LOOK, **layout)
    return fig


def epoch_grid(rows: int, cols: int, titles: list[str], epochs: int, height: int = 560) -> go.Figure:
    """Subplots of curves over ``epochs`` epochs (a tick per epoch up to 20)."""
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=titles, horizontal_spacing=0.08, vertical_spacing=0.16)
    fig.update_layout(height=height, margin={"l": 60, "r": 20, "t": 50, "b": 50}, hovermode="x unified",
                      legend={"orientation": "h", "y": -0.12}, template=LOOK)
    fig.update_xaxes(tick0=1, dtick=1 if epochs <= 20 else None)
    return fig


def as_html(fig: go.Figure, div_id: str) -> str:
    """The figure as a <div> and the script that draws it (plotly.js must already be on the page)."""
    return fig.to_html(full_html=False, include_plotlyjs=False, include_mathjax=False, config=OFFLINE_CONFIG,
                       div_id=div_id)


def curve(fig: go.Figure, rows: list[dict], key: str, name: str, row: int | None = None, col: int | None = None,
          color: str | None = None, dash: str | None = None, scale: float = 1.0, group: str | None = None,
          show_legend: bool = True) -> None:
    """A line of ``key`` over the epochs of ``rows`` (rows without the key are skipped)."""
    points = [(r["epoch"], r[key] * scale) for r in rows if r.get(key) is not None]
    if not points:
        return
    x, y = zip(*points)
    fig.add_trace(go.Scatter(x=x, y=y, mode="lines+markers", name=name, legendgroup=group or name,
                             showlegend=show_legend, line={"color": color, "dash": dash}), row=row, col=col)

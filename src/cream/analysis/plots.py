"""Figures a person can read: the search at a glance, and accuracy against multiply-adds."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from cream.space.latency_table import parse_latency_table  # noqa: E402


def plot_search_run(run_dir: Path, result: dict) -> None:
    """search.png of the finished search in ``run_dir`` whose result.json holds ``result``: the paths its rule
    evaluated (paths.csv), the board, the chosen path and the training curves."""
    best = result["candidates"][0]
    if result["latency_table"]:  # the run's copy of the table, for the axis label
        table = parse_latency_table(json.loads((run_dir / result["latency_table"]["file"]).read_text()))
        size, axis = f"{best['latency_ms']:.3g} ms", ("latency_ms", f"predicted latency (ms, {table.describe()})")
    else:
        size, axis = f"{best['flops']:.2f} M", ("flops", "multiply-adds (M)")
    with open(run_dir / "paths.csv", newline="") as f:
        cloud = [[float(row[axis[0]]), float(row["top1"])] for row in csv.DictReader(f)]
    plot_search(run_dir / "search.png", cloud, result.get("board") or [], best, result["history"],
                f"{result['algorithm']} search: chosen {best['arch']} ({size}, search-val {best['val_top1']:.1f}%)",
                *axis)


def plot_search(path: Path, cloud: list[list[float]], board: list[dict], chosen: dict | None,
                history: list[dict], title: str, x_key: str = "flops", x_label: str = "multiply-adds (M)") -> None:
    """Left: sampled paths (batch accuracy vs ``x_key``: FLOPs, or predicted latency) with the board on top.
    Right: training curves."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    if cloud:
        flops, acc = zip(*cloud)
        left.scatter(flops, acc, s=3, c="0.75", label=f"sampled paths ({len(cloud)})", rasterized=True)
    if board:
        left.scatter([b[x_key] for b in board], [b["batch_accuracy"] for b in board], s=40, c="tab:red",
                     edgecolors="k", label="prioritized board", zorder=3)
    if chosen is not None and chosen.get("batch_accuracy") is not None:
        left.scatter([chosen[x_key]], [chosen["batch_accuracy"]], s=180, marker="*", c="gold", edgecolors="k",
                     label=f"chosen {chosen['arch']}", zorder=4)
    left.set(xlabel=x_label, ylabel="training-batch top-1 (%)", title="paths seen after warm-up")
    if cloud or board:
        left.legend(loc="lower right", fontsize=8)
    else:
        left.text(0.5, 0.5, "no prioritized paths (SPOS, or warm-up only)", ha="center", transform=left.transAxes)
    if history:
        epochs = [h["epoch"] for h in history]
        right.plot(epochs, [h["train_acc"] for h in history], "o-", label="train top-1 (sampled paths)")
        right.plot(epochs, [h["ref_val_acc"] for h in history], "s-", label="search-val top-1 (reference path)")
        right.set(xlabel="epoch", ylabel="top-1 (%)", title="supernet training")
        twin = right.twinx()
        twin.plot(epochs, [h["loss"] for h in history], "--", c="tab:gray", label="loss")
        twin.set_ylabel("loss")
        right.legend(loc="lower right", fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_accuracy_vs_macs(path: Path, points: list[dict], title: str) -> None:
    """One marker per model: test top-1 (with spread) against multiply-adds."""
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for p in points:
        ax.errorbar(p["macs"], p["top1"], yerr=p.get("spread", 0), fmt=p.get("marker", "o"), capsize=3,
                    label=p["label"], markersize=8)
    ax.set(xlabel="multiply-adds (M)", ylabel="test top-1 (%)", title=title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_rank_correlation(path: Path, panels: list[dict], title: str) -> None:
    """One scatter per study: weight-sharing against stand-alone top-1 of each path, coloured by multiply-adds.

    Each panel holds ``label``, ``ws`` and ``sa`` (top-1 lists), ``flops``, and ``kendall_tau``, ``kendall_p``,
    ``spearman_rho`` (None where undefined).
    """
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4.8), squeeze=False)
    for ax, panel in zip(axes[0], panels):
        points = ax.scatter(panel["ws"], panel["sa"], c=panel["flops"], cmap="viridis", s=36, edgecolors="k")
        fig.colorbar(points, ax=ax, label="multiply-adds (M)")
        ax.set(xlabel="weight-sharing top-1 (%, BN recalibrated)", ylabel="stand-alone top-1 (%)")
        ax.set_title(f"{panel['label']}\nKendall tau {_stat(panel['kendall_tau'])} (p {_stat(panel['kendall_p'])}), "
                     f"Spearman rho {_stat(panel['spearman_rho'])}, {len(panel['ws'])} paths", fontsize=9)
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _stat(value: float | None) -> str:
    return "undefined" if value is None else f"{value:.3g}"

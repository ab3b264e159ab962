"""The retraining page: curves of top-1, loss and lr (EMA and plain weights where both exist), the best epoch and a
model card; with a test.json beside it, the test's figures too."""

from __future__ import annotations

from cream.reporting.charts import COLORS, as_html, curve, epoch_grid
from cream.reporting.files import RunFiles
from cream.reporting.network import network_stages
from cream.reporting.testset import test_sections


def retrain_page(run: RunFiles) -> dict:
    cfg, result = run.config, run.result or {}
    arch = result.get("arch") or cfg["retrain"].get("arch")
    net = result.get("net")
    return {"kind": "retrain", "title": f"retrain {run.folder.name}", "run": run, "facts": retrain_facts(run),
            "arch": arch, "network": network_stages(arch, net) if net and arch else None,
            "curves": as_html(curves_figure([run], result.get("best_epoch")), "curves") if run.history else None,
            "test": test_sections(run) if run.test else None}


def retrain_facts(run: RunFiles) -> list[tuple[str, str]]:
    cfg, result = run.config, run.result or {}
    r, data = cfg["retrain"], cfg["data"]
    facts = [("data", f"{data['dataset']} ({data.get('root')})"),
             ("recipe", f"{r['epochs']} epochs, {r['opt']} lr {r['lr']:g}, {r['sched']} schedule, EMA "
                        f"{r.get('ema_decay', 0):g}, batch {data['batch_size']}"),
             ("done", f"{len(run.history)} of {r['epochs']} epochs"
                      + (f" in {result['elapsed_s'] / 60:.1f} min" if result.get("elapsed_s") else ""))]
    if result:
        facts += [("best", f"{result['best_top1']:.2f}% val top-1 at epoch {result['best_epoch']} "
                           f"({result['weights']} weights, kept in {result['checkpoint']})"),
                  ("model card", f"{result['arch']}: {result['params']:.2f} M parameters, {result['flops']:.2f} M "
                                 f"multiply-adds at {result['net']['resolution']} px")]
    if run.test:
        one = run.test["latency"][0]
        facts.append(("latency", f"{one['ms']:.2f} ms at batch 1 on {run.test['device']} "
                                 f"({run.test['threads']} thread(s); measured by cream test)"))
    return facts


def curves_figure(runs: list[RunFiles], best_epoch: int | None = None):
    """Train and val top-1 (plain and EMA weights), train and val loss, and the lr, over epochs; the best epoch
    marked."""
    epochs = max(len(run.history) for run in runs)
    fig = epoch_grid(1, 3, ["top-1 (%)", "loss", "learning rate"], epochs, height=400)
    for i, run in enumerate(runs):
        color, prefix = COLORS[i % len(COLORS)], (f"{run.folder.name}: " if len(runs) > 1 else "")
        rows, group = run.history, run.folder.name
        curve(fig, rows, "train_acc", f"{prefix}train", 1, 1, color, "dot", group=group)
        curve(fig, rows, "val_top1", f"{prefix}val (plain weights)", 1, 1, color, group=group)
        curve(fig, rows, "ema_top1", f"{prefix}val (EMA weights)", 1, 1, color, "dash", group=group)
        curve(fig, rows, "train_loss", f"{prefix}train loss", 1, 2, color, "dot", group=group)
        curve(fig, rows, "val_loss", f"{prefix}val loss", 1, 2, color, group=group)
        curve(fig, rows, "ema_loss", f"{prefix}val loss (EMA)", 1, 2, color, "dash", group=group)
        curve(fig, rows, "lr", f"{prefix}lr", 1, 3, color, group=group, show_legend=False)
    fig.update_xaxes(title_text="epoch")
    if best_epoch is not None:
        fig.add_vline(x=best_epoch, line_dash="dot", line_color="#2ca02c", annotation_text="best", row=1, col=1)
    return fig

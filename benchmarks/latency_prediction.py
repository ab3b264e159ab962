"""How well a latency table predicts whole-network latency, against multiply-adds as the predictor (issue 15).

For one search space (a search preset's, with overrides), and each batch size: make a latency table, draw N
distinct in-budget paths, build each as a child net and measure its whole-network latency (the median of timed
forward passes, in rounds that go over every path in turn, so that a change of machine load falls on all paths
alike). Figures, printed as soon as known, in one JSON file:

- the table: Spearman rho of predicted against measured latency, and the median absolute error |p - m| / m;
- multiply-adds: the same rho, and the median absolute error of two fits of milliseconds to multiply-adds on these
  very paths (in-sample, so the best a multiply-add predictor could do): a scale (the median of ms / M) and an
  affine least-squares fit (a M + b);
- the measurement against itself: the mean Spearman rho between rounds (how well the measurement ranks the
  paths when repeated, a ceiling for any predictor), the spread of measured latency over the paths, and the
  median absolute error of one constant (the median measured latency) for every path: where the spread is
  narrow, that constant is already close, so a small error says little.

With one thread, ``--clock both`` also runs everything again with CPU time (``time.thread_time``) instead of wall
time: on a busy machine wall time includes the time other processes hold the core, CPU time does not.

    .venv/bin/python benchmarks/latency_prediction.py                     # Fashion-MNIST space, batch 1 and 32
    .venv/bin/python benchmarks/latency_prediction.py --device cuda --clock wall --threads 1
    .venv/bin/python benchmarks/latency_prediction.py --figures-from DIR   # figures and plot again, no measuring
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from cream.analysis.stats import rank_correlation
from cream.assemble import make_config
from cream.config import SearchRun
from cream.engine.context import RunContext
from cream.engine.latency import cpu_threads, timed_call
from cream.nas.sampler import PathSampler
from cream.space.budget import plan_space
from cream.space.latency_table import device_name, measure_latency_table
from cream.space.net import NetSpec, build_child

CLOCKS = {"wall": time.perf_counter, "cpu": time.thread_time}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="fashion_mnist", help="search preset whose space is measured")
    p.add_argument("overrides", nargs="*", help="config overrides, e.g. space.resolution=64")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--batches", type=int, nargs="+", default=[1, 32])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--clock", choices=["wall", "cpu", "both"], default="both",
                   help="cpu time needs --threads 1 on a CPU; both: wall, then cpu")
    p.add_argument("--paths", type=int, default=50)
    p.add_argument("--rounds", type=int, default=6, help="measurement rounds over all paths")
    p.add_argument("--calls", type=int, default=20, help="timed calls per path and round (after 2 untimed)")
    p.add_argument("--repeats", type=int, default=20, help="the table's timed passes per op")
    p.add_argument("--warmup", type=int, default=5, help="the table's untimed passes")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="benchmarks/results/latency_prediction")
    p.add_argument("--figures-from", metavar="DIR", help="recompute the figures and plot of a finished run in DIR")
    args = p.parse_args()
    if args.figures_from:
        refigure(Path(args.figures_from))
        return
    clocks = ["wall", "cpu"] if args.clock == "both" else [args.clock]
    if "cpu" in clocks and (args.threads != 1 or args.device != "cpu"):
        raise SystemExit("CPU time measures latency only with --threads 1 on --device cpu; use --clock wall")

    cfg = make_config(SearchRun, args.preset, args.overrides)
    plan = plan_space(NetSpec.from_config(cfg.space), cfg.space.flops_min, cfg.space.flops_max, cfg.space.depths)
    spec = plan.spec
    paths = PathSampler(plan, seed=args.seed).distinct(args.paths, seed=args.seed)
    ctx = RunContext(torch.device(args.device), channels_last=cfg.run.channels_last)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    report = {"preset": args.preset, "overrides": args.overrides, "net": spec.to_json(), "depths": list(plan.depths),
              "flops_range": [plan.flops_min, plan.flops_max], "device": args.device,
              "device_name": device_name(ctx.device), "threads": args.threads, "torch": torch.__version__,
              "paths": [str(a) for a in paths], "macs": [plan.table.macs(a) for a in paths],
              "settings": vars(args), "runs": []}
    say(f"{len(paths)} paths of depths {list(plan.depths)} at {spec.resolution} px, width {spec.width:g}, "
        f"{plan.table.macs(plan.smallest):.2f}..{plan.table.macs(plan.largest):.2f} M multiply-adds; "
        f"{report['device_name']}, {args.threads} thread(s)")
    for batch, clock in itertools.product(args.batches, clocks):
        run = measure(plan, paths, ctx, batch, clock, args)
        report["runs"].append(run)
        (out / "latency_prediction.json").write_text(json.dumps(report, indent=1))
    plot(report, out / "latency_prediction.png")
    say(f"written to {out}: latency_prediction.json, latency_prediction.png")


def measure(plan, paths, ctx, batch, clock, args) -> dict:
    began = time.perf_counter()
    table = measure_latency_table(plan.spec, args.device, batch, args.threads, ctx.channels_last,
                                  repeats=args.repeats, warmup=args.warmup, clock=CLOCKS[clock])
    say(f"batch {batch}, {clock} clock: table made in {time.perf_counter() - began:.0f} s")
    predicted = [table.ms(a) for a in paths]
    x = ctx.to_device(torch.randn(batch, plan.spec.in_chans, plan.spec.resolution, plan.spec.resolution))
    calls = [[[] for _ in range(args.rounds)] for _ in paths]
    with cpu_threads(args.threads), torch.no_grad():
        nets = [ctx.prepare_model(build_child(a, plan.spec)).eval() for a in paths]
        for r in range(args.rounds):
            for i, net in enumerate(nets):
                for k in range(2 + args.calls):
                    ms = timed_call(net, x, ctx, CLOCKS[clock])[1]
                    if k >= 2:
                        calls[i][r].append(ms)
            say(f"  round {r + 1}/{args.rounds} done at {time.perf_counter() - began:.0f} s")
    measured = [statistics.median(ms for rnd in c for ms in rnd) for c in calls]
    for a, p_ms, m_ms in zip(paths, predicted, measured):
        say(f"  {a}  predicted {p_ms:7.3f} ms  measured {m_ms:7.3f} ms  ({100 * (p_ms - m_ms) / m_ms:+.0f}%)")
    rounds = [[statistics.median(c[r]) for c in calls] for r in range(args.rounds)]
    run = {"batch": batch, "clock": clock, "seconds": time.perf_counter() - began, "table": table.to_json(),
           "predicted_ms": predicted, "measured_ms": measured, "round_medians_ms": rounds,
           **figures(predicted, measured, [plan.table.macs(a) for a in paths], rounds)}
    say(f"batch {batch}, {clock} clock: measured {min(measured):.3f}..{max(measured):.3f} ms "
        f"(spread {100 * run['spread']:.0f}% of the median); rounds agree at rho {run['rho_rounds']:.3f}")
    say(f"  table:               rho {run['rho_table']:.3f}  median abs error {100 * run['mae_table']:.1f}%")
    say(f"  multiply-adds:       rho {run['rho_macs']:.3f}  median abs error {100 * run['mae_macs_scale']:.1f}% "
        f"(scale {run['macs_scale']:.3g} ms/M), {100 * run['mae_macs_affine']:.1f}% "
        f"(affine {run['macs_affine'][0]:.3g} ms/M + {run['macs_affine'][1]:.3g} ms)")
    return run


def figures(predicted, measured, macs, rounds) -> dict:
    m, mac = np.array(measured), np.array(macs)
    scale = float(np.median(m / mac))
    slope, intercept = (float(v) for v in np.polyfit(mac, m, 1))
    pairs = list(itertools.combinations(rounds, 2))
    return {
        "rho_table": rho(predicted, measured), "mae_table": mae(predicted, measured),
        "rho_macs": rho(macs, measured), "macs_scale": scale,
        "mae_macs_scale": mae(scale * mac, m), "macs_affine": [slope, intercept],
        "mae_macs_affine": mae(slope * mac + intercept, m),
        "rho_rounds": float(np.mean([rho(a, b) for a, b in pairs])) if pairs else None,
        "spread": float((m.max() - m.min()) / np.median(m)), "mae_constant": mae(np.full(len(m), np.median(m)), m),
    }


def refigure(folder: Path) -> None:
    path = folder / "latency_prediction.json"
    report = json.loads(path.read_text())
    for run in report["runs"]:
        run.update(figures(run["predicted_ms"], run["measured_ms"], report["macs"], run["round_medians_ms"]))
        say(f"batch {run['batch']}, {run['clock']}: " + ", ".join(
            f"{k} {v:.3g}" for k, v in run.items() if k.startswith(("rho", "mae", "spread"))))
    path.write_text(json.dumps(report, indent=1))
    plot(report, folder / "latency_prediction.png")


def rho(a, b) -> float:
    """Spearman rho of two lists, NaN where undefined (a constant list)."""
    value = rank_correlation(a, b)["spearman_rho"]
    return float("nan") if value is None else value


def mae(predicted, measured) -> float:
    return float(np.median(np.abs(np.array(predicted) - np.array(measured)) / np.array(measured)))


def plot(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = report["runs"]
    fig, axes = plt.subplots(1, len(runs), figsize=(4.5 * len(runs), 4.2), squeeze=False)
    for ax, run in zip(axes[0], runs):
        ax.scatter(run["measured_ms"], run["predicted_ms"], s=14, label="latency table")
        scaled = np.array(report["macs"]) * run["macs_scale"]
        ax.scatter(run["measured_ms"], scaled, s=14, marker="x", label="multiply-adds x scale")
        low, high = min(run["measured_ms"]), max(run["measured_ms"])
        ax.plot([low, high], [low, high], c="0.5", lw=1)
        ax.set(xlabel="measured (ms)", ylabel="predicted (ms)",
               title=f"batch {run['batch']}, {run['clock']} clock\nrho table {run['rho_table']:.2f}, "
                     f"MACs {run['rho_macs']:.2f}, rounds {run['rho_rounds']:.2f}")
        ax.legend(fontsize=7)
    fig.suptitle(f"{len(report['paths'])} paths, {report['net']['resolution']} px, {report['device_name']}, "
                 f"{report['threads']} thread(s)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def say(line: str) -> None:
    print(line, flush=True)


if __name__ == "__main__":
    main()

"""``cream rankcorr --compare A B``: two studies (e.g. a Cream and a SPOS supernet) on their shared paths, with
the difference in Kendall tau and its paired-bootstrap confidence interval."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from cream.analysis.plots import plot_rank_correlation
from cream.analysis.rankcorr import load_report
from cream.analysis.stats import bootstrap_tau_difference, fmt, rank_correlation
from cream.engine.logs import write_text_atomic
from cream.errors import CreamError

CSV_FIELDS = ("arch", "flops", "sa_top1_a", "sa_top1_b", "ws_top1_a", "ws_top1_b")


def compare_studies(run_a: str | Path, run_b: str | Path, resamples: int = 5000, seed: int = 0) -> dict:
    """Both studies' correlations over the paths they share, and tau(A) - tau(B) with a 95% bootstrap CI."""
    a, b = load_report(run_a), load_report(run_b)
    paths_b = {p["arch"]: p for p in b["paths"]}
    shared = [(p, paths_b[p["arch"]]) for p in a["paths"] if p["arch"] in paths_b]
    if len(shared) < 3:
        raise CreamError(f"{run_a} and {run_b} share {len(shared)} paths; a comparison needs at least 3 (run the "
                         f"second study with --paths-file {Path(run_a) / 'paths.txt'})")
    rows = [{"arch": pa["arch"], "flops": pa["flops"], "sa_top1_a": pa["sa_top1"], "sa_top1_b": pb["sa_top1"],
             "ws_top1_a": pa["ws_top1"], "ws_top1_b": pb["ws_top1"]} for pa, pb in shared]
    columns = {k: [r[k] for r in rows] for k in CSV_FIELDS[2:]}
    studies = {}
    for name, run, report in (("a", run_a, a), ("b", run_b, b)):
        studies[name] = {"run": str(run), "algorithm": report["algorithm"], "paths": len(report["paths"]),
                         **rank_correlation(columns[f"ws_top1_{name}"], columns[f"sa_top1_{name}"])}
    difference = bootstrap_tau_difference(columns["ws_top1_a"], columns["sa_top1_a"], columns["ws_top1_b"],
                                          columns["sa_top1_b"], resamples=resamples, seed=seed)
    return {"kind": "cream-rankcorr-comparison", "a": studies["a"], "b": studies["b"], "shared_paths": len(rows),
            "same_standalone": columns["sa_top1_a"] == columns["sa_top1_b"], "difference": difference,
            "paths": rows}


def comparison_text(report: dict) -> str:
    """A side-by-side table of the shared paths, then each study's correlation and the difference."""
    a, b, d = report["a"], report["b"], report["difference"]
    lines = [f"{'path':<32} {'M':>6}  {'stand-alone A':>13} {'B':>6}  {'weight-sharing A':>16} {'B':>6}"]
    for r in report["paths"]:
        lines.append(f"{r['arch']:<32} {r['flops']:6.2f}  {r['sa_top1_a']:13.2f} {r['sa_top1_b']:6.2f}  "
                     f"{r['ws_top1_a']:16.2f} {r['ws_top1_b']:6.2f}")
    for name, s in (("A", a), ("B", b)):
        lines.append(f"{name}: {s['algorithm']:<5} {s['run']}  Kendall tau {fmt(s['kendall_tau'])} "
                     f"(p {fmt(s['kendall_p'])})  Spearman rho {fmt(s['spearman_rho'])}")
    verdict = ("significant: the interval excludes 0" if d["significant"]
               else "not significant: the interval includes 0")
    lines.append(f"tau(A) - tau(B) = {fmt(d['tau_difference'])}, {100 * d['confidence']:.0f}% CI "
                 f"[{fmt(d['low'])}, {fmt(d['high'])}] over {report['shared_paths']} shared paths "
                 f"({d['valid_resamples']} paired bootstrap resamples); {verdict}")
    if not report["same_standalone"]:
        lines.append("note: the studies trained the shared paths separately (stand-alone accuracies differ); "
                     "study.reuse lets the second study take the first one's trainings")
    return "\n".join(lines)


def write_comparison(report: dict, out: str | Path) -> None:
    """compare.json, compare.csv and compare.png (the two scatters side by side) in ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / "compare.json", json.dumps(report, indent=2))
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=CSV_FIELDS)
    writer.writeheader()
    writer.writerows(report["paths"])
    write_text_atomic(out / "compare.csv", text.getvalue())
    rows, d = report["paths"], report["difference"]
    panels = [{**report[k], "label": f"{k.upper()}: {report[k]['algorithm']} ({Path(report[k]['run']).name})",
               "ws": [r[f"ws_top1_{k}"] for r in rows], "sa": [r[f"sa_top1_{k}"] for r in rows],
               "flops": [r["flops"] for r in rows]} for k in ("a", "b")]
    plot_rank_correlation(out / "compare.png", panels,
                          f"tau(A) - tau(B) = {fmt(d['tau_difference'])}, {100 * d['confidence']:.0f}% CI "
                          f"[{fmt(d['low'])}, {fmt(d['high'])}]")

"""One page comparing runs of one kind side by side: for searches, their clouds and curves overlaid, their picks
and the retrained accuracy of each pick where a retraining of it exists."""

from __future__ import annotations

from pathlib import Path

from cream.errors import CreamError
from cream.reporting import rankcorr, retrain, search, select
from cream.reporting.charts import as_html
from cream.reporting.files import RunFiles, read_json

RETRAIN_RULE = ("a pick's retraining is runs/retrain/NAME/result.json beside runs/search/NAME when its arch is the "
                "pick, else any folder of runs/retrain/ whose result.json has that arch")


def compare_page(runs: list[RunFiles]) -> dict:
    kinds = sorted({run.kind for run in runs})
    if len(kinds) > 1:
        raise CreamError("cream report compares runs of one kind; these are " + ", ".join(
            f"{run.folder} ({run.kind})" for run in runs))
    kind = kinds[0]
    page = {"kind": "compare", "compared": kind, "title": f"{len(runs)} {kind} runs compared", "runs": runs,
            "facts": [(run.folder.name, str(run.folder)) for run in runs], "charts": [], "table": None,
            "rule": None, "missing": [f"{run.folder.name}: {what}" for run in runs for what in run.missing]}
    if kind == "search":
        axis = search.cost_axis(runs[0].result or {}, runs[0].config)
        page["charts"] = [("Paths evaluated during each search", as_html(search.cloud_figure(runs, axis), "cloud")),
                          ("Training", as_html(search.curves_figure(runs), "curves"))]
        page["table"] = picks_table(runs)
        page["rule"] = RETRAIN_RULE
    elif kind == "retrain":
        page["charts"] = [("Training", as_html(retrain.curves_figure(runs), "curves"))]
        page["table"] = {"columns": ["run", "arch", "best val top-1 (%)", "best epoch", "M multiply-adds"],
                         "rows": [_retrain_row(r.folder.name, r.result or {}) for r in runs]}
    elif kind == "rankcorr":
        page["charts"] = [("Supernet against stand-alone accuracy", as_html(rankcorr.scatter_figure(runs), "scatter"))]
        page["table"] = {"columns": ["run", "paths", "Kendall tau", "Spearman rho"],
                         "rows": [[r.folder.name, r.rankcorr["n"], rankcorr.stat(r.rankcorr["kendall_tau"]),
                                   rankcorr.stat(r.rankcorr["spearman_rho"])] for r in runs]}
    elif kind == "select":
        if len({run.select["cost"] for run in runs}) > 1:
            raise CreamError("cream report compares selections of one cost; some of these weigh multiply-adds, "
                             "others predicted latency")
        page["charts"] = [("Paths scored by each selection", as_html(select.scored_figure(runs), "scored"))]
        page["table"] = {"columns": ["run", "method", "budget", "pick", search.COST_LABELS[runs[0].select["cost"]],
                                     "search-val top-1 (%)", "paths scored"],
                         "rows": [[r.folder.name, r.select["method"], name, pick["arch"],
                                   _cell(pick[r.select["cost"]]), _cell(pick["val_top1"]), pick["evaluations"]]
                                  for r in runs for name, pick in r.select["picks"].items()]}
    else:
        page["table"] = {"columns": ["run", "arch", "top-1 (%)", "top-5 (%)", "M multiply-adds"],
                         "rows": [[r.folder.name, r.test["arch"], _cell(r.test["top1"]), _cell(r.test["top5"]),
                                   _cell(r.test["macs"])] for r in runs]}
    return page


def picks_table(runs: list[RunFiles]) -> dict:
    rows = []
    for run in runs:
        pick = ((run.result or {}).get("candidates") or [None])[0]
        if pick is None:
            rows.append([run.folder.name, "not finished", None, None, None, None])
            continue
        found = retraining_of(run.folder, pick["arch"])
        rows.append([run.folder.name, pick["arch"], _cell(pick["flops"]), _cell(pick["val_top1"]),
                     _cell(found and found["best_top1"]), _cell(found and found.get("test_top1"))])
    return {"columns": ["run", "pick", "M multiply-adds", "search-val top-1 (%)", "retrained val top-1 (%)",
                        "test top-1 (%)"], "rows": rows}


def retraining_of(search_dir: Path, arch: str) -> dict | None:
    """The retraining of ``arch`` by ``RETRAIN_RULE``: its best val top-1, and its test top-1 when tested."""
    root = search_dir.parent.parent / "retrain"
    folders = [root / search_dir.name, *sorted(p for p in root.glob("*") if p.name != search_dir.name)]
    for folder in folders:
        try:
            result = read_json(folder / "result.json") if (folder / "result.json").is_file() else None
            if result is None or result.get("arch") != arch:
                continue
            test = read_json(folder / "test.json") if (folder / "test.json").is_file() else {}
        except CreamError:  # a half-written file: not a retraining to quote
            continue
        return {"folder": str(folder), "best_top1": result.get("best_top1"), "test_top1": test.get("top1")}
    return None


def _retrain_row(name: str, result: dict) -> list:
    return [name, result.get("arch"), _cell(result.get("best_top1")), result.get("best_epoch"),
            _cell(result.get("flops"))]


def _cell(value) -> str | None:
    """A percentage or a number of millions, to two decimals; None stays an empty cell."""
    return None if value is None else f"{value:.2f}"

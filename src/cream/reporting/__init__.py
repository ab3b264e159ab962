"""Report pages: one self-contained HTML file per run (``report.html``), drawn from the run folder's files only.

plotly draws the charts (its JavaScript inlined once per page: hover shows a path's architecture, zoom works, and
the page opens from disk with no network); Jinja2 templates lay the page out. ``write_report(folder)`` (re)writes
a run's page, ``compare_runs(folders, out)`` one page for several runs of one kind, and ``page_writer`` is the
``after_epoch`` hook a search or retraining calls after each epoch.
"""

from __future__ import annotations

from pathlib import Path

from cream.errors import CreamError
from cream.reporting.compare import compare_page
from cream.reporting.files import read_run
from cream.reporting.page import render, size_text, write_page
from cream.reporting.rankcorr import rankcorr_page
from cream.reporting.retrain import retrain_page
from cream.reporting.search import search_page
from cream.reporting.select import select_page
from cream.reporting.testset import test_page

PAGE = "report.html"
PAGES = {"search": search_page, "retrain": retrain_page, "test": test_page, "rankcorr": rankcorr_page,
         "select": select_page}


def write_report(source: str | Path, out: str | Path | None = None) -> Path:
    """Write the page of the run folder ``source`` (or of a test JSON file) to ``out`` (default: its report.html,
    or for a test file not named test.json, the file's name with .html)."""
    run = read_run(source)
    source = Path(source)
    default = source.with_suffix(".html") if source.is_file() and source.name != "test.json" else run.folder / PAGE
    return write_page(render(PAGES[run.kind](run)), Path(out) if out else default)


def compare_runs(sources: list[str | Path], out: str | Path) -> Path:
    """One page comparing the runs ``sources`` (all of one kind), written to ``out``."""
    runs = [read_run(s) for s in sources]
    return write_page(render(compare_page(runs)), Path(out))


def page_writer(run_dir: Path) -> str:
    """The ``after_epoch`` hook: rewrite the run's page; returns the log line naming it. A page that cannot be
    written is a warning, never the end of the run it reports on."""
    try:
        path = write_report(run_dir)
    except (CreamError, OSError, ValueError, KeyError, TypeError) as e:
        return f"warning: {run_dir / PAGE} not written ({type(e).__name__}: {e})"
    return f"report: {path} ({size_text(path)})"

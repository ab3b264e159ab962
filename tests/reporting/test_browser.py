"""Every kind of page opened from file:// by a real browser, Debian's headless Chromium: it logs no JavaScript
error, plotly draws every chart, and a screenshot is not blank.

JavaScript errors: Chromium started with ``--enable-logging=stderr --v=0`` writes each console message to stderr as
``INFO:CONSOLE(line)] "message", source: URL``; an uncaught exception's message begins with "Uncaught". The same
run dumps the DOM after the load event (``--dump-dom``), where each drawn plotly chart holds ``main-svg`` elements,
and takes the screenshot.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image

from cream.reporting import compare_runs, write_report
from tests.reporting.conftest import SELECT
from tests.reporting.pages import charts

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium: make test installs Debian's as root, or run "
                                                         "apt-get install -y chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--enable-logging=stderr", "--v=0",
         "--hide-scrollbars", "--window-size=1280,1600"]


def open_in_chromium(page, profile, screenshot):
    """(DOM after load, console messages) of ``page``, its screenshot written to ``screenshot``."""
    done = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", f"--screenshot={screenshot}",
                           "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=180)
    console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
    return done.stdout, console


@pytest.fixture(scope="module")
def pages(runs, tmp_path_factory):
    folder = tmp_path_factory.mktemp("pages")
    test_only = folder / "test"
    test_only.mkdir()
    for name in ("test.json", "test_mistakes.npz"):
        shutil.copy(runs["retrain"] / name, test_only / name)
    selection = folder / "select"
    selection.mkdir()
    (selection / "select.json").write_text(json.dumps(SELECT))
    return {"search": runs["search"] / "report.html", "retrain": runs["retrain"] / "report.html",
            "test": write_report(test_only), "rankcorr": runs["rankcorr"] / "report.html",
            "compare": compare_runs([runs["search"], runs["search"]], folder / "compare.html"),
            "select": write_report(selection)}


@pytest.mark.slow  # 10 to 40 s per page on the shared two-core machine, most of it Chromium starting
@pytest.mark.parametrize("kind", ["search", "retrain", "test", "rankcorr", "compare", "select"])
def test_the_page_opens_in_chromium_draws_its_charts_without_a_javascript_error(pages, kind, tmp_path):
    page = pages[kind]
    dom, console = open_in_chromium(page, tmp_path / "profile", tmp_path / "shot.png")
    assert not [line for line in console if "Uncaught" in line], console
    drawn = {div: re.search(rf'<div id="{div}"[^>]*>.*?class="main-svg"', dom, re.S) is not None
             for div in charts(page.read_text())}
    assert drawn and all(drawn.values()), drawn
    pixels = np.asarray(Image.open(tmp_path / "shot.png").convert("RGB"), dtype=np.float64)
    assert pixels.shape == (1600, 1280, 3) and pixels.std() > 20
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 50  # text, charts and colours, not a blank page

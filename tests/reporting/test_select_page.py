"""The select page (and the comparison of selections), drawn from select.json files written by hand (conftest's
SELECT): the paths, front and picks on the page must be those of the file."""

from __future__ import annotations

import copy
import json

import pytest

from cream.cli import main
from cream.reporting import compare_runs, write_report
from tests.reporting.conftest import SCORED, SELECT
from tests.reporting.pages import Page, charts, trace


@pytest.fixture
def selection(tmp_path):
    def write(name="whole_space", content=SELECT):
        folder = tmp_path / "runs" / "select" / name
        folder.mkdir(parents=True)
        (folder / "select.json").write_text(json.dumps(content))
        return folder
    return write


def test_the_select_page_draws_every_scored_path_the_front_the_picks_and_each_budgets_search(selection):
    folder = selection()
    html = write_report(folder).read_text()
    assert Page(html).errors == []
    scored = charts(html)["scored"]
    dots, front, picks = (trace(scored, name) for name in ("paths scored", "Pareto front", "picks"))
    assert dots["text"] == [r["arch"] for r in SCORED] and dots["x"] == [r["flops"] for r in SCORED]
    assert front["text"] == ["0-0-0-0-0", "2-0-0-0-0", "4-4-4-4-4"] and front["y"] == [80.0, 81.0, 82.0]
    assert picks["text"] == ["budget 2: 2-0-0-0-0", "budget 4: 4-4-4-4-4"] and picks["x"] == [1.9, 3.9]
    assert sorted(shape["x0"] for shape in scored["layout"]["shapes"]) == [2.0, 4.0]  # each budget's limit
    curves = charts(html)["curves"]
    assert trace(curves, "budget 2")["y"] == [80.0, 80.0, 81.0] and trace(curves, "budget 4")["x"] == [1, 2, 3]
    for budget in ("2", "4"):  # the command that retrains each pick, on the supernet's own data
        assert f"cream retrain --data /data/pets retrain.arch={folder / 'select.json'}:{budget}" in html
    assert "population 3, top 2 breed, 1 mutants and 1 crossovers per generation, 2 generations" in html


def test_a_random_selection_weighing_latency_says_so(selection):
    content = copy.deepcopy(SELECT)
    content.update(method="random", evolution=None, cost="latency_ms",
                   latency_table={"file": "cpu.json", "device_name": "a laptop CPU", "batch": 1})
    for row in [*content["scored"], *content["front"], *content["picks"].values()]:
        row["latency_ms"] = row["flops"] * 2
    for pick in content["picks"].values():
        pick["latency_range"] = [0.0, pick["flops_range"][1] * 2]
    html = write_report(selection(content=content)).read_text()
    scored = charts(html)["scored"]
    assert trace(scored, "picks")["x"] == [3.8, 7.8] and scored["layout"]["xaxis"]["title"]["text"] == \
        "predicted latency (ms)"
    assert sorted(shape["x0"] for shape in scored["layout"]["shapes"]) == [4.0, 8.0]
    assert "random paths inside each budget" in html and "cpu.json (a laptop CPU, batch 1)" in html


def test_selections_compared_on_one_page_and_cream_report_names_a_select_folder(selection, tmp_path, capsys):
    other = copy.deepcopy(SELECT)
    other["method"] = "random"
    first, second = selection("a"), selection("b", other)
    html = compare_runs([first, second], tmp_path / "c.html").read_text()
    scored = charts(html)["scored"]
    assert [t["name"] for t in scored["data"]] == [f"{run}: {what}" for run in ("a", "b")
                                                   for what in ("paths scored", "Pareto front", "picks")]
    assert html.count("<td>evolution</td>") == html.count("<td>random</td>") == 2  # a row per run and budget

    latency = copy.deepcopy(SELECT)
    latency["cost"] = "latency_ms"
    with pytest.raises(Exception, match="compares selections of one cost"):
        compare_runs([first, selection("c", latency)], tmp_path / "d.html")

    assert main(["report", str(first)]) == 0
    assert capsys.readouterr().out.startswith(f"report: {first / 'report.html'} (")


def test_a_select_json_of_something_else_is_a_clear_error(selection, capsys):
    folder = selection(content={"kind": "cream-search"})
    assert main(["report", str(folder)]) == 2
    assert capsys.readouterr().err == f"error: {folder / 'select.json'} is not a select.json written by cream select\n"

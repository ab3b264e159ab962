import csv
import json

import pytest

import cream
from cream.reporting import write_report
from tests.reporting.conftest import EPOCHS
from tests.reporting.pages import Page, charts, trace

# Hand-written paths.csv / board.csv in the schema the search writes (step,epoch,arch,flops,latency_ms,top1 and
# step,epoch,event,arch,flops,top1): six evaluated paths; three enter the board, one of them leaves it again.
PATHS = [(10, 2, "0-00-000-00-00", 2.5, "", 11.0), (12, 2, "1-11-111-11-11", 3.0, "", 25.5),
         (14, 2, "2-22-222-22-22", 4.0, "", 31.0), (16, 3, "3-33-333-33-33", 5.5, "", 18.0),
         (18, 3, "4-44-444-44-44", 6.0, "", 40.0), (20, 3, "5-55-555-55-55", 7.5, "", 9.5)]
BOARD = [(12, 2, "enter", "1-11-111-11-11", 3.0, 25.5), (14, 2, "enter", "2-22-222-22-22", 4.0, 31.0),
         (18, 3, "enter", "4-44-444-44-44", 6.0, 40.0), (18, 3, "leave", "1-11-111-11-11", 3.0, 25.5)]


def write_csv(path, header, rows):
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)


@pytest.fixture
def search_with_paths(search_copy):
    folder = search_copy("handmade")
    write_csv(folder / "paths.csv", ["step", "epoch", "arch", "flops", "latency_ms", "top1"], PATHS)
    write_csv(folder / "board.csv", ["step", "epoch", "event", "arch", "flops", "top1"], BOARD)
    write_report(folder)
    return folder


def test_the_search_page_holds_the_pick_one_cloud_point_per_evaluated_path_and_the_board(search_with_paths):
    html = (search_with_paths / "report.html").read_text()
    pick = cream.SearchResult.from_dict(json.loads((search_with_paths / "result.json").read_text()))
    assert f"The picked network: {pick.arch}" in html and f"retrain.arch={search_with_paths}/result.json" in html
    page = charts(html)
    cloud = trace(page["cloud"], "paths evaluated")
    assert list(zip(cloud["text"], cloud["x"], cloud["y"])) == [(p[2], p[3], p[5]) for p in PATHS]
    board = trace(page["cloud"], "board")
    assert sorted(board["text"]) == ["2-22-222-22-22", "4-44-444-44-44"]  # 1-11... left the board
    assert trace(page["cloud"], "pick")["text"] == [pick.arch]
    timeline = page["board"]["data"][0]  # one bar per stay on the board: enter step to leave step (or the end)
    bars = [(timeline["text"][i], timeline["x"][i], timeline["x"][i + 1]) for i in range(0, len(timeline["x"]), 3)]
    assert sorted(bars) == [("1-11-111-11-11", 12, 18), ("2-22-222-22-22", 14, 20), ("4-44-444-44-44", 18, 20)]
    for candidate in pick.candidates:  # the sortable table of final candidates
        assert f"<td>{candidate['arch']}</td>" in html


def test_the_page_parses_and_loads_nothing_from_the_network(search_with_paths):
    html = (search_with_paths / "report.html").read_text()
    page = Page(html)
    assert page.errors == []
    assert all(not value.strip().lower().startswith(("http:", "https:", "//")) for _, _, value in page.loads), \
        page.loads
    assert not any(tag == "link" or (tag == "script" and "src" in attrs) for tag, attrs in page.tags)
    assert all("url(" not in style and "@import" not in style for style in page.styles)
    for chart in charts(html).values():  # no plotly logo link to its site, no cloud button, no MathJax
        config = chart["config"]
        assert config["displaylogo"] is False and config["showSendToCloud"] is False
        assert config["typesetMath"] is False and "sendDataToCloud" in config["modeBarButtonsToRemove"]


def test_the_search_rewrites_its_page_after_every_epoch_and_at_the_end_and_logs_it(runs):
    calls = runs["calls"]
    assert [c["path"] for c in calls] == [runs["search"]] * (EPOCHS + 1)
    # each epoch's call comes after that epoch's summary row is written; the last one after result.json
    assert [(c["epochs"], c["result"]) for c in calls] == [(1, False), (2, False), (3, False), (EPOCHS, True)]
    last = (runs["search"] / "search.log").read_text().splitlines()[-1]
    size = (runs["search"] / "report.html").stat().st_size / 1e6
    assert last.endswith(f"report: {runs['search'] / 'report.html'} ({size:.1f} MB)")
    assert 0.5 < size < 5


def test_an_interrupted_search_gets_a_page_of_the_epochs_done(search_copy):
    folder = search_copy()
    (folder / "result.json").unlink()
    lines = (folder / "summary.csv").read_text().splitlines()
    (folder / "summary.csv").write_text("\n".join(lines[:2]) + "\n")  # one epoch done
    html = write_report(folder).read_text()
    assert "The search has not finished: 1 epoch(s) done" in html and "result.json (the run has not finished" in html
    assert len(charts(html)["curves"]["data"][0]["x"]) == 1


def test_a_search_written_before_paths_csv_shows_its_final_candidates_and_says_what_is_missing(search_copy):
    folder = search_copy()
    for name in ("paths.csv", "board.csv"):
        (folder / name).unlink(missing_ok=True)
    html = write_report(folder).read_text()
    result = json.loads((folder / "result.json").read_text())
    assert "paths.csv (written by newer versions" in html and "board.csv" in html
    cloud = trace(charts(html)["cloud"], "final candidates")
    assert cloud["text"] == [c["arch"] for c in result["candidates"]]


def test_a_report_failure_is_a_log_warning_not_the_end_of_the_run(search_copy):
    from cream.reporting import page_writer

    folder = search_copy()
    (folder / "result.json").write_text("{")
    assert page_writer(folder).startswith(f"warning: {folder / 'report.html'} not written (CreamError: ")


def test_the_page_of_a_real_search_plots_every_path_its_paths_csv_lists(runs):
    with open(runs["search"] / "paths.csv") as f:
        rows = list(csv.DictReader(f))
    assert rows  # Cream evaluates paths after its warm-up
    cloud = trace(charts((runs["search"] / "report.html").read_text())["cloud"], "paths evaluated")
    assert cloud["text"] == [r["arch"] for r in rows] and cloud["y"] == [float(r["top1"]) for r in rows]

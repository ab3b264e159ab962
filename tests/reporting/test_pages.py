import json
import shutil
import statistics

import numpy as np

import cream
from cream.reporting import write_report
from tests.reporting.conftest import RANKCORR
from tests.reporting.pages import Page, charts, trace


def test_the_retrain_page_has_its_curves_best_epoch_model_card_and_the_test_beside_it(runs):
    html = (runs["retrain"] / "report.html").read_text()
    result = json.loads((runs["retrain"] / "result.json").read_text())
    assert Page(html).errors == []
    curves = charts(html)["curves"]
    for name, key in (("val (plain weights)", "val_top1"), ("val (EMA weights)", "ema_top1"), ("train loss",
                                                                                                "train_loss")):
        assert trace(curves, name)["y"] == [row[key] for row in result["history"]]
    assert curves["layout"]["shapes"][0]["x0"] == result["best_epoch"]  # the best epoch marked
    assert f"{result['best_top1']:.2f}% val top-1 at epoch {result['best_epoch']}" in html
    assert f"{result['params']:.2f} M parameters, {result['flops']:.2f} M multiply-adds" in html
    assert "Confusion matrix" in html  # test.json sits beside best.pth: the page shows the test too


def test_cream_test_keeps_per_class_figures_and_its_most_confident_mistakes_and_the_page_shows_them(runs):
    test = json.loads((runs["retrain"] / "test.json").read_text())
    confusion = np.array(test["confusion"])
    assert confusion.sum(1).tolist() == [10] * 10  # the tiny test set: 10 images of each class
    assert 100 * np.trace(confusion) / confusion.sum() == test["top1"]  # evaluate()'s top-1, counted apart
    assert [c["top1"] for c in test["per_class"]] == [100 * confusion[c, c] / 10 for c in range(10)]
    with np.load(runs["retrain"] / test["mistakes"]) as mistakes:
        assert (mistakes["label"] != mistakes["predicted"]).all()
        assert len(mistakes["label"]) == min(24, confusion.sum() - np.trace(confusion))
        assert list(mistakes["confidence"]) == sorted(mistakes["confidence"], reverse=True)
        assert mistakes["images"].shape[1:] == (28, 28, 1) and mistakes["images"].dtype == np.uint8
        shown = len(mistakes["label"])
    html = (runs["retrain"] / "report.html").read_text()
    thumbnails = [a["src"] for tag, a in Page(html).tags if tag == "img"]
    assert len(thumbnails) == shown and all(src.startswith("data:image/png;base64,") for src in thumbnails)
    heatmap = charts(html)["confusion"]["data"][0]
    assert heatmap["customdata"] == test["confusion"] and heatmap["y"] == test["data"]["classes"]


def test_a_test_json_alone_gets_a_test_page(runs, tmp_path):
    for name in ("test.json", "test_mistakes.npz"):
        shutil.copy(runs["retrain"] / name, tmp_path / name)
    html = write_report(tmp_path).read_text()
    assert "<h1>test " in html and "The most confident mistakes" in html and "Training" not in html


def test_the_rankcorr_page_plots_each_path_with_its_seed_error_bar_and_the_noise(runs):
    html = (runs["rankcorr"] / "report.html").read_text()
    scatter = charts(html)["scatter"]["data"][0]
    paths = RANKCORR["paths"]
    assert scatter["text"] == [p["arch"] for p in paths]
    assert scatter["error_y"]["array"] == [statistics.stdev(p["sa_top1_seeds"]) for p in paths]
    assert charts(html)["noise"]["data"][0]["y"] == [0.5, 1.5]
    assert "0.333 (95% bootstrap interval -0.50 to 1.00)" in html


def test_comparing_searches_overlays_them_and_finds_each_picks_retraining(runs, search_copy, tmp_path):
    other = search_copy("other")  # runs/search/other: no retraining of its own name beside it
    (tmp_path / "runs" / "retrain").mkdir()
    retrained = tmp_path / "runs" / "retrain" / "some_name"  # found by its arch
    shutil.copytree(runs["retrain"], retrained)
    for name, key, value in (("result.json", "best_top1", 77.77), ("test.json", "top1", 66.66)):
        values = json.loads((retrained / name).read_text())
        (retrained / name).write_text(json.dumps({**values, key: value}))
    another = tmp_path / "runs" / "retrain" / "another"  # listed first, but a retraining of another arch
    shutil.copytree(retrained, another)
    values = json.loads((another / "result.json").read_text())
    (another / "result.json").write_text(json.dumps({**values, "arch": "0-00-000-00-00", "best_top1": 11.11}))
    first = search_copy("first")
    out = tmp_path / "compare.html"
    cream.report(str(first), str(other), out=str(out))
    html = out.read_text()
    page = charts(html)
    assert [t["name"] for t in page["cloud"]["data"] if "paths evaluated" in t["name"]] == [
        "first: paths evaluated", "other: paths evaluated"]
    pick = json.loads((first / "result.json").read_text())
    body = html.split("<tbody>")[1].split("</tbody>")[0]
    rows = [[cell.split("</td>")[0] for cell in row.split("<td>")[1:]] for row in body.split("<tr>")[1:]]
    assert rows == [[name, pick["arch"], f"{pick['flops']:.2f}", f"{pick['val_top1']:.2f}", "77.77", "66.66"]
                    for name in ("first", "other")]
    assert Page(html).errors == [] and "whose result.json has that arch" in html


def test_comparing_retrainings_tests_or_studies_gives_a_table_of_each(runs, tmp_path):
    for kind, column in (("retrain", "best val top-1 (%)"), ("retrain", "top-1 (%)"), ("rankcorr", "Kendall tau")):
        folder = runs[kind]
        if column == "top-1 (%)":  # the test alone: test.json in a folder of its own
            folder = tmp_path / "tested"
            folder.mkdir(exist_ok=True)
            shutil.copy(runs["retrain"] / "test.json", folder / "test.json")
        out = tmp_path / f"{kind}-{len(column)}.html"
        cream.report(str(folder), str(folder), out=str(out))
        html = out.read_text()
        body = html.split("<tbody>")[1].split("</tbody>")[0]
        assert f"<th>{column}</th>" in html and body.count(f"<tr><td>{folder.name}</td>") == 2

"""``cream report`` on bad input: one line saying what is wrong, nothing written, exit 2."""

import json
import shutil

import pytest

from cream.cli import main


def report(capsys, *args):
    code = main(["report", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def test_cream_report_rewrites_a_runs_page_and_names_it(runs, search_copy, capsys):
    folder = search_copy()
    (folder / "report.html").unlink()
    code, out, _ = report(capsys, folder)
    size = (folder / "report.html").stat().st_size / 1e6
    assert code == 0 and out == f"report: {folder / 'report.html'} ({size:.1f} MB)\n"


def broken(folder, what):
    if what == "no config":
        (folder / "result.json").unlink()
        (folder / "config.yaml").unlink()
    elif what == "cut result":
        text = (folder / "result.json").read_text()
        (folder / "result.json").write_text(text[: len(text) // 2])
    elif what == "unknown result":
        (folder / "result.json").write_text(json.dumps({"arch": "3-33-313-3333-333"}))
    elif what == "cut summary":
        (folder / "result.json").unlink()
        (folder / "summary.csv").write_text((folder / "summary.csv").read_text() + "1,2,3" + ",4" * 40 + "\n")
    return folder


@pytest.mark.parametrize("what, message", [
    ("no config", r"is a half-written search run: config.yaml is missing"),
    ("cut result", r"result.json is not valid JSON \(line \d+\)"),
    ("unknown result", r"result.json is neither a search's nor a retraining's result"),
    ("cut summary", r"summary.csv has a malformed row"),
])
def test_a_half_written_or_unknown_run_is_one_line_and_writes_nothing(search_copy, capsys, what, message):
    import re

    folder = broken(search_copy(), what)
    (folder / "report.html").unlink()
    code, out, err = report(capsys, folder)
    assert code == 2 and out == "" and err.count("\n") == 1 and re.search(message, err), err
    assert not (folder / "report.html").exists()


def test_a_folder_that_is_no_run_and_runs_of_different_kinds_are_refused(runs, tmp_path, capsys):
    code, _, err = report(capsys, tmp_path)
    assert code == 2 and err == (f"error: {tmp_path} is not a cream run: it holds none of result.json, search.log, "
                                 "retrain.log, test.json, rankcorr.json or select.json\n")
    out = tmp_path / "c.html"
    code, _, err = report(capsys, runs["search"], runs["retrain"], "--out", out)
    assert code == 2 and err.startswith("error: cream report compares runs of one kind; these are ")
    assert "(search)" in err and "(retrain)" in err and not out.exists()


def test_an_unfinished_study_says_how_to_finish_it(runs, tmp_path, capsys):
    shutil.copy(runs["rankcorr"] / "rankcorr.json", tmp_path / "study.json")
    code, _, err = report(capsys, tmp_path)
    assert code == 2 and f"cream rankcorr --merge {tmp_path}" in err

"""A run folder's files, read for its report page: which kind of run it is, and what it holds so far.

A page is drawn from these files only, so it can be redrawn for a finished run, an interrupted one (no result.json
yet) or one written by an older cream (no paths.csv): what is absent is listed in ``missing`` for the page to say.
A file that exists but cannot be read is an error naming it.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from cream.errors import CreamError


@dataclass
class RunFiles:
    """What one run folder holds (None: the file is absent)."""

    folder: Path
    kind: str
    config: dict | None = None
    result: dict | None = None
    summary: list[dict] = field(default_factory=list)   # summary.csv, one row per finished epoch
    log: list[str] = field(default_factory=list)        # the run's log lines, without their time stamps
    paths: list[dict] | None = None                     # paths.csv: every path evaluated during the search
    board: list[dict] | None = None                     # board.csv: every change of the prioritized board
    test: dict | None = None                            # test.json
    mistakes: dict | None = None                        # its thumbnails file, as arrays
    rankcorr: dict | None = None                        # rankcorr.json
    select: dict | None = None                          # select.json
    missing: list[str] = field(default_factory=list)    # what the page cannot show, in words

    @property
    def history(self) -> list[dict]:
        """One row per epoch: result.json's history, or summary.csv's rows while the run goes on."""
        return (self.result or {}).get("history") or self.summary


def read_run(source: str | Path) -> RunFiles:
    """The files of the run folder ``source`` (or of a test.json file given by its path)."""
    source = Path(source)
    if source.is_file() and source.suffix == ".json":
        return _test_files(source.parent, source)
    if not source.is_dir():
        raise CreamError(f"{source} is not a folder; give a run folder such as runs/search/NAME")
    kind = run_kind(source)
    if kind == "test":
        return _test_files(source, source / "test.json")
    if kind == "rankcorr":
        return RunFiles(source, kind, rankcorr=read_json(source / "rankcorr.json"))
    if kind == "select":
        chosen = read_json(source / "select.json")
        if chosen.get("kind") != "cream-select":
            raise CreamError(f"{source / 'select.json'} is not a select.json written by cream select")
        return RunFiles(source, kind, select=chosen, config=chosen.get("config"))
    run = RunFiles(source, kind)
    run.result = read_json(source / "result.json") if (source / "result.json").exists() else None
    run.config = (run.result or {}).get("config") or read_yaml(source / "config.yaml")
    if run.config is None:
        raise CreamError(f"{source} is a half-written {kind} run: config.yaml is missing (and there is no "
                         "result.json); run the same command again to resume it")
    run.summary = read_csv(source / "summary.csv") or []
    run.log = read_log(source / f"{kind}.log")
    if run.result is None:
        run.missing.append("result.json (the run has not finished: the page shows the epochs done so far)")
    if kind == "search":
        run.paths, run.board = read_csv(source / "paths.csv"), read_csv(source / "board.csv")
        if run.paths is None:
            run.missing.append("paths.csv (written by newer versions: the cloud shows only the final candidates)")
        if run.board is None:
            run.missing.append("board.csv (written by newer versions: no board timeline)")
    if kind == "retrain" and (source / "test.json").exists():
        tested = _test_files(source, source / "test.json")
        run.test, run.mistakes = tested.test, tested.mistakes
        run.missing += tested.missing
    return run


def run_kind(folder: Path) -> str:
    """search, retrain, test, rankcorr or select, from the files in ``folder``."""
    if (folder / "result.json").exists():
        result = read_json(folder / "result.json")
        if "candidates" in result:
            return "search"
        if "best_epoch" in result:
            return "retrain"
        raise CreamError(f"{folder}/result.json is neither a search's nor a retraining's result")
    for kind in ("search", "retrain"):
        if (folder / f"{kind}.log").exists():
            return kind
    if (folder / "rankcorr.json").exists():
        return "rankcorr"
    if (folder / "select.json").exists():
        return "select"
    if (folder / "study.json").exists():
        raise CreamError(f"{folder} holds a rank-correlation study that has not finished (no rankcorr.json yet); "
                         f"finish it, or merge its shards with cream rankcorr --merge {folder}")
    if (folder / "test.json").exists():
        return "test"
    raise CreamError(f"{folder} is not a cream run: it holds none of result.json, search.log, retrain.log, "
                     "test.json, rankcorr.json or select.json")


def _test_files(folder: Path, path: Path) -> RunFiles:
    test = read_json(path)
    if "top1" not in test or "checkpoint" not in test:
        raise CreamError(f"{path} is not a test.json written by cream test")
    run = RunFiles(folder, "test", test=test, config=test.get("config"))
    if "confusion" not in test:
        run.missing.append("per-class figures (test.json from an older cream test: run cream test again for them)")
    elif (folder / test["mistakes"]).exists():
        run.mistakes = read_npz(folder / test["mistakes"])
    else:
        run.missing.append(f"{test['mistakes']} (the most confident mistakes' thumbnails)")
    return run


# ---------------------------------------------------------------------------------------------- readers


def read_json(path: Path) -> dict:
    try:
        value = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise CreamError(f"{path} is not valid JSON (line {e.lineno}): it may have been cut off while written; "
                         "run the command that writes it again") from None
    if not isinstance(value, dict):
        raise CreamError(f"{path} does not hold a JSON object")
    return value


def read_yaml(path: Path) -> dict | None:
    if not path.exists():
        return None
    try:
        value = yaml.safe_load(path.read_text())
    except yaml.YAMLError:
        raise CreamError(f"{path} is not valid YAML; run the command that writes it again") from None
    if not isinstance(value, dict):
        raise CreamError(f"{path} does not hold a config")
    return value


def read_csv(path: Path) -> list[dict] | None:
    """The rows of a CSV file, numbers as floats and empty cells as None; None when the file is absent."""
    if not path.exists():
        return None
    rows = list(csv.DictReader(path.read_text().splitlines()))
    if rows and None in rows[-1]:  # more cells than the header: a row cut or glued while written
        raise CreamError(f"{path} has a malformed row {len(rows) + 1}; run the command that writes it again")
    return [{k: _cell(v) for k, v in row.items()} for row in rows]


def _cell(text: str | None):
    if text is None or text == "":
        return None
    try:
        return float(text)
    except ValueError:
        return text


def read_log(path: Path) -> list[str]:
    """A run log's lines without the time stamp each begins with."""
    if not path.exists():
        return []
    return [line.split(" ", 2)[2] if line[:2] == "20" and line.count(" ") >= 2 else line
            for line in path.read_text(errors="replace").splitlines()]


def read_npz(path: Path) -> dict:
    try:
        with np.load(path) as data:
            return {k: data[k] for k in data.files}
    except (OSError, ValueError) as e:
        raise CreamError(f"{path} cannot be read ({e}); run cream test again") from None

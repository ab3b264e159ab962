"""``cream select``: one supernet, a pick per budget, each path scored once, the Pareto front; and the search's
own final choice by evolution (search.final)."""

import json
import random
import re
from dataclasses import replace
from pathlib import Path

import pytest
import torch

import cream
from cream.assemble import make_config
from cream.cli import main
from cream.config import RetrainRun, SearchRun
from cream.errors import CreamError
from cream.nas.evolution import EvolutionSizes
from cream.nas.select import PathScores, pareto_front, select_budgets
from cream.nas.trainer import run_search
from cream.space import NetSpec
from cream.space.budget import plan_space
from cream.train.target import retrain_target
from tests.latency_tables import write_table
from tests.nas.test_trainer import tiny_overrides
from tests.train.conftest import ONE_THREAD, search_checkpoint

TINY = ["evolution.population=3", "evolution.top_k=2", "evolution.mutations=1", "evolution.crossovers=1",
        "evolution.generations=2", "select.val_images=20", "select.bn_batches=1", ONE_THREAD]


def test_several_budgets_score_each_path_once_and_each_pick_is_its_budgets_best():
    base = plan_space(NetSpec(resolution=28, in_chans=1, num_classes=10, width=0.5), 0, None, (2, 2, 3, 2, 2))
    plans = {name: base.with_budget(flops_max=float(name)) for name in ("6", "7", "8")}  # nested: paths recur
    measured = []

    def measure(arch):
        measured.append(str(arch))
        return {"arch": str(arch), "flops": base.table.macs(arch), "val_top1": random.Random(str(arch)).random()}

    scores = PathScores(measure)
    sizes = EvolutionSizes(population=10, top_k=3, mutations=4, crossovers=4, generations=4)
    picks = select_budgets(plans, scores, "evolution", sizes, 0, "flops", log=[].append)
    assert len(measured) == len(set(measured)) == len(scores.rows)  # once each
    assert sum(p["evaluations"] for p in picks.values()) > len(measured)  # later budgets met earlier paths
    assert sum(p["new_evaluations"] for p in picks.values()) == len(measured)
    for name, pick in picks.items():
        assert pick["flops"] <= float(name) and pick["flops_range"] == [0.0, float(name)]
        inside = [r["val_top1"] for r in scores.rows.values() if r["flops"] <= float(name)]
        assert pick["val_top1"] == max(inside) >= pick["curve"][-1] == max(pick["curve"])  # any budget's paths
        assert len(pick["curve"]) == pick["evaluations"]
    assert picks["6"]["val_top1"] <= picks["7"]["val_top1"] <= picks["8"]["val_top1"]


def test_the_pareto_front_keeps_the_paths_nothing_beats_on_both_cost_and_accuracy():
    rows = [{"arch": a, "flops": f, "val_top1": v} for a, f, v in
            [("a", 1, 50), ("b", 2, 40), ("c", 2, 60), ("d", 3, 60), ("e", 4, 70), ("f", 1, 45)]]
    assert [r["arch"] for r in pareto_front(rows, "flops")] == ["a", "c", "e"]


@pytest.fixture
def supernet(tmp_path, tiny_fashion_mnist):
    """A search's last.pth in runs of its own: search/tiny/."""
    (tmp_path / "search" / "tiny").mkdir(parents=True)
    return search_checkpoint(tmp_path / "search" / "tiny" / "last.pth", tiny_fashion_mnist)


def test_select_picks_per_budget_writes_select_json_and_retrain_takes_a_pick(supernet, tmp_path, tiny_fashion_mnist,
                                                                             monkeypatch):
    path = supernet
    monkeypatch.chdir(tmp_path)
    assert main(["select", "--supernet", str(path), "--flops-max", "5,8", *TINY]) == 0
    written = tmp_path / "runs" / "select" / "tiny" / "select.json"  # the search folder's name
    saved = json.loads(written.read_text())
    assert list(saved["picks"]) == ["5", "8"] and saved["cost"] == "flops" and saved["method"] == "evolution"
    assert "The pick of each budget" in (written.parent / "report.html").read_text()  # the run's page beside it
    scored = {r["arch"]: r for r in saved["scored"]}
    assert len(scored) == saved["evaluations"] == len(saved["scored"])
    for name, pick in saved["picks"].items():
        assert pick["flops"] <= float(name) and scored[pick["arch"]]["val_top1"] == pick["val_top1"]
        assert 1 <= pick["evaluations"] <= 6
    front = {r["arch"] for r in saved["front"]}
    for row in saved["scored"]:  # on the front exactly when no other path is as cheap and more accurate or better
        beaten = any(o["flops"] <= row["flops"] and o["val_top1"] >= row["val_top1"] and
                     (o["flops"], o["val_top1"]) != (row["flops"], row["val_top1"]) for o in saved["scored"])
        assert (row["arch"] in front) == (not beaten)

    space = make_config(RetrainRun, None, []).space
    arch, spec = retrain_target(f"{written}:5", space)
    assert str(arch) == saved["picks"]["5"]["arch"] and spec.resolution == 28 and spec.width == 0.5
    assert str(retrain_target(f"{written}:8.0", space)[0]) == saved["picks"]["8"]["arch"]
    with pytest.raises(CreamError, match="holds picks for several budgets \\(5, 8\\); name one, e.g. .*select.json:5"):
        retrain_target(str(written), space)
    with pytest.raises(CreamError, match="holds no pick for budget 3; its budgets are 5, 8"):
        retrain_target(f"{written}:3", space)
    trained = cream.retrain(arch=f"{written}:8", overrides=[
        f"data.root={tiny_fashion_mnist}", "data.val_fraction=0.2", "data.batch_size=32", "retrain.epochs=1",
        "run.out_dir=retrained", ONE_THREAD, "run.quiet=true"])
    assert trained.arch == saved["picks"]["8"]["arch"]

    again = cream.select(str(path), flops_max=8, method="random", out="again", overrides=TINY)
    assert again.method == "random" and list(again.picks) == ["8"] and again.pick()["arch"] == again.pick(8.0)["arch"]
    assert again.page == str(Path("again") / "report.html") and Path(again.page).exists()
    with pytest.raises(CreamError, match="again holds a selection \\(select.json\\); pass --force"):
        cream.select(str(path), flops_max=8, out="again", overrides=TINY)


def test_latency_budgets_weigh_predicted_latency(supernet, tmp_path):
    table = write_table(tmp_path / "t.json", block_ms=lambda s, b, op: 1 + op)
    result = cream.select(str(supernet), latency_table=str(table), latency_max=[45, 60], out=str(tmp_path / "s"),
                          overrides=TINY)
    assert list(result.picks) == ["45", "60"] and result.cost == "latency_ms"
    assert all(p["latency_ms"] <= float(name) for name, p in result.picks.items())
    assert [r["latency_ms"] for r in result.front] == sorted(r["latency_ms"] for r in result.front)


def retrain_checkpoint(path):
    torch.save({"kind": "cream-child", "arch": "0-0-0-0-0", "model": {}, "net": {}}, path)
    return path


@pytest.mark.parametrize("args, message", [
    (["--flops-max", "2,x"], "argument --flops-max: '2,x' is not a comma-separated list of numbers, e\\.g\\. 2,4,8"),
    (["--flops-max", "0.5"], r"FLOPs range \[0, 0.5\] M holds no path at depths"),
    (["--flops-min", "5.0000001", "--flops-max", "5.0000002"], r"no path of the supernet lies within \[5, 5\] M "
                                                               "multiply-adds \\(none in 20000 random draws\\)"),
    (["--flops-max", "4,4"], "a budget is given twice in 4, 4"),
    (["--flops-max", "4,8", "--latency-table", "TABLE", "--latency-max", "10,20"], "not both"),
    (["--latency-max", "10"], "latency budgets need --latency-table FILE"),
    (["--latency-table", "OTHER_NET", "--latency-max", "10"], r"other.json was made for resolution 32 \(this run: 28"),
    (["RETRAIN"], r"best.pth is not a search checkpoint \(the last.pth of `cream search`\); pass --supernet RUN/last"),
])
def test_bad_input_is_one_line_exit_2_and_nothing_written(supernet, tmp_path, capsys, args, message):
    table = write_table(tmp_path / "t.json")
    other = write_table(tmp_path / "other.json", net={"resolution": 32, "in_chans": 1, "num_classes": 10,
                                                      "width": 0.5, "stem_stride": 2, "stage_strides": [1, 2, 2, 1, 2]})
    replace_with = {"TABLE": str(table), "OTHER_NET": str(other)}
    args = [replace_with.get(a, a) for a in args]
    source = str(retrain_checkpoint(tmp_path / "best.pth")) if args[:1] == ["RETRAIN"] else str(supernet)
    args = [a for a in args if a != "RETRAIN"]
    out = tmp_path / "selection"
    assert main(["select", "--supernet", source, "--out", str(out), *args, *TINY]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and re.search(message, err), err
    assert not out.exists()


def test_search_final_evolution_is_spos_end_to_end_and_board_needs_a_board(tiny_fashion_mnist, tmp_path):
    def config(out, *keys):
        return make_config(SearchRun, None, tiny_overrides(tiny_fashion_mnist, tmp_path / out, "search.epochs=1",
                                                           "search.warmup_epochs=0", "search.probe_steps=0",
                                                           *keys))

    evolved = run_search(config("spos", "search.algorithm=spos", "search.final=evolution", *TINY[:5]))
    rows = evolved["candidates"]
    assert 3 < len(rows) <= 6 and len({r["arch"] for r in rows}) == len(rows)  # not the 3 random candidates
    assert all(r["flops"] <= 8 for r in rows) and evolved["arch"] == rows[0]["arch"]
    assert [r["val_top1"] for r in rows] == sorted((r["val_top1"] for r in rows), reverse=True)
    log = (tmp_path / "spos" / "search.log").read_text()
    assert "final selection by evolution: up to 6 paths (2 generations of 3)" in log
    with pytest.raises(CreamError, match="search.final=board ranks the prioritized board, which "
                                         "search.algorithm=spos does not keep"):
        run_search(config("board", "search.algorithm=spos", "search.final=board"))


def test_search_final_random_makes_cream_rank_random_paths_instead_of_its_board(tiny_fashion_mnist, tmp_path):
    cfg = make_config(SearchRun, None, tiny_overrides(tiny_fashion_mnist, tmp_path / "r", "search.epochs=2",
                                                      "search.warmup_epochs=1", "search.probe_steps=0",
                                                      "search.final=random", "search.candidates=4"))
    result = run_search(cfg)
    assert len(result["candidates"]) == 4 and "final selection over 4 random in-budget paths (search.final=random)" \
        in (tmp_path / "r" / "search.log").read_text()


def test_the_whole_space_preset_covers_every_depth_with_no_multiply_add_limit():
    from cream.assemble import run_config
    from cream.space.budget import plan_from_config

    cfg = run_config("search", "whole_space", notes=[])
    plan = plan_from_config(cfg.space)
    assert plan.depths == (5, 5, 5, 6, 6) and plan.elastic_depth and plan.flops_max == float("inf")
    assert cfg.space.sharing == "entangled" and cfg.search.final == "evolution"
    assert replace(plan, elastic_depth=False).num_paths < plan.num_paths


def test_select_without_a_supernet_says_what_it_needs(capsys):
    with pytest.raises(CreamError, match="needs --supernet RUN/last.pth"):
        cream.select(None)
    assert main(["select", "--flops-max", "4"]) == 2
    assert capsys.readouterr().err == ("error: cream select needs --supernet RUN/last.pth, the checkpoint of a "
                                       "`cream search` run\n")

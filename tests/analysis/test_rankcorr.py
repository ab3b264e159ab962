import json
import shutil

import pytest
import torch

from cream.analysis import rankcorr
from cream.analysis.compare import compare_studies, comparison_text, write_comparison
from cream.analysis.rankcorr import StudyFolder, merge_study, run_study
from cream.analysis.stats import rank_correlation
from cream.assemble import study_config
from cream.cli import main
from cream.engine.checkpoint import read_search_checkpoint
from cream.errors import CreamError
from tests.analysis.conftest import write_search_checkpoint

TIMINGS = ("ws_seconds", "sa_seconds")


class FakeTraining:
    """Stands in for train_from_scratch: a made-up accuracy per path, and a record of what was trained."""

    def __init__(self, stop_after: int | None = None):
        self.trained, self.stop_after = [], stop_after

    def __call__(self, arch, spec, data, recipe, ctx, seed=0, log=None):
        if self.stop_after is not None and len(self.trained) == self.stop_after:
            raise KeyboardInterrupt  # the study is killed while this path trains
        self.trained.append(str(arch))
        score = sum(op * (i + 1) for i, op in enumerate(op for ops in arch.stages for op in ops))
        return {"val_top1": float(score), "val_top5": 100.0, "val_loss": 1.0 / (1 + score), "train_loss": 1.0,
                "train_acc": 50.0, "seconds": 0.5}


@pytest.fixture
def training(monkeypatch):
    fake = FakeTraining()
    monkeypatch.setattr(rankcorr, "train_from_scratch", fake)
    return fake


def config(ckpt, out, *overrides, paths=4):
    # One thread: on a busy 2-core machine two OpenMP threads wait on each other and run many times slower.
    return study_config(ckpt, ["study.bn_batches=2", "run.threads=1", *overrides],
                        {"study.paths": paths, "run.out_dir": str(out), "run.quiet": True})


def measured(report):
    """A report without its timings: what must not depend on how the study was run."""
    rows = [{k: v for k, v in row.items() if k not in TIMINGS} for row in report["paths"]]
    return {k: v for k, v in report.items() if k not in ("paths", "standalone_seconds", "config")}, rows


def test_study_measures_every_path_and_writes_its_report(supernet_ckpt, tmp_path, training):
    out = tmp_path / "study"
    report = run_study(config(supernet_ckpt, out), log=lambda _: None)
    archs = (out / "paths.txt").read_text().split()
    assert len(archs) == len(set(archs)) == 4 and training.trained == archs
    assert [row["arch"] for row in report["paths"]] == archs
    assert all(0 <= row["flops"] <= 8 and 0 <= row["ws_top1"] <= 100 for row in report["paths"])
    expected = rank_correlation([r["ws_top1"] for r in report["paths"]], [r["sa_top1"] for r in report["paths"]])
    assert {k: report[k] for k in expected} == expected
    assert report["algorithm"] == "cream" and report["weights"] == "plain"
    assert json.loads((out / "rankcorr.json").read_text())["kendall_tau"] == report["kendall_tau"]
    csv_lines = (out / "rankcorr.csv").read_text().splitlines()
    assert len(csv_lines) == 5 and csv_lines[0].startswith("index,arch,flops,params,ws_top1,sa_top1,ws_rank")
    assert (out / "rankcorr.png").stat().st_size > 0
    # Run again: nothing is retrained, the same report comes back.
    again = run_study(config(supernet_ckpt, out), log=lambda _: None)
    assert len(training.trained) == 4 and measured(again) == measured(report)


def test_interrupted_study_resumes_where_it_stopped(supernet_ckpt, tmp_path, monkeypatch):
    unbroken = FakeTraining()
    monkeypatch.setattr(rankcorr, "train_from_scratch", unbroken)
    reference = run_study(config(supernet_ckpt, tmp_path / "a"), log=lambda _: None)

    killed = FakeTraining(stop_after=2)
    monkeypatch.setattr(rankcorr, "train_from_scratch", killed)
    out = tmp_path / "b"
    with pytest.raises(KeyboardInterrupt):
        run_study(config(supernet_ckpt, out), log=lambda _: None)
    results = out / "results-1-of-1.jsonl"
    assert len(results.read_text().splitlines()) == 2
    with open(results, "a") as f:
        f.write('{"index": 2, "arch": "0-0')  # a kill in the middle of writing the third line

    resumed = FakeTraining()
    monkeypatch.setattr(rankcorr, "train_from_scratch", resumed)
    messages = []
    report = run_study(config(supernet_ckpt, out), log=messages.append)
    assert resumed.trained == unbroken.trained[2:]
    assert any("2 of 4 paths have results" in m for m in messages)
    assert any("dropped an unfinished last line" in m for m in messages)
    assert measured(report) == measured(reference)
    assert len(results.read_text().splitlines()) == 4


def test_shards_in_one_folder_or_merged_from_two_machines_equal_one_process(supernet_ckpt, tmp_path, training):
    quiet = {"log": lambda _: None}
    whole = run_study(config(supernet_ckpt, tmp_path / "whole", paths=5), **quiet)

    shared = tmp_path / "shared"
    assert run_study(config(supernet_ckpt, shared, paths=5), shard=(1, 2), **quiet) is None
    together = run_study(config(supernet_ckpt, shared, paths=5), shard=(2, 2), **quiet)
    assert measured(together) == measured(whole)

    first, second = tmp_path / "machine1", tmp_path / "machine2"
    run_study(config(supernet_ckpt, first, paths=5), shard=(1, 2), **quiet)
    run_study(config(supernet_ckpt, second, paths=5), shard=(2, 2), **quiet)
    with pytest.raises(CreamError, match=r"results for 3 of 5 paths .* run the missing shards"):
        merge_study(first)
    shutil.copy(second / "results-2-of-2.jsonl", first)
    assert measured(merge_study(first)) == measured(whole)
    assert len(training.trained) == 5 * 3


def test_one_shard_runs_in_one_process_at_a_time(tmp_path):
    folder = StudyFolder(tmp_path)
    with folder.shard_writer(1, 2) as append:
        append({"arch": "3-3-3-3-3"})
        with pytest.raises(CreamError, match="shard 1/2 of .* is being run by another process"):
            with folder.shard_writer(1, 2):
                pass
        with folder.shard_writer(2, 2):  # other shards may run beside it
            pass
    with pytest.raises(CreamError, match="holds path 3-3-3-3-3, which is not in this study"):
        folder.results(["1-1-1-1-1"])
    (tmp_path / "results-2-of-2.jsonl").write_text("{not json\n")
    with pytest.raises(CreamError, match="results-2-of-2.jsonl line 1 is not valid JSON; delete that line"):
        folder.results(["3-3-3-3-3"])


def test_a_study_folder_only_resumes_the_same_study(supernet_ckpt, tiny_fashion_mnist, tmp_path, training):
    out = tmp_path / "study"
    quiet = {"log": lambda _: None}
    run_study(config(supernet_ckpt, out, paths=3), **quiet)
    with pytest.raises(CreamError, match="retrain.epochs=5, not 2"):
        run_study(config(supernet_ckpt, out, "retrain.epochs=2", paths=3), **quiet)
    with pytest.raises(CreamError, match="other paths"):
        run_study(config(supernet_ckpt, out, "run.seed=1", paths=3), **quiet)
    other = write_search_checkpoint(tmp_path / "other.pth", tiny_fashion_mnist, init_seed=1)
    with pytest.raises(CreamError, match="study of another supernet"):
        run_study(config(other, out, paths=3), **quiet)
    with pytest.raises(CreamError, match="holds a study; resume it"):
        run_study(config(supernet_ckpt, out, "run.resume=never", paths=3), **quiet)
    # Where things are and how fast they run may change; --force starts afresh.
    run_study(config(supernet_ckpt, out, "run.threads=1", "data.workers=0", paths=3), **quiet)
    assert len(training.trained) == 3
    run_study(config(supernet_ckpt, out, "retrain.epochs=2", paths=3), force=True, **quiet)
    assert len(training.trained) == 6


def test_paths_file_gives_the_same_paths_to_another_study(supernet_ckpt, tmp_path, training):
    quiet = {"log": lambda _: None}
    first = run_study(config(supernet_ckpt, tmp_path / "a"), **quiet)
    listed = tmp_path / "a" / "paths.txt"
    second = run_study(config(supernet_ckpt, tmp_path / "b", f"study.paths_file={listed}"), **quiet)
    assert measured(second) == measured(first)
    bad = tmp_path / "bad.txt"
    for text, message in (("3-3-3-3-3\n3-3-3-3-3\n1-1-1-1-1\n", "more than once"),
                          ("3-3-3-3-3\n1-1-1-1-1\n", "holds 2 paths"),
                          ("3-3-3-3-3\n1-1-1-1-1\n3-3-3-3-33333\n", "deeper than the supernet's depths"),
                          ("3-3-3-3-3\n# a comment\n3-x\n", "bad.txt line 3: architecture")):
        bad.write_text(text)
        with pytest.raises(CreamError, match=message):
            run_study(config(supernet_ckpt, tmp_path / "c", f"study.paths_file={bad}"), **quiet)


def test_second_supernet_reuses_the_trainings_and_the_two_are_compared(supernet_ckpt, tiny_fashion_mnist, tmp_path,
                                                                       training):
    quiet = {"log": lambda _: None}
    run_study(config(supernet_ckpt, tmp_path / "cream"), **quiet)
    spos = write_search_checkpoint(tmp_path / "spos.pth", tiny_fashion_mnist, init_seed=1, algorithm="spos")
    report = run_study(config(spos, tmp_path / "spos", f"study.reuse={tmp_path / 'cream'}"), **quiet)
    assert len(training.trained) == 4  # the second study trained nothing
    assert all(row["standalone_from"] == str(tmp_path / "cream") for row in report["paths"])
    with pytest.raises(CreamError, match="study.reuse: .* trained its paths with retrain.epochs=5, not 3"):
        run_study(config(spos, tmp_path / "x", "retrain.epochs=3", f"study.reuse={tmp_path / 'cream'}"), **quiet)

    comparison = compare_studies(tmp_path / "cream", tmp_path / "spos", resamples=200, seed=0)
    assert comparison["shared_paths"] == 4 and comparison["same_standalone"]
    assert comparison["a"]["algorithm"] == "cream" and comparison["b"]["algorithm"] == "spos"
    d = comparison["difference"]
    a, b = comparison["a"]["kendall_tau"], comparison["b"]["kendall_tau"]
    assert d["tau_difference"] == pytest.approx(a - b) and d["resamples"] == 200
    text = comparison_text(comparison)
    assert "tau(A) - tau(B)" in text and "95% CI" in text and len(text.splitlines()) == 1 + 4 + 3
    write_comparison(comparison, tmp_path / "cmp")
    assert json.loads((tmp_path / "cmp" / "compare.json").read_text())["shared_paths"] == 4
    assert len((tmp_path / "cmp" / "compare.csv").read_text().splitlines()) == 5
    assert (tmp_path / "cmp" / "compare.png").stat().st_size > 0
    with pytest.raises(CreamError, match="holds no rankcorr.json"):
        compare_studies(tmp_path / "cream", tmp_path / "x")


def test_data_must_have_the_supernets_classes_and_the_checkpoint_must_be_a_search(supernet_ckpt, tmp_path,
                                                                                   training):
    with pytest.raises(CreamError, match="the data has 2 classes but the supernet 10"):
        run_study(config(supernet_ckpt, tmp_path / "s", "data.classes=[1, 2]"), log=lambda _: None)
    plain = tmp_path / "weights.pth"
    torch.save({"state_dict": {}}, plain)
    with pytest.raises(CreamError, match="is not a search checkpoint"):
        study_config(plain)


def test_cli_study_merge_and_compare(supernet_ckpt, tmp_path, training, capsys):
    out = tmp_path / "cli"
    common = ["rankcorr", "--supernet", str(supernet_ckpt), "--paths", "3", "--out", str(out), "--quiet",
              "--flops-min", "5.5", "study.bn_batches=1", "run.threads=1"]
    assert main([*common, "--shard", "1/2"]) == 0
    assert "1 of 3 paths await other shards" in capsys.readouterr().out
    assert main(["rankcorr", "--merge", str(out)]) == 2
    assert "results for 2 of 3 paths" in capsys.readouterr().err
    assert main([*common, "--shard", "2/2"]) == 0
    out_text = capsys.readouterr().out
    assert "Kendall tau" in out_text and "over 3 paths of the cream supernet" in out_text
    assert main(["rankcorr", "--merge", str(out)]) == 0
    report = json.loads((out / "rankcorr.json").read_text())
    assert report["flops_range"] == [5.5, 8.0] and all(5.5 <= row["flops"] <= 8 for row in report["paths"])
    assert main(["rankcorr", "--compare", str(out), str(out), "--bootstrap", "50", "--out", str(tmp_path / "c")]) == 0
    assert "tau(A) - tau(B) = 0, 95% CI [0, 0]" in capsys.readouterr().out
    assert main(["rankcorr", "--keys"]) == 0
    assert "study:" in capsys.readouterr().out
    for args, message in ((["--shard", "3/2"], "must be i/n"), (["--paths", "2"], "study.paths must be at least 3"),
                          ([], None)):
        code = main(["rankcorr", *(common[1:5] if message else []), *args])
        err = capsys.readouterr().err
        assert code == 2 and err.count("\n") == 1
        assert (message or "needs --supernet CKPT") in err


@pytest.mark.slow
def test_real_study_end_to_end(supernet_ckpt, tmp_path, capsys):
    out = tmp_path / "real"
    assert main(["rankcorr", "--supernet", str(supernet_ckpt), "--paths", "3", "--epochs", "1", "--out", str(out),
                 "study.bn_batches=1", "retrain.warmup_epochs=0", "run.threads=1"]) == 0
    report = json.loads((out / "rankcorr.json").read_text())
    assert report["n"] == 3 and all(row["sa_seconds"] > 0 and 0 <= row["sa_top1"] <= 100 for row in report["paths"])
    assert "epoch 1/1" in capsys.readouterr().out


def test_several_seeds_per_path_give_the_mean_and_the_noise(supernet_ckpt, tmp_path, monkeypatch):
    seeds_seen = []

    def training(arch, spec, data, recipe, ctx, seed=0, log=None):
        seeds_seen.append((str(arch), seed))
        path_index = (len(seeds_seen) - 1) // 2
        score = 50.0 + 10 * path_index + (1.0 if seed % 2 else -1.0)  # seed noise of exactly +-1
        return {"val_top1": score, "val_top5": 100.0, "val_loss": 1.0, "train_loss": 1.0, "seconds": 0.5}

    monkeypatch.setattr(rankcorr, "train_from_scratch", training)
    report = run_study(config(supernet_ckpt, tmp_path / "seeds", "study.seeds=2", "run.seed=4", paths=3),
                       log=lambda _: None)
    archs = [row["arch"] for row in report["paths"]]
    assert seeds_seen == [(a, s) for a in archs for s in (4, 5)]
    for row in report["paths"]:
        assert row["sa_top1_seeds"][1] - row["sa_top1_seeds"][0] == 2.0
        assert row["sa_top1"] == sum(row["sa_top1_seeds"]) / 2
    noise = report["noise"]
    assert noise["seeds"] == 2 and noise["seed_sd"] == pytest.approx(2 ** 0.5)
    means = [row["sa_top1"] for row in report["paths"]]
    assert noise["path_sd"] == pytest.approx(float(torch.tensor(means).std()))
    assert "seed noise 1.41 points" in rankcorr.report_text(report)


def test_strata_spread_the_paths_over_the_flops_range(supernet_ckpt, tmp_path, training):
    from cream.space.budget import plan_space
    from cream.space.net import NetSpec

    cfg = config(supernet_ckpt, tmp_path / "strata", "study.strata=3", paths=6)
    ckpt = read_search_checkpoint(supernet_ckpt)
    plan = plan_space(NetSpec(**ckpt["net"]), 0, 8, ckpt["depths"])
    archs = rankcorr.study_paths(cfg, plan)
    low, high = plan.table.macs(plan.smallest), plan.table.macs(plan.largest)
    bins = [min(int(3 * (plan.table.macs(a) - low) / (high - low)), 2) for a in archs]
    assert len(set(archs)) == 6 and bins == [0, 0, 1, 1, 2, 2]


def test_a_supernet_searched_without_a_flops_limit_gives_valid_json(supernet_ckpt, tmp_path, training):
    ckpt = torch.load(supernet_ckpt, weights_only=False)
    ckpt["config"]["space"]["flops_max"] = None  # searched with space.flops_max=null
    torch.save(ckpt, supernet_ckpt)
    out = tmp_path / "unlimited"
    run_study(config(supernet_ckpt, out, paths=3), log=lambda _: None)
    for name in ("study.json", "rankcorr.json"):
        text = (out / name).read_text()
        assert "Infinity" not in text and json.loads(text)["flops_range"] == [0, None]


def test_a_supernet_searched_with_elastic_depth_is_studied_on_paths_of_several_depths(supernet_ckpt, tmp_path,
                                                                                      training):
    ckpt = torch.load(supernet_ckpt, weights_only=False)
    ckpt["config"]["space"]["elastic_depth"] = True  # searched with space.elastic_depth=true
    torch.save(ckpt, supernet_ckpt)
    out = tmp_path / "elastic"
    run_study(config(supernet_ckpt, out, paths=6), log=lambda _: None)
    paths = json.loads((out / "study.json").read_text())["paths"]
    depths = {tuple(len(ops) for ops in path.split("-")) for path in paths}
    assert len(depths) > 1 and all(d <= m for depth in depths for d, m in zip(depth, ckpt["depths"]))


def test_paths_that_all_score_the_same_alone_give_an_undefined_tau_not_a_crash(supernet_ckpt, tmp_path, monkeypatch,
                                                                                  capsys):
    """A short study on a small set often trains every path to the same top-1 (CI saw 10.00% three times)."""
    def training(arch, spec, data, recipe, ctx, seed=0, log=None):
        return {"val_top1": 10.0, "val_top5": 50.0, "val_loss": 2.3, "train_loss": 2.3, "seconds": 0.5}

    monkeypatch.setattr(rankcorr, "train_from_scratch", training)
    out = tmp_path / "flat"
    assert main(["rankcorr", "--supernet", str(supernet_ckpt), "--paths", "3", "--out", str(out), "--quiet",
                 "study.seeds=2", "study.bn_batches=1", "run.threads=1"]) == 0
    printed = capsys.readouterr().out
    assert "Kendall tau undefined" in printed and "a spread of 0 between paths" in printed
    assert f"report: {out / 'report.html'}" in printed
    html = (out / "report.html").read_text()
    assert "undefined: every path got the same top-1" in html
    assert main(["report", str(out), str(out), "--out", str(tmp_path / "both.html")]) == 0

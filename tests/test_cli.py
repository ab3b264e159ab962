import json
import subprocess
import sys

import pytest

from cream.cli import main
from tests.latency_tables import DEPTHS, FM_NET, write_table

FM = ["--resolution", "28", "--in-chans", "1", "--num-classes", "10", "--width", "0.5"]


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "cream.cli", *args], capture_output=True, text=True)


def test_arch_prints_the_stage_table_and_sizes(capsys):
    assert main(["arch", "cream_287"]) == 0
    out = capsys.readouterr().out
    assert "params         6.1 M" in out and "multiply-adds  290.8 M" in out and "(1, 1000)" in out
    assert "k5e6 k3e6 k5e6" in out


def test_space_prints_depths_paths_and_covered_range(capsys):
    assert main(["space", "--flops-max", "8", "--resolution", "28", "--in-chans", "1", "--width", "0.5"]) == 0
    out = capsys.readouterr().out
    assert "depths" in out and "paths" in out and "covered" in out


def test_space_with_elastic_depth_covers_shallower_paths(capsys):
    net = ["--flops-max", "8", "--resolution", "28", "--in-chans", "1", "--width", "0.5"]
    lowest = []
    for extra in ([], ["--elastic-depth"]):
        assert main(["space", *net, *extra]) == 0
        covered = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("covered"))
        lowest.append(float(covered.split()[1]))
    assert lowest[1] < lowest[0]


@pytest.mark.parametrize("args, message", [
    (["arch", "3-33"], "needs 5 stages"),
    (["arch", "cream_1"], "not valid"),
    (["space", "--flops-max", "0.1", "--resolution", "28"], "impossible"),
    (["space"], "--flops-max"),
    (["nope"], "invalid choice"),
    (["arch", "cream_14", "--width", "wide"], "not a number"),
    (["latency-table", "--out", "t.json"], "needs --resolution R"),
    (["latency-table", "--resolution", "28", "--bf16", "--out", "t.json"], "--bf16 is for --device cuda"),
    (["space", "--resolution", "28", "--latency-max", "5"], "latency_min and latency_max need a latency table"),
    (["space", *FM, "--flops-max", "8", "--latency-min", "3"], "latency_min and latency_max need a latency table "
                                                               "(--latency-table FILE, or space.latency_table=FILE); "
                                                               "make one with: cream latency-table --device cpu "
                                                               "--resolution 28 --in-chans 1"),
    (["arch", "3-3-3-3-3", *FM, "--latency-table", "nowhere.json"], "latency table nowhere.json does not exist"),
])
def test_errors_are_one_line_on_stderr_with_nonzero_exit(args, message):
    result = run_cli(*args)
    assert result.returncode != 0
    assert result.stderr.count("\n") == 1 and message in result.stderr and result.stderr.startswith("error: ")


def test_debug_shows_the_traceback():
    result = run_cli("--debug", "arch", "3-33")
    assert "Traceback" in result.stderr and result.returncode == 2


def test_overrides_may_follow_options_and_other_leftovers_are_errors(capsys):
    assert main(["search", "fashion_mnist", "--quiet", "search.epochs=0"]) == 2
    assert "search.epochs must be greater than 0" in capsys.readouterr().err
    assert main(["search", "fashion_mnist", "--quiet", "bogus"]) == 2
    assert "unrecognized arguments: bogus" in capsys.readouterr().err


def test_readme_names_work_wherever_a_paper_model_does_and_say_what_they_mean(capsys, monkeypatch):
    assert main(["arch", "470"]) == 0
    note, title = capsys.readouterr().out.splitlines()[:2]
    assert note == "470 is the paper README's name of cream_481 (3431-3230-33311-3333-3333 at 224 px; the code's " \
                   "name is 481)"
    assert title.startswith("cream_481  3431-3230-33311-3333-3333  (224 px")
    seen = {}

    def retrain(cfg, force=False, notes=(), after_epoch=None):
        seen["cfg"] = cfg
        return {"arch": "x", "best_top1": 1.0, "best_epoch": 1, "weights": "ema", "elapsed_s": 1.0, "checkpoint": "x",
                "config": {"run": {"out_dir": cfg.run.out_dir}}}

    monkeypatch.setattr("cream.train.trainer.run_retrain", retrain)
    assert main(["retrain", "600"]) == 0  # the paper recipe preset of cream_604
    assert seen["cfg"].retrain.arch == "cream_604" and seen["cfg"].run.out_dir == "runs/retrain/cream_604"
    assert capsys.readouterr().out.startswith("600 is the paper README's name of cream_604")
    assert main(["retrain", "fashion_mnist", "retrain.arch=cream_285"]) == 0
    assert capsys.readouterr().out.startswith("cream_285 is the paper README's name of cream_287")


def test_latency_table_writes_a_table_for_the_device_batch_threads_and_net(tmp_path, capsys):
    out = tmp_path / "t.json"
    assert main(["latency-table", *FM, "--batch", "2", "--threads", "1", "--repeats", "1", "--warmup", "0",
                 "--out", str(out)]) == 0
    table = json.loads(out.read_text())
    assert (table["kind"], table["device"], table["batch"], table["threads"]) == ("cream-latency-table", "cpu", 2, 1)
    assert table["net"] == FM_NET and (table["channels_last"], table["bf16"]) == (True, False)
    assert [len(stage) for stage in table["block_ms"]] == list(DEPTHS)
    assert all(len(ops) == 6 for stage in table["block_ms"] for ops in stage)
    assert sorted(table["fixed_ms"]) == ["head", "last_conv", "stage0", "stem"]
    assert f"wrote {out}; search with it: cream search space.latency_table={out}" in capsys.readouterr().out


def test_arch_and_space_use_a_latency_table(tmp_path, capsys):
    table = write_table(tmp_path / "t.json", block_ms=lambda s, b, op: op / 4, fixed=(0.25,) * 4)
    assert main(["arch", "5-01-2-3-4", *FM, "--latency-table", str(table)]) == 0
    assert "latency        predicted 4.75 ms, measured " in capsys.readouterr().out  # 1 + (5+0+1+2+3+4)/4
    three_and_one = write_table(tmp_path / "31.json", block_ms=lambda s, b, op: 3.0 if op == 5 else 1.0,
                                fixed=(0.25,) * 4)
    assert main(["space", *FM, "--latency-table", str(three_and_one), "--latency-max", "25"]) == 0
    out = capsys.readouterr().out
    assert "budget         [0, 25] ms predicted latency" in out and "depths         [1, 1, 2, 2, 2]" in out
    assert "latency        9 .. 25 ms predicted" in out


def test_an_image_folder_goes_through_search_retrain_and_test_with_only_data_given(tmp_path, monkeypatch, capsys):
    from tests.conftest import make_image_tree

    tree = make_image_tree(tmp_path / "pets", per_class=10, splits=("train", "val", "test"), size=32)
    monkeypatch.chdir(tmp_path)  # runs/ is made here
    quick = ["run.threads=1"]  # and a short schedule instead of the preset's floors:
    assert main(["search", "--data", str(tree), *quick, "search.min_steps=6", "search.probe_steps=2",
                 "search.val_images=8", "search.bn_batches=1", "search.meta_update_every=2"]) == 0
    assert main(["retrain", "--data", str(tree), *quick, "retrain.epochs=2", "retrain.min_steps=3"]) == 0
    assert main(["test", "--data", str(tree), *quick, "test.latency_batch=2", "test.latency_repeats=1"]) == 0
    printed = capsys.readouterr().out
    search = json.loads((tmp_path / "runs/search/pets/result.json").read_text())
    assert {k: search["net"][k] for k in ("resolution", "in_chans", "num_classes")} == {
        "resolution": 32, "in_chans": 3, "num_classes": 3}
    assert search["config"]["data"]["batch_size"] == 16 and search["config"]["search"]["epochs"] == 6  # 27 images
    retrain = json.loads((tmp_path / "runs/retrain/pets/result.json").read_text())
    assert retrain["arch"] == search["arch"] and retrain["config"]["retrain"]["epochs"] == 3  # 1 step an epoch
    test = json.loads((tmp_path / "runs/retrain/pets/test.json").read_text())
    assert test["data"]["split"] == "test" and test["data"]["images"] == 30
    assert "(plain weights, 30 test images of imagefolder)" in printed and "results in runs/search/pets:" in printed
    # Not a terminal: the logs hold one line per epoch and no progress bar.
    log = (tmp_path / "runs/search/pets/search.log").read_text()
    assert "\r" not in log and [log.count(f"epoch {e}/6 ") for e in range(1, 7)] == [1] * 6
    assert "from the data: space.num_classes=3, space.in_chans=3, space.resolution=32" in log


def test_the_first_word_may_be_an_override_instead_of_a_preset(capsys):
    assert main(["search", "search.epochs=0"]) == 2
    assert "error: search.epochs must be greater than 0" in capsys.readouterr().err

import json
import subprocess
import sys

import pytest

from cream.cli import main


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


@pytest.mark.parametrize("args, message", [
    (["arch", "3-33"], "needs 5 stages"),
    (["arch", "cream_1"], "not valid"),
    (["space", "--flops-max", "0.1", "--resolution", "28"], "impossible"),
    (["space"], "--flops-max"),
    (["nope"], "invalid choice"),
    (["arch", "cream_14", "--width", "wide"], "not a number"),
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

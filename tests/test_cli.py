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


def test_readme_names_work_wherever_a_paper_model_does_and_say_what_they_mean(capsys, monkeypatch):
    assert main(["arch", "470"]) == 0
    note, title = capsys.readouterr().out.splitlines()[:2]
    assert note == "470 is the paper README's name of cream_481 (3431-3230-33311-3333-3333 at 224 px; the code's " \
                   "name is 481)"
    assert title.startswith("cream_481  3431-3230-33311-3333-3333  (224 px")
    seen = {}

    def retrain(cfg, force=False):
        seen["cfg"] = cfg
        return {"arch": "x", "best_top1": 1.0, "best_epoch": 1, "weights": "ema", "elapsed_s": 1.0, "checkpoint": "x"}

    monkeypatch.setattr("cream.train.trainer.run_retrain", retrain)
    assert main(["retrain", "600"]) == 0  # the paper recipe preset of cream_604
    assert seen["cfg"].retrain.arch == "cream_604" and seen["cfg"].run.out_dir == "runs/retrain/cream_604"
    assert capsys.readouterr().out.startswith("600 is the paper README's name of cream_604")
    assert main(["retrain", "fashion_mnist", "retrain.arch=cream_285"]) == 0
    assert capsys.readouterr().out.startswith("cream_285 is the paper README's name of cream_287")

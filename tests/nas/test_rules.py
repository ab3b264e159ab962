"""A training rule in one file: it registers itself by name with a key of its own and reports its own figures;
``cream.search`` and the command line run it (the CLI imports its module through ``search.rule_module``)."""

import csv
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import cream
from cream import config
from cream.assemble import make_config
from cream.config import SearchRun, describe, key
from cream.engine.checkpoint import save_atomic
from cream.errors import CreamError, RunInterrupted
from cream.nas import strategy as strategies
from cream.nas.strategy import SearchStrategy, StepLoss, register_rule
from cream.nas.trainer import run_search
from cream.space.arch import Arch
from tests.nas.test_trainer import comparable, cream_interrupted_at, tiny_config, tiny_overrides

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class ToyKeys:
    toy_op: int = key(0, "the op every block of the toy's one path runs", low=0, high=5)


@register_rule
class Toy(SearchStrategy):
    """Trains one path, every block running op ``search.toy_op``; counts its steps and records its path."""

    name = "toy"
    Keys = ToyKeys
    COUNTERS = ("toy_steps",)

    def __init__(self, search):
        super().__init__(search)
        self.arch = Arch.uniform(search.plan.depths, search.cfg.search.toy_op)
        self.steps_this_epoch = 0

    def loss(self, epoch, x, y):
        logits = self.search.model(x, self.arch)
        ce = F.cross_entropy(logits, y)
        return StepLoss(loss=ce, ce=ce, logits=logits, labels=y, arch=self.arch)

    def after_update(self, epoch, x, out, accuracy):
        self.search.counters["toy_steps"] += 1
        self.steps_this_epoch += 1
        self.records.add_path(self.search.step, epoch + 1, str(self.arch), 1.0, None, accuracy)

    def epoch_figures(self):
        row, self.steps_this_epoch = {"toy_steps": self.steps_this_epoch}, 0
        return row

    def epoch_text(self, row):
        return f"toy {row['toy_steps']} steps"

    def state_dict(self):
        return {"toy_steps_this_epoch": self.steps_this_epoch}

    def load_state_dict(self, state):
        self.steps_this_epoch = state["toy_steps_this_epoch"]


def toy_overrides(root, out, op):
    return tiny_overrides(root, out, "search.epochs=2", "search.warmup_epochs=0", "search.probe_steps=0",
                          "search.algorithm=toy", f"search.toy_op={op}")


def check_toy_run(out: Path, result: dict, op: int) -> None:
    steps = 240 // 32  # per epoch: 80% of 300 images in batches of 32
    arch = str(Arch.uniform((2, 2, 3, 2, 2), op))  # the depths of an 8 M multiply-add budget
    assert result["algorithm"] == "toy" and result["config"]["search"]["toy_op"] == op
    assert result["counters"] == {"skipped_steps": 0, "toy_steps": 2 * steps} and result["board"] == []
    assert [row["toy_steps"] for row in result["history"]] == [steps, steps]
    assert all("distill_fraction" not in row and "board_size" not in row for row in result["history"])
    with open(out / "summary.csv", newline="") as f:
        assert [row["toy_steps"] for row in csv.DictReader(f)] == [str(steps)] * 2
    assert f"toy {steps} steps" in (out / "search.log").read_text()
    with open(out / "paths.csv", newline="") as f:
        paths = list(csv.DictReader(f))
    assert [(int(p["step"]), p["arch"]) for p in paths] == [(s, arch) for s in range(1, 2 * steps + 1)]
    with open(out / "board.csv", newline="") as f:
        assert list(csv.reader(f)) == [["step", "epoch", "event", "arch", "flops", "top1"]]


def test_a_rule_with_its_own_key_runs_through_cream_search(tiny_fashion_mnist, tmp_path):
    out = tmp_path / "toy"
    result = cream.search(overrides=toy_overrides(tiny_fashion_mnist, out, 3))
    check_toy_run(out, result.__dict__ | result.extra, 3)


def test_a_rule_module_named_on_the_command_line_registers_the_rule_and_its_key(tiny_fashion_mnist, tmp_path):
    out = tmp_path / "toy_cli"
    # A fresh process: only search.rule_module brings the toy rule (defined in this file) in.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)]), "OMP_NUM_THREADS": "1"}
    args = ["search", "fashion_mnist", "--quiet", "search.rule_module=tests.nas.test_rules",
            *toy_overrides(tiny_fashion_mnist, out, 2)]
    done = subprocess.run([sys.executable, "-m", "cream.cli", *args], capture_output=True, text=True, env=env,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    check_toy_run(out, json.loads((out / "result.json").read_text()), 2)
    again = subprocess.run([sys.executable, "-m", "cream.cli", *args], capture_output=True, text=True, env=env,
                           cwd=tmp_path)  # resumed (here: reported as finished) with the module imported again
    assert again.returncode == 0 and "search.toy_op" not in again.stderr, again.stderr[-2000:]


def test_the_rules_keys_are_search_keys_listed_with_the_rule_and_checked_like_the_others():
    cfg = make_config(SearchRun, None, ["search.algorithm=toy", "search.toy_op=4", "search.board_size=5"])
    assert (cfg.search.algorithm, cfg.search.toy_op, cfg.search.board_size) == ("toy", 4, 5)
    listed = describe(SearchRun)
    assert "  toy_op: 0             # [toy] the op every block" in listed
    assert "  board_size: 10            # [cream] prioritized paths kept on the board" in listed
    assert "  epochs: 120           # supernet training epochs" in listed  # a shared key: no rule named
    with pytest.raises(CreamError, match="search.toy_op must be at most 5, got 9"):
        make_config(SearchRun, None, ["search.toy_op=9"])


@pytest.mark.parametrize("overrides, message", [
    (["search.algorithm=nope"], r"^search.algorithm must be one of cream, fairnas, sandwich, spos, toy, got 'nope' "
                                r"\(a rule of your own is registered when its module is imported: set "
                                r"search.rule_module=MODULE\)$"),
    (["search.rule_module=no_such_rules"], r"^search.rule_module=no_such_rules cannot be imported \(No module named "
                                           r"'no_such_rules'\); give a module on the Python path"),
    # Found by CI's property test: each of these ended in a traceback from importlib.
    *[([f"search.rule_module={text}"], rf"^search.rule_module must be a module name like my_rules.toy, got {shown}$")
      for text, shown in (("/", "'/'"), (".", "'.'"), ("''", "''"), ("my-rules", "'my-rules'"))],
])
def test_an_unknown_rule_or_rule_module_is_a_one_line_error(overrides, message):
    with pytest.raises(CreamError, match=message):
        make_config(SearchRun, None, overrides)


def test_a_rule_module_that_fails_while_imported_is_a_one_line_error(tmp_path, monkeypatch):
    (tmp_path / "broken_rules.py").write_text("raise RuntimeError('half-written rule')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(CreamError, match=r"^search.rule_module=broken_rules failed while being imported: "
                                         r"RuntimeError: half-written rule$"):
        make_config(SearchRun, None, ["search.rule_module=broken_rules"])


def test_a_rule_may_not_take_a_key_of_the_search_or_another_rules_name(monkeypatch):
    monkeypatch.setattr(config, "RULE_KEYS", dict(config.RULE_KEYS))
    monkeypatch.setattr(strategies, "RULES", dict(strategies.RULES))

    @dataclass
    class Clashing:
        board_size: int = key(3, "a board of another kind")

    class Greedy(SearchStrategy):
        name = "greedy"
        Keys = Clashing

    with pytest.raises(CreamError, match="rule 'greedy' declares the key search.board_size, which the search section "
                                         "already has; give the rule's key another name"):
        register_rule(Greedy)

    class OtherToy(SearchStrategy):
        name = "toy"

    with pytest.raises(CreamError, match=r"two training rules are named 'toy' \(tests.nas.test_rules.Toy and "
                                         r"tests.nas.test_rules.test_a_rule_may_not.*OtherToy\)"):
        register_rule(OtherToy)


def test_a_run_written_before_rules_kept_their_own_keys_and_figures_resumes_and_finishes_alike(tiny_fashion_mnist,
                                                                                               tmp_path):
    unbroken = run_search(tiny_config(tiny_fashion_mnist, tmp_path / "a"))
    out = tmp_path / "b"
    with pytest.raises(RunInterrupted):
        run_search(tiny_config(tiny_fashion_mnist, out), strategy=cream_interrupted_at(11))
    # The checkpoint as the code before this change wrote it: no search.rule_module, Cream's kd, m and distilled
    # steps in the search's meter, its (cost, accuracy) cloud, no records.
    ckpt = torch.load(out / "last.pth", weights_only=False)
    del ckpt["config"]["search"]["rule_module"]
    sums = ckpt.pop("distill_sums")
    ckpt["meter"].update(kd=sums["kd"], m=sums["m"], distill_steps=sums["distill_steps"])
    ckpt["cloud"] = [[flops, top1] for _, _, _, flops, _, top1 in ckpt.pop("records")["paths"]]
    save_atomic(ckpt, out / "last.pth")
    resumed = run_search(tiny_config(tiny_fashion_mnist, out))
    assert comparable(resumed) == comparable(unbroken)
    # A finished run's result.json written before: reported, not refused for the key it lacks.
    result = json.loads((out / "result.json").read_text())
    del result["config"]["search"]["rule_module"]
    (out / "result.json").write_text(json.dumps(result))
    assert run_search(tiny_config(tiny_fashion_mnist, out))["already_finished"]

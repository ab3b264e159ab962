import json

import pytest

from cream.assemble import make_config
from cream.config import SearchRun
from cream.nas.health import ranking_warnings
from cream.nas.trainer import run_search


@pytest.mark.parametrize("best, classes, probe, expected", [
    (12.0, 10, None, "near chance (10.0%)"),  # 10% chance, the near-chance line at 10 + 0.25 * 90 = 32.5%
    (32.4, 10, 90.0, "near chance"),
    (32.6, 10, None, None),
    (32.5, 10, None, None),  # on the line is not below it
    (40.0, 10, 50.0, None),  # exactly 10 points under the probe is not more than 10
    (32.6, 10, 42.7, "far below the 42.7%"),  # more than 10 points under the stand-alone probe
    (32.6, 10, 42.5, None),
    (1.5, 100, None, "near chance (1.0%)"),  # 100 classes: the line at 1 + 0.25 * 99 = 25.75%
    (26.0, 100, 30.0, None),
])
def test_warnings_name_the_problem_and_the_fix(best, classes, probe, expected):
    warnings = ranking_warnings(best, classes, probe, epochs=4)
    if expected is None:
        assert warnings == []
    else:
        assert len(warnings) == 1 and expected in warnings[0] and "search.epochs=8" in warnings[0]


def test_a_search_too_short_to_rank_says_so_in_the_log_and_result(tiny_fashion_mnist, tmp_path):
    out = tmp_path / "short"
    cfg = make_config(SearchRun, None, [
        f"data.root={tiny_fashion_mnist}", f"run.out_dir={out}", "data.batch_size=32", "data.val_fraction=0.2",
        "search.algorithm=spos", "search.epochs=1", "search.warmup_epochs=0", "search.val_images=60",
        "search.bn_batches=1", "search.candidates=2", "search.probe_steps=60", "search.lr=0.5",
        "run.quiet=true", "run.threads=1"])
    result = run_search(cfg)
    health = json.loads((out / "result.json").read_text())["health"]
    assert health["probe_steps"] == 60 and health["probe_val_top1"] > result["val_top1"] + 10
    assert len(health["warnings"]) == 1
    assert f"warning: {health['warnings'][0]}" in (out / "search.log").read_text()

"""The README's "From Python" example, run as written on a small image folder with short schedules."""

import json
import re
from pathlib import Path

import torch
import yaml

from cream import config
from cream.api import RetrainResult, SearchResult
from cream.engine.latency import measure_latency
from cream.train import tester
from tests.conftest import make_image_tree

README = Path(__file__).parents[1] / "README.md"
# The image-folder presets, shortened: the example's code is unchanged, only the schedules it runs are short.
SHORT = {"search": {"run": {"threads": 1}, "search": {"epochs": 2, "min_steps": 0, "probe_steps": 2, "val_images": 8,
                                                      "bn_batches": 1, "meta_update_every": 2, "candidates": 4}},
         "retrain": {"run": {"threads": 1}, "retrain": {"epochs": 1, "min_steps": 0}}}


def python_examples() -> list[str]:
    """The python blocks of the README's "From Python" section: an image folder, then data in memory."""
    section = README.read_text().split("## From Python", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, re.S)


def short_presets(folder: Path) -> Path:
    for command, changes in SHORT.items():
        preset = yaml.safe_load((config.PRESET_DIR / command / "imagefolder.yaml").read_text())
        for section, keys in changes.items():
            preset.setdefault(section, {}).update(keys)
        (folder / command).mkdir(parents=True)
        (folder / command / "imagefolder.yaml").write_text(yaml.safe_dump(preset))
    return folder


def test_the_readme_python_example_searches_retrains_and_builds_the_pick(tmp_path, monkeypatch):
    make_image_tree(tmp_path / "pets", per_class=8, size=32)
    monkeypatch.setattr(config, "PRESET_DIR", short_presets(tmp_path / "presets"))
    monkeypatch.chdir(tmp_path)
    names = {}
    exec(python_examples()[0], names)
    found, trained, net, paper = (names[k] for k in ("found", "trained", "net", "paper"))
    assert isinstance(found, SearchResult) and isinstance(trained, RetrainResult)
    written = json.loads((tmp_path / "runs/search/pets/result.json").read_text())
    assert found.arch == written["arch"] and found.extra == {}  # every key of result.json is a field
    assert trained.arch == found.arch and trained.checkpoint == "runs/retrain/pets/best.pth"
    assert json.loads((tmp_path / "runs/retrain/pets/result.json").read_text())["best_top1"] == trained.best_top1
    assert trained.extra == {}
    for command in ("search", "retrain"):  # each run's log opens with where its config's values came from
        log = (tmp_path / f"runs/{command}/pets/{command}.log").read_text()
        assert " config: preset imagefolder: " in log.splitlines()[0], command
    assert net(torch.zeros(1, 3, 32, 32)).shape == (1, 3) and paper.num_classes == 3


def test_the_readme_python_example_with_data_in_memory_searches_retrains_and_tests(tmp_path, monkeypatch):
    monkeypatch.setattr(config, "PRESET_DIR", short_presets(tmp_path / "presets"))
    monkeypatch.setattr(tester, "measure_latency", quick_latency)
    monkeypatch.chdir(tmp_path)
    names = {}
    exec(python_examples()[1], names)
    found, trained, report = (names[k] for k in ("found", "trained", "report"))
    assert json.loads((tmp_path / "runs/search/shapes/result.json").read_text())["arch"] == found.arch
    assert found.net["num_classes"] == 3 and found.net["in_chans"] == 3 and found.net["resolution"] == 32
    assert trained.arch == found.arch and trained.checkpoint == "runs/retrain/shapes/best.pth"
    assert report.written_to == "runs/retrain/shapes/test.json" and report.data["images"] == 30
    assert report.data["classes"] == ["0", "1", "2"]


def quick_latency(net, shape, batch, ctx, repeats, warmup):
    """cream test's latency measured once at batch 2 at most: a short schedule, as the short presets are."""
    return measure_latency(net, shape, min(batch, 2), ctx, 1, 0)

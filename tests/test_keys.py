"""`cream search --keys` (and retrain) shows the values a run would start from, marked where a preset or the data
sets them: the values are read here from the preset files themselves."""

import re

import yaml

from cream import api, cli, config
from tests.conftest import make_image_tree


def shown(text: str) -> dict[tuple[str, str], tuple[str, str]]:
    """(section, key) -> (value as shown, its mark) of a --keys listing."""
    rows, section = {}, None
    for line in text.splitlines()[1:]:
        if not line.startswith(" "):
            section = line.rstrip(":")
            continue
        key, value, mark = re.match(r"  (\w+): (.*?)\s+# (?:\((.*?)\) )?", line).groups()
        rows[section, key] = (value, mark)
    return rows


def preset(kind: str, name: str) -> dict:
    return yaml.safe_load((config.PRESET_DIR / kind / f"{name}.yaml").read_text())


def test_without_a_preset_the_default_presets_values_are_shown_and_marked():
    rows = shown(api.keys("search"))
    fashion = preset("search", "fashion_mnist")
    assert rows["space", "sharing"] == (repr(fashion["space"]["sharing"]), "preset fashion_mnist")
    assert rows["search", "epochs"] == (repr(fashion["search"]["epochs"]), "preset fashion_mnist")
    assert rows["run", "seed"][1] is None  # a default no preset touches carries no mark


def test_a_named_preset_shows_its_own_values():
    rows = shown(api.keys("search", "paper"))
    assert rows["space", "sharing"][0] == repr(preset("search", "paper").get("space", {}).get("sharing",
                                                                                              "independent"))
    retrain = shown(api.keys("retrain", "287"))
    assert retrain["retrain", "arch"][0] == repr(preset("retrain", "287")["retrain"]["arch"])


def test_with_an_image_folder_the_keys_the_data_decides_are_marked(tmp_path, capsys):
    make_image_tree(tmp_path / "pets", per_class=2, size=8)
    rows = shown(api.keys("search", data=str(tmp_path / "pets")))
    folder = preset("search", "imagefolder")
    assert rows["space", "resolution"] == ("None", "from the data")
    assert rows["space", "sharing"] == (repr(folder["space"]["sharing"]), "preset imagefolder")
    assert cli.main(["search", "--data", str(tmp_path / "pets"), "--keys"]) == 0
    assert "preset imagefolder (the default for an image folder)" in capsys.readouterr().out

"""The configs of the commands: a preset (or YAML file), ``--data``, then ``section.key=value`` overrides.

``cream search`` and ``cream retrain`` start from a preset: the one named, else the default for the data's kind
(``fashion_mnist``, or ``imagefolder`` for an image folder). ``--data`` leaves what the data decides (classes,
channels, resolution, run folder, the search to retrain) to ``cream.settings_from_data``.

``cream test`` and ``cream export`` start from a file: data settings come from the file's own run config (so a
net trained on a class subset is tested on that subset), then ``--data``, then overrides.
"""

from __future__ import annotations

from pathlib import Path

from cream.config import load_config, parse_override, preset_path
from cream.data.fashion_mnist import DEFAULT_ROOT
from cream.data.survey import data_name
from cream.errors import CreamError

DEFAULT_PRESET = {"fashion_mnist": "fashion_mnist", "imagefolder": "imagefolder"}


def data_option(value: str) -> dict:
    """``--data``: ``fashion_mnist``, a directory of Fashion-MNIST IDX files, or an image folder with train/."""
    if value == "fashion_mnist":
        return {"dataset": "fashion_mnist", "root": DEFAULT_ROOT}
    path = Path(value)
    if not path.is_dir():
        raise CreamError(f"--data {value} is not a directory; give fashion_mnist, a directory with the Fashion-MNIST "
                         "IDX files, or an image folder with train/CLASS/ folders")
    if any((path / split).is_dir() for split in ("train", "val", "test")):
        return {"dataset": "imagefolder", "root": str(path)}
    if any(path.glob("*-idx?-ubyte*")) or (path / "raw").is_dir() or (path / "FashionMNIST").is_dir():
        return {"dataset": "fashion_mnist", "root": str(path)}
    raise CreamError(f"--data {value} holds neither train/ nor Fashion-MNIST IDX files; lay images out as "
                     f"{value}/train/CLASS/*.png (val/CLASS/ and test/CLASS/ are optional)")


def run_config(cls, kind: str, preset: str | None, data: str | None, overrides=()):
    """The config of ``cream search`` or ``cream retrain`` (``kind``)."""
    given = {}
    if data is not None:
        given["data"] = data_option(data)
        given["space"] = {"num_classes": None, "in_chans": None, "resolution": None}
        given["run"] = {"out_dir": None}
        if kind == "retrain":
            given["retrain"] = {"arch": None}
    if preset is None:
        dataset = given.get("data", {}).get("dataset", "fashion_mnist")
        for item in overrides:
            section, name, value = parse_override(cls, item)
            if (section, name) == ("data", "dataset") and value in DEFAULT_PRESET:
                dataset = value
        preset = DEFAULT_PRESET[dataset]
    return load_config(cls, preset_path(kind, preset), overrides, then=given)


def default_checkpoint(data: str | None) -> str:
    """``cream test --data DIR`` without --checkpoint: the retrain of that data, runs/retrain/<name>/best.pth."""
    if data is None:
        raise CreamError("cream test needs --checkpoint PATH (our .pth, a released .pth.tar or a .safetensors), or "
                         "--data DIR to test runs/retrain/<DIR's name>/best.pth")
    found = data_option(data)
    path = Path("runs/retrain") / data_name(found["dataset"], found["root"]) / "best.pth"
    if not path.is_file():
        raise CreamError(f"there is no retrained model of {data} at {path}; run `cream retrain --data {data}` first, "
                         "or give --checkpoint")
    return str(path)


def command_config(cls, saved: dict | None, data: str | None, section: str, keys: dict, overrides=()):
    """``cls`` with the data section of ``saved`` (a file's run config), ``--data``, ``keys`` and overrides."""
    values = {"data": dict((saved or {}).get("data", {})), section: dict(keys)}
    if data is not None:
        values["data"].update(data_option(data))
    return load_config(cls, values, overrides)

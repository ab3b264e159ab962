"""Configs of the commands that start from a file (``cream test``, ``cream export``).

Data settings come from the file's own run config (so a net trained on a class subset is tested on that
subset), then ``--data``, then ``section.key=value`` overrides.
"""

from __future__ import annotations

from pathlib import Path

from cream.config import load_config
from cream.data.fashion_mnist import DEFAULT_ROOT
from cream.errors import CreamError


def data_option(value: str) -> dict:
    """``--data``: ``fashion_mnist``, a directory of Fashion-MNIST IDX files, or an image folder with val/."""
    if value == "fashion_mnist":
        return {"dataset": "fashion_mnist", "root": DEFAULT_ROOT}
    path = Path(value)
    if not path.is_dir():
        raise CreamError(f"--data {value} is not a directory; give fashion_mnist, a directory with the Fashion-MNIST "
                         "IDX files, or an image folder with train/ and val/")
    if (path / "val").is_dir() or (path / "train").is_dir():
        return {"dataset": "imagefolder", "root": str(path)}
    return {"dataset": "fashion_mnist", "root": str(path)}


def command_config(cls, saved: dict | None, data: str | None, section: str, keys: dict, overrides=()):
    """``cls`` with the data section of ``saved`` (a file's run config), ``--data``, ``keys`` and overrides."""
    values = {"data": dict((saved or {}).get("data", {})), section: dict(keys)}
    if data is not None:
        values["data"].update(data_option(data))
    return load_config(cls, values, overrides)

"""Checkpoints that are never half-written, and loading that never runs code from a file.

A save writes ``NAME.tmp``, fsyncs it, moves the current ``NAME`` to ``NAME.prev`` and renames the
temporary file into place, so a kill at any moment leaves at least one complete checkpoint.
"""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path

import torch

from cream.errors import CreamError


class UnsafeCheckpoint(CreamError):
    """A pickle that holds Python objects besides tensors and plain data (loading it could run code)."""


def save_atomic(obj, path: str | Path, keep_previous: bool = True) -> None:
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        torch.save(obj, f)
        f.flush()
        os.fsync(f.fileno())
    if keep_previous and path.exists():
        os.replace(path, previous(path))
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def previous(path: Path) -> Path:
    return path.with_name(path.name + ".prev")


def load_checkpoint(path: str | Path) -> dict:
    """Load with ``weights_only=True``; corrupt files and files that would run code are clear errors."""
    path = Path(path)
    if not path.is_file():
        raise CreamError(f"checkpoint {path} does not exist")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        if "Weights only load failed" in str(e) or "Unsupported" in str(e):
            raise UnsafeCheckpoint(f"checkpoint {path} holds Python objects that could run code; refusing to load it "
                             "(only tensors and plain data are accepted)") from None
        raise CreamError(f"checkpoint {path} is truncated or corrupt ({_first_line(e)})") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError) as e:
        raise CreamError(f"checkpoint {path} is truncated or corrupt ({_first_line(e)})") from None
    if not isinstance(obj, dict):
        raise CreamError(f"checkpoint {path} holds a {type(obj).__name__}, not a dict of weights")
    return obj


def read_search_checkpoint(path: str | Path, fix: str = "give the last.pth of a `cream search` run") -> dict:
    """A search run's last.pth, checked to hold a supernet with its layout, depths and config."""
    try:
        ckpt = load_checkpoint(path)
    except UnsafeCheckpoint:  # ours hold plain data only: e.g. a released one, with its training script's objects
        ckpt = {}
    if ckpt.get("kind") != "cream-search" or not {"supernet", "net", "depths", "config"} <= ckpt.keys():
        raise CreamError(f"{path} is not a search checkpoint (the last.pth of `cream search`); {fix}")
    return ckpt


def load_latest(path: str | Path, log=print) -> dict | None:
    """The newest complete checkpoint at ``path`` or, if that one is corrupt or missing, its previous one."""
    path = Path(path)
    errors = []
    for candidate in (path, previous(path)):
        if not candidate.exists():
            continue
        try:
            ckpt = load_checkpoint(candidate)
        except CreamError as e:
            errors.append(str(e))
            log(f"warning: {e}; trying the previous checkpoint")
            continue
        if errors:
            log(f"resuming from the previous good checkpoint {candidate}")
        return ckpt
    if errors:
        raise CreamError(f"no loadable checkpoint in {path.parent}: {errors[-1]}; start afresh with --force")
    return None


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0][:200] if text else type(e).__name__


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

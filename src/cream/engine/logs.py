"""What a run reports: a log file, summary.csv (one row per epoch), TensorBoard events and a progress bar."""

from __future__ import annotations

import csv
import io
import logging
import math
import platform
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import timm
import torch
from tqdm import tqdm


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def json_number(value: float) -> float | None:
    """``value`` as JSON can hold it: null for infinity (no limit) and NaN (an undefined statistic)."""
    value = float(value)
    return value if math.isfinite(value) else None


def versions() -> dict:
    """Versions that decide a run's numbers, stored with its results."""
    try:
        ours = version("cream")
    except PackageNotFoundError:  # a source tree that was never installed
        ours = "0+unknown"
    return {"cream": ours, "torch": torch.__version__, "timm": timm.__version__,
            "python": platform.python_version()}


class RunLog:
    """Logging for one process; only rank 0 writes files and shows progress."""

    def __init__(self, run_dir: Path | None, name: str, quiet: bool = False, purge_step: int | None = None):
        self.run_dir, self.quiet = run_dir, quiet
        self.logger = logging.getLogger(f"cream.{name}.{id(self)}")
        self.logger.setLevel(logging.INFO)
        self.logger.propagate = False
        self.tb = None
        if run_dir is None:
            return
        file_handler = logging.FileHandler(run_dir / f"{name}.log")
        file_handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        self.logger.addHandler(file_handler)
        console = logging.StreamHandler(sys.stdout)
        console.setFormatter(logging.Formatter("%(message)s"))
        self.logger.addHandler(console)
        from torch.utils.tensorboard import SummaryWriter

        self.tb = SummaryWriter(str(run_dir / "tensorboard"), purge_step=purge_step)

    def info(self, message: str) -> None:
        if self.run_dir is not None:
            with tqdm.external_write_mode():  # keeps an open progress bar intact
                self.logger.info(message)

    def scalars(self, values: dict, step: int, prefix: str) -> None:
        if self.tb is not None:
            for k, v in values.items():
                if isinstance(v, (int, float)):
                    self.tb.add_scalar(f"{prefix}/{k}", v, step)

    def write_summary(self, rows: list[dict], name: str = "summary.csv") -> None:
        """Rewrite the whole CSV from the run's history (kept in its checkpoint), so resumes never duplicate rows."""
        if self.run_dir is None or not rows:
            return
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
        write_text_atomic(self.run_dir / name, out.getvalue())

    def progress(self, total: int, initial: int, desc: str):
        """A progress bar on stderr, only when it is a terminal: a file or pipe gets just the per-epoch lines."""
        shown = not self.quiet and self.run_dir is not None and sys.stderr.isatty()
        return tqdm(total=total, initial=initial, desc=desc, disable=not shown, dynamic_ncols=True, leave=False,
                    file=sys.stderr)

    def close(self) -> None:
        if self.tb is not None:
            self.tb.flush()
            self.tb.close()
        for handler in list(self.logger.handlers):
            handler.close()
            self.logger.removeHandler(handler)

"""What a search's rule saw, for the figure files of the run folder: every path it evaluated (``paths.csv``) and
every change of its prioritized board (``board.csv``).

The records live in the search's checkpoint and both files are rewritten whole from them after each epoch, so a
killed and resumed run writes the same files as an unbroken one. A rule that evaluates no paths or keeps no
board leaves its files with the header alone.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from cream.engine.logs import write_text_atomic

PATHS_FILE, BOARD_FILE = "paths.csv", "board.csv"
# step: the optimizer step that trained the path (counted from 1); epoch: counted from 1, as in summary.csv;
# flops: million multiply-adds; latency_ms: predicted by the space's latency table (empty without one); top1: %.
PATHS_COLUMNS = ("step", "epoch", "arch", "flops", "latency_ms", "top1")
BOARD_COLUMNS = ("step", "epoch", "event", "arch", "flops", "top1")  # event: enter or leave


class SearchRecords:
    """Rows of ``paths.csv`` and ``board.csv``, in the order they happened."""

    def __init__(self):
        self.paths: list[tuple] = []
        self.board: list[tuple] = []

    def add_path(self, step: int, epoch: int, arch: str, flops: float, latency_ms: float | None, top1: float) -> None:
        self.paths.append((step, epoch, arch, flops, latency_ms, top1))

    def add_board_event(self, step: int, epoch: int, event: str, arch: str, flops: float, top1: float) -> None:
        self.board.append((step, epoch, event, arch, flops, top1))

    def path_points(self, x: str) -> list[list[float]]:
        """[x, top1] of every path, ``x`` a column of paths.csv (flops or latency_ms): search.png's cloud."""
        i, top1 = PATHS_COLUMNS.index(x), PATHS_COLUMNS.index("top1")
        return [[row[i], row[top1]] for row in self.paths]

    def write(self, folder: Path) -> None:
        """Rewrite both files in ``folder``, each atomically."""
        for name, columns, rows in ((PATHS_FILE, PATHS_COLUMNS, self.paths), (BOARD_FILE, BOARD_COLUMNS, self.board)):
            out = io.StringIO()
            writer = csv.writer(out, lineterminator="\n")
            writer.writerow(columns)
            writer.writerows(rows)  # None (no latency table) is written as an empty field
            write_text_atomic(Path(folder) / name, out.getvalue())

    def state_dict(self) -> dict:
        return {"paths": list(self.paths), "board": list(self.board)}

    def load_state_dict(self, state: dict) -> None:
        self.paths = [tuple(row) for row in state["paths"]]
        self.board = [tuple(row) for row in state["board"]]

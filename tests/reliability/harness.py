"""Start a cream command, SIGKILL it while it runs (every second kill aimed at a checkpoint write), resume it.

A kill counts as landed only when it hit a start of the command that had already recorded progress of its own
on disk (a newer checkpoint, another finished path) and had not finished. Progress is read from the files the
run writes, so a restart that does not resume (its first checkpoint is behind the last one) fails at once.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "cream.cli", *args]


@dataclass
class KillReport:
    asked: int
    landed: int = 0  # killed while running, after it had recorded progress of its own
    during_write: int = 0  # of those, killed before its checkpoint's temporary file was renamed into place
    progress: list = field(default_factory=list)  # progress on disk after each kill

    def __str__(self) -> str:
        return (f"{self.landed} of {self.asked} kills landed mid-run, {self.during_write} of them during a "
                f"checkpoint write; progress on disk at each kill: {self.progress}")


def checkpoint_progress(path: Path) -> Callable[[], tuple[int, int]]:
    """(optimizer steps, epochs evaluated) in the checkpoint a resume would load: ``path``, else ``path.prev``."""
    read = {}  # by file identity: loading a search checkpoint takes a quarter of a second

    def progress() -> tuple[int, int]:
        for candidate in (path, path.with_name(path.name + ".prev")):
            try:
                stat = candidate.stat()
                key = stat.st_ino, stat.st_mtime_ns, stat.st_size
                if key not in read:
                    ckpt = torch.load(candidate, map_location="cpu", weights_only=True, mmap=True)
                    read[key] = ckpt["step"], len(ckpt["history"])
                return read[key]
            except FileNotFoundError:  # between the two renames of a save
                continue
        return 0, 0

    return progress


def finished_paths(results: Path) -> Callable[[], int]:
    """How many different paths have a complete line in a rank-correlation study's results file."""

    def progress() -> int:
        try:
            lines = results.read_text().splitlines(keepends=True)
        except FileNotFoundError:
            return 0
        return len({json.loads(line)["arch"] for line in lines if line.endswith("\n")})

    return progress


def kill_and_resume(command: list[str], progress: Callable, kills: int, seed: int, write: Path | None = None,
                    delay: tuple[float, float] = (0.0, 3.0), patience: float = 120.0) -> KillReport:
    """Run ``command`` to completion, killing it up to ``kills`` times.

    Each start of the command is killed a random ``delay`` (seconds) after ``progress()`` has grown past its
    value at the start; with a ``write`` file (a checkpoint's temporary file), odd-numbered kills then also wait
    for that file to appear. Fails when a start makes no progress within ``patience`` seconds.
    """
    rng = random.Random(seed)
    report = KillReport(asked=kills)
    for i in range(kills):
        aim_at_write = write is not None and i % 2 == 1
        if aim_at_write:
            write.unlink(missing_ok=True)  # a leftover of an earlier kill is no sign of a new write
        before = progress()
        with tempfile.TemporaryFile() as stderr:
            proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr, env=ENV)
            try:
                if await_progress(proc, progress, before, patience):
                    wait_until(proc, lambda: False, rng.uniform(*delay), poll=0.02)
                    if aim_at_write:
                        wait_until(proc, write.exists, patience, poll=0.0005)
            finally:
                proc.kill()
                proc.wait()
            if proc.returncode != -signal.SIGKILL:  # it finished before the kill
                stderr.seek(0)
                assert proc.returncode == 0, stderr.read().decode()[-2000:]
                return report
        after = progress()  # read again from disk: the kill landed mid-run only if this start got further
        report.progress.append(after)
        if after > before:
            report.landed += 1
            if aim_at_write and write.exists():
                report.during_write += 1
    final = subprocess.run(command, capture_output=True, text=True, env=ENV)
    assert final.returncode == 0, final.stderr[-2000:]
    return report


def await_progress(proc: subprocess.Popen, progress: Callable, before, patience: float) -> bool:
    """Wait until the run has recorded more progress than ``before``; False if it exits first."""
    deadline = time.monotonic() + patience
    while proc.poll() is None:
        now = progress()
        assert now >= before, f"progress went back from {before} to {now}: the restart did not resume"
        if now > before:
            return True
        assert time.monotonic() < deadline, f"no progress past {before} within {patience:.0f} s of a restart"
        time.sleep(0.02)
    return False


def wait_until(proc: subprocess.Popen, condition: Callable[[], bool], seconds: float, poll: float) -> None:
    deadline = time.monotonic() + seconds
    while proc.poll() is None and not condition() and time.monotonic() < deadline:
        time.sleep(poll)

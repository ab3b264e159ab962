"""Start a cream command, SIGKILL it at random moments (some during a checkpoint write), resume until done."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "cream.cli", *args]


def kill_and_resume(command: list[str], watch: Path | None, kills: int, seed: int, max_seconds: float,
                    delay: tuple[float, float] = (3.0, 12.0)) -> dict:
    """Run ``command`` to completion while killing it ``kills`` times.

    With a ``watch`` file (a checkpoint's temporary file), odd-numbered kills wait for it to appear and kill
    during the write; the other kills come after a random ``delay`` (seconds). Returns counts of kills by kind.
    """
    rng = random.Random(seed)
    done = {"random": 0, "during_write": 0}
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    deadline = time.monotonic() + max_seconds
    for i in range(kills):
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
        kind = "during_write" if i % 2 and watch is not None else "random"
        until = time.monotonic() + (rng.uniform(*delay) if kind == "random" else 60.0)
        while proc.poll() is None and time.monotonic() < until:
            if kind == "during_write" and watch.exists():
                break
            time.sleep(0.0005 if kind == "during_write" else 0.05)
        if proc.poll() is not None:  # finished (or failed) before the kill
            assert proc.returncode == 0, proc.stderr.read().decode()[-2000:]
            return done
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        done[kind] += 1
        assert time.monotonic() < deadline, "the killed command made no progress"
    final = subprocess.run(command, capture_output=True, text=True, env=env)
    assert final.returncode == 0, final.stderr[-2000:]
    return done

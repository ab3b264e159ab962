"""A run directory: one process at a time (a lock), resumes only with the same config, no silent overwrite."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
from pathlib import Path

from cream.engine.context import setup_context, teardown_context
from cream.errors import CreamError

# Keys that may change between a run and its resumption without changing its results.
RESUMABLE_CHANGES = {"run.resume", "run.quiet", "run.device", "run.threads", "run.ckpt_every_steps",
                     "run.nonfinite", "data.workers", "data.root"}


class RunDir:
    """Owns ``out_dir`` for the duration of a run (rank 0 only writes)."""

    def __init__(self, path: str | Path, outputs: tuple[str, ...]):
        self.path = Path(path)
        self.outputs = outputs  # names this command writes; --force removes only these
        self._lock = None

    def acquire(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        lock = open(self.path / "run.lock", "a+")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            owner = lock.read().strip() or "another process"
            lock.close()
            raise CreamError(f"run dir {self.path} is in use by {owner}; wait for it to finish or choose another "
                             "run.out_dir") from None
        lock.seek(0)
        lock.truncate()
        lock.write(f"pid {os.getpid()}")
        lock.flush()
        self._lock = lock

    def release(self) -> None:
        if self._lock is not None:
            fcntl.flock(self._lock, fcntl.LOCK_UN)
            self._lock.close()
            self._lock = None

    def clear(self) -> None:
        """Remove this command's outputs (for --force); other files in the directory are left alone."""
        for name in self.outputs:
            for target in self.path.glob(name):
                if target.is_dir() and not target.is_symlink():
                    shutil.rmtree(target)
                else:
                    target.unlink(missing_ok=True)

    def file(self, name: str) -> Path:
        return self.path / name


def check_same_config(saved: dict, current: dict, run_dir: Path) -> None:
    """Refuse to resume a run under a different config (it would mix two experiments)."""
    for section, keys in current.items():
        for name, value in keys.items():
            dotted = f"{section}.{name}"
            old = saved.get(section, {}).get(name, value)
            if dotted not in RESUMABLE_CHANGES and old != value:
                raise CreamError(f"{run_dir} holds a run with {dotted}={old!r}, not {value!r}; resume it unchanged, "
                                 "pick another run.out_dir, or start afresh with --force")


def finished_result(run_dir: RunDir, config: dict, resume: str, what: str) -> dict | None:
    """A finished run's result.json (marked ``already_finished``), or None when the run has not finished."""
    path = run_dir.file("result.json")
    if not path.exists():
        return None
    if resume == "never":
        raise CreamError(f"{run_dir.path} holds a finished {what}; use --force to replace it or another run.out_dir")
    result = json.loads(path.read_text())
    check_same_config(result["config"], config, run_dir.path)
    result["already_finished"] = True
    return result


@contextlib.contextmanager
def claimed_run(run, outputs: tuple[str, ...], force: bool):
    """Set up the processes of ``run`` (a RunConfig) and lock its out_dir (cleared first with ``force``).

    Yields ``(ctx, run_dir)``; the lock is released and the processes torn down on exit, however it happens.
    """
    ctx = setup_context(run)
    run_dir = RunDir(run.out_dir, outputs)
    try:
        if ctx.is_main:
            run_dir.acquire()
            if force:
                run_dir.clear()
        ctx.barrier()
        yield ctx, run_dir
    finally:
        if ctx.is_main:
            run_dir.release()
        teardown_context(ctx)

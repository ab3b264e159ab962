"""The lifecycle every long run shares, written once: claim the run folder, resume or start fresh, train epoch by
epoch (stop requests, progress, periodic atomic checkpoints), check its health after each epoch, write result.json.

A run kind (the search, the retraining) subclasses ``EpochRun`` and supplies only what differs: what one epoch's
steps do (``train_steps``), what its checkpoint holds (``state_dict``), what an epoch's row and log line say, and
what its result says (``result``). ``Kind.execute(cfg)`` runs one from start to finish.

``after_epoch(run_dir)``, when given, is called by rank 0 after each epoch's files are written and once after
result.json (the API passes the report page's writer; this layer knows nothing of it). A line it returns from its
last call closes the log.
"""

from __future__ import annotations

import json
import time

import yaml

from cream.config import to_dict
from cream.engine.checkpoint import load_latest, save_atomic
from cream.engine.context import RunContext
from cream.engine.health import new_warnings
from cream.engine.logs import RunLog, versions, write_text_atomic
from cream.engine.rundir import RunDir, check_same_config, claimed_run, finished_result
from cream.engine.signals import StopRequest
from cream.errors import CreamError, RunInterrupted

CHECKPOINT = "last.pth"
_NOT_LOADED = object()


class EpochRun:
    """One run in a run folder. Subclasses set the class attributes and implement the methods marked 'a run kind'."""

    kind = ""               # "search" or "retrain": the log's name and the word in messages
    checkpoint_kind = ""    # the "kind" field of its checkpoints
    what = ""               # what a finished run is called in messages ("search", "retraining")
    OUTPUTS: tuple[str, ...] = ()  # the files it writes (--force removes only these)

    def __init__(self, cfg, ctx: RunContext, run_dir: RunDir, notes=(), after_epoch=None):
        self.cfg, self.ctx, self.dir = cfg, ctx, run_dir
        self.after_epoch = after_epoch
        self.log = RunLog(run_dir.path if ctx.is_main else None, self.kind, cfg.run.quiet)
        for note in notes:
            self.log.info(note)
        self.history: list[dict] = []
        self.elapsed = 0.0
        self._clock = time.perf_counter()
        self._checkpoint = _NOT_LOADED

    @classmethod
    def execute(cls, cfg, force: bool = False, **parts) -> dict:
        """Run (or resume, or just report) the run ``cfg`` describes; returns result.json's content.

        ``parts`` go to the run kind's constructor.
        """
        with claimed_run(cfg.run, cls.OUTPUTS, force) as (ctx, run_dir):
            finished = finished_result(run_dir, to_dict(cfg), cfg.run.resume, cls.what)
            if finished is not None:
                return finished
            run = cls(cfg, ctx, run_dir, **parts)
            try:
                run.restore()
                run.train()
                return run.finish()
            finally:
                run.log.close()

    # ------------------------------------------------------------------ what a run kind supplies

    @property
    def epochs(self) -> int:
        raise NotImplementedError

    @property
    def steps_per_epoch(self) -> int:
        raise NotImplementedError

    @property
    def step(self) -> int:
        """Optimizer steps taken so far (skipped ones included)."""
        raise NotImplementedError

    def describe(self) -> list[str]:
        """The log lines that open a fresh run: what it trains, how, where."""
        raise NotImplementedError

    def train_steps(self, epoch: int, start: int):
        """Train ``epoch`` from its batch ``start``, yielding after each step."""
        raise NotImplementedError

    def progress_figures(self) -> dict:
        """Figures for the progress bar, refreshed every 10 steps."""
        return {}

    def state_dict(self) -> dict:
        """Everything of this run kind its checkpoint must hold to resume (the engine adds config, history, time)."""
        raise NotImplementedError

    def load_state_dict(self, state: dict) -> None:
        raise NotImplementedError

    def epoch_figures(self, epoch: int) -> dict:
        """The row of ``epoch`` after its steps (evaluation included); resets the per-epoch sums."""
        raise NotImplementedError

    def epoch_line(self, row: dict) -> str:
        raise NotImplementedError

    def training_health(self, history: list[dict]) -> dict:
        """Divergence and accuracy-at-chance checks over ``history`` (``engine.health.training_health``)."""
        raise NotImplementedError

    def on_epoch_row(self, row: dict) -> None:
        """Called with each new row before last.pth is written (e.g. to keep the best weights)."""

    def result(self) -> dict:
        """result.json's fields (the engine adds elapsed_s, config and versions)."""
        raise NotImplementedError

    def on_result(self, result: dict) -> None:
        """Called after result.json is written (plots, the closing log line)."""

    # ------------------------------------------------------------------ resume or start

    def checkpoint_to_resume(self) -> dict | None:
        """The checkpoint this run resumes from (loaded once), or None for a fresh start."""
        if self._checkpoint is _NOT_LOADED:
            path = self.dir.file(CHECKPOINT)
            if self.cfg.run.resume == "never":
                if path.exists():
                    raise CreamError(f"{self.dir.path} holds a {self.kind} checkpoint; resume it (run.resume=auto), "
                                     "use --force to start afresh, or pick another run.out_dir")
                self._checkpoint = None
            else:
                self._checkpoint = load_latest(path, log=self.log.info)
                if self._checkpoint is not None:
                    check_same_config(self._checkpoint["config"], to_dict(self.cfg), self.dir.path)
        return self._checkpoint

    def restore(self) -> None:
        ckpt = self.checkpoint_to_resume()
        if ckpt is None:
            if self.ctx.is_main:
                self.dir.file("config.yaml").write_text(yaml.safe_dump(to_dict(self.cfg), sort_keys=False))
            for line in self.describe():
                self.log.info(line)
            return
        self.load_state_dict(ckpt)
        self.history, self.elapsed = ckpt["history"], ckpt["elapsed"]
        self.log.info(f"resumed {self.dir.path} at step {self.step} (epoch {len(self.history) + 1})")

    def save(self, name: str = CHECKPOINT) -> None:
        """Write a checkpoint atomically (rank 0 only); every process keeps its clock."""
        self.elapsed += time.perf_counter() - self._clock
        self._clock = time.perf_counter()
        if not self.ctx.is_main:
            return
        save_atomic({"kind": self.checkpoint_kind, "config": to_dict(self.cfg), **self.state_dict(),
                     "history": self.history, "elapsed": self.elapsed}, self.dir.file(name))

    # ------------------------------------------------------------------ epochs

    def train(self) -> None:
        every = self.cfg.run.ckpt_every_steps
        with StopRequest() as stop:
            # From the first epoch without a history row: a checkpoint written at an epoch's last step (a stop
            # or ckpt_every_steps) comes before that epoch's evaluation, which must still run after a resume.
            for epoch in range(len(self.history), self.epochs):
                start = self.step - epoch * self.steps_per_epoch
                bar = self.log.progress(self.steps_per_epoch, start, f"epoch {epoch + 1}/{self.epochs}")
                for _ in self.train_steps(epoch, start):
                    bar.update(1)
                    if self.step % 10 == 0:
                        bar.set_postfix(**self.progress_figures())
                    if stop.requested:
                        self.save()
                        bar.close()
                        raise RunInterrupted(
                            f"stopped by {stop.requested} at step {self.step}; checkpoint saved in {self.dir.path}; "
                            "resume by running the same command again")
                    if every and self.step % every == 0:
                        self.save()
                bar.close()
                self.end_epoch(epoch)

    def end_epoch(self, epoch: int) -> None:
        row = {"epoch": epoch + 1, **self.epoch_figures(epoch),
               "elapsed_s": self.elapsed + time.perf_counter() - self._clock}
        self.history.append(row)
        self.on_epoch_row(row)
        self.save()
        self.log.write_summary(self.history)
        self.log.scalars(row, epoch + 1, self.kind)
        self.log.info(self.epoch_line(row))
        for warning in new_warnings(self.training_health(self.history[:-1]), self.training_health(self.history)):
            self.log.info(f"warning: {warning}")
        self.call_after_epoch()

    def call_after_epoch(self):
        """``after_epoch(run_dir)`` on rank 0; returns what it returns."""
        if self.after_epoch is not None and self.ctx.is_main:
            return self.after_epoch(self.dir.path)
        return None

    # ------------------------------------------------------------------ result

    def finish(self) -> dict:
        result = self.result()
        self.elapsed += time.perf_counter() - self._clock
        self._clock = time.perf_counter()
        result = {**result, "elapsed_s": self.elapsed, "config": to_dict(self.cfg), "versions": versions()}
        if self.ctx.is_main:
            write_text_atomic(self.dir.file("result.json"), json.dumps(result, indent=2))
        self.on_result(result)
        line = self.call_after_epoch()
        if line:
            self.log.info(line)
        return result

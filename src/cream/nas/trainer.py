"""``cream search``: train the supernet with a search strategy, one step at a time, then pick the best path.

Reading order: ``run_search`` -> ``SupernetSearch`` (set-up; ``train_step``: the strategy's loss, the update)
-> ``result`` (final selection, health, result.json; ``cream.search`` then draws search.png from it). The
lifecycle (resume, epochs, checkpoints) is ``engine.run``'s; the training rules (``strategy.py``:
``search.algorithm`` names one) report their own figures; the built-in ones are ``spos.py``, ``prioritized.py``
(Cream), ``fairnas.py`` and ``sandwich.py``.
"""

from __future__ import annotations

import math
import shutil
import time
from pathlib import Path

import torch
from timm.optim import create_optimizer_v2
from timm.scheduler import create_scheduler_v2
from timm.utils import ModelEmaV3
from torch.nn.parallel import DistributedDataParallel

from cream.config import SearchRun
from cream.data import build_data
from cream.engine.context import RunContext
from cream.engine.health import training_health
from cream.engine.logs import json_number
from cream.engine.meter import EpochSums
from cream.engine.run import EpochRun
from cream.engine.rundir import RunDir
from cream.errors import CreamError
from cream.nas.health import ranking_warnings, standalone_probe
from cream.nas.records import BOARD_FILE, PATHS_FILE
from cream.nas.sampler import PathSampler
from cream.nas.select import evolution_final
from cream.nas.selection import evaluate_path, select_final
from cream.nas.strategy import RULES, SearchStrategy, clear_grads
from cream.settings_from_data import settings_from_data
from cream.space.arch import Arch
from cream.space.budget import plan_from_config
from cream.space.supernet import Supernet

LATENCY_TABLE = "latency_table.json"  # the run's copy of space.latency_table
OUTPUTS = ("last.pth", "last.pth.prev", "last.pth.tmp", "result.json", "summary.csv", "search.log", "search.png",
           "tensorboard", "config.yaml", LATENCY_TABLE, PATHS_FILE, BOARD_FILE, "report.html")


def run_search(cfg: SearchRun, force: bool = False, strategy: type[SearchStrategy] | None = None,
               notes: list[str] = (), after_epoch=None) -> dict:
    """Run (or resume, or just report) the search described by ``cfg``; returns result.json's content.

    Keys left null are first taken from the data (``settings_from_data``), and the log says what they became,
    after ``notes`` (e.g. where the config's values came from). ``strategy``: a training rule to use instead of
    the one ``search.algorithm`` names; ``after_epoch(run_dir)``: called after each epoch and at the end
    (``engine.run``).
    """
    cfg, data_notes = settings_from_data(cfg, "search")
    return SupernetSearch.execute(cfg, force, notes=[*notes, *data_notes], strategy=strategy, after_epoch=after_epoch)


class EpochMeter(EpochSums):
    """The search figures of one epoch."""

    FIELDS = ("loss", "ce", "correct", "images", "steps", "seconds", "skipped")

    def row(self) -> dict:
        s, steps = self.sums, max(self.sums["steps"], 1)
        return {"loss": s["loss"] / steps, "ce_loss": s["ce"] / steps,
                "train_acc": 100 * s["correct"] / max(s["images"], 1),
                "images_per_s": s["images"] / max(s["seconds"], 1e-9), "skipped_steps": int(s["skipped"])}


class SupernetSearch(EpochRun):
    kind, checkpoint_kind, what = "search", "cream-search", "search"
    OUTPUTS = OUTPUTS

    def __init__(self, cfg: SearchRun, ctx: RunContext, run_dir: RunDir, notes: list[str] = (),
                 strategy: type[SearchStrategy] | None = None, after_epoch=None):
        super().__init__(cfg, ctx, run_dir, notes, after_epoch)
        s, run = cfg.search, cfg.run
        self.plan = plan_from_config(cfg.space, ctx.device, run.channels_last, ctx.uses_bf16)
        if self.plan.latency is not None and ctx.is_main:
            self.keep_latency_table()
        self.data = build_data(cfg.data, self.plan.spec.resolution, cfg.space.in_chans, "search", seed=run.seed,
                               rank=ctx.rank, world=ctx.world)
        if self.data.num_classes != cfg.space.num_classes:
            raise CreamError(f"space.num_classes={cfg.space.num_classes} but the data has {self.data.num_classes} "
                             f"classes; set space.num_classes={self.data.num_classes}")
        if len(self.data.train) == 0:
            raise CreamError(f"search-train holds fewer images than one batch ({cfg.data.batch_size} per process); "
                             "lower data.batch_size or use more data")

        torch.manual_seed(run.seed)
        supernet = Supernet(self.plan.spec, self.plan.depths, cfg.space.sharing, cfg.space.kernel_transform)
        self.supernet = ctx.prepare_model(supernet)
        self.model = (DistributedDataParallel(self.supernet, find_unused_parameters=True)
                      if ctx.distributed else self.supernet)
        self.base_lr = s.lr * cfg.data.batch_size * ctx.world / s.lr_batch
        self.optimizer = create_optimizer_v2(self.supernet, "sgd", lr=self.base_lr, weight_decay=s.weight_decay,
                                             momentum=s.momentum)  # timm: Nesterov, no decay on BN and biases
        self.scheduler, _ = create_scheduler_v2(self.optimizer, "poly", num_epochs=s.epochs, decay_rate=1.0,
                                                min_lr=0.0, step_on_epochs=False,
                                                updates_per_epoch=self.steps_per_epoch)  # linear decay to zero
        self.ema = ModelEmaV3(self.supernet, decay=s.ema_decay) if s.ema_decay > 0 else None
        self._step = 0
        rule = strategy or RULES[s.algorithm]
        self.counters = {"skipped_steps": 0, **dict.fromkeys(rule.COUNTERS, 0)}
        self.strategy = rule(self)
        if s.final == "board" and getattr(self.strategy, "board", None) is None:
            raise CreamError(f"search.final=board ranks the prioritized board, which search.algorithm={s.algorithm} "
                             "does not keep; use search.final=evolution or random, or search.algorithm=cream")
        self.reference = PathSampler(self.plan, max_redraws=s.max_redraws, seed=run.seed).distinct(1, seed=1)[0]
        self.meter = EpochMeter()

    def keep_latency_table(self) -> None:
        """Copy space.latency_table into the run folder; a resumed run refuses a table changed since."""
        source, copy = self.cfg.space.latency_table, self.dir.file(LATENCY_TABLE)
        if not copy.exists():
            shutil.copyfile(source, copy)
        elif copy.read_bytes() != Path(source).read_bytes():
            raise CreamError(f"latency table {source} changed since this run began (its copy is {copy}); put the "
                             "copy back, or start afresh with --force")

    # ------------------------------------------------------------------ the parts the engine asks for

    @property
    def epochs(self) -> int:
        return self.cfg.search.epochs

    @property
    def steps_per_epoch(self) -> int:
        return len(self.data.train)

    @property
    def step(self) -> int:
        return self._step

    @property
    def _elastic(self) -> str:
        return " (elastic depth)" if self.plan.elastic_depth else ""

    @property
    def _weights(self) -> str:
        transforms = " with kernel transforms" if self.supernet.kernel_transform else ""
        return f"{self.supernet.sharing} weights{transforms}"

    def describe(self) -> list[str]:
        s = self.cfg.search
        lines = [f"search: {self.strategy.name}, {s.epochs} epochs ({s.warmup_epochs} warm-up), {self.steps_per_epoch} "
                 f"steps per epoch, batch {self.cfg.data.batch_size}x{self.ctx.world}, lr {self.base_lr:g}, device "
                 f"{self.ctx.device}; space {list(self.plan.depths)}{self._elastic} at {self.plan.spec.resolution} px, "
                 f"{self._weights}, {self.plan.budget_text()}; out {self.dir.path}"]
        if self.plan.latency is not None:
            lines.append(f"latency predicted by {self.cfg.space.latency_table} ({self.plan.latency.describe()}, "
                         f"torch {self.plan.latency.torch}), copied to {LATENCY_TABLE}")
        return lines

    def state_dict(self) -> dict:
        return {"step": self.step, "supernet": self.supernet.state_dict(), "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(), "ema": self.ema.module.state_dict() if self.ema else None,
                **self.strategy.state_dict(), "records": self.strategy.records.state_dict(), "meter": self.meter.sums,
                "counters": self.counters,
                "torch_rng": torch.get_rng_state(), "net": self.plan.spec.to_json(), "depths": list(self.plan.depths),
                "sharing": self.supernet.sharing, "kernel_transform": self.supernet.kernel_transform}

    def load_state_dict(self, state: dict) -> None:
        self.supernet.load_state_dict(state["supernet"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if self.ema is not None:
            self.ema.module.load_state_dict(state["ema"])
        self.strategy.load_state_dict(state)
        if "records" in state:  # checkpoints before paths.csv and board.csv: the files start from this resume
            self.strategy.records.load_state_dict(state["records"])
        self._step, self.meter, self.counters = state["step"], EpochMeter(state["meter"]), state["counters"]
        torch.set_rng_state(state["torch_rng"])
        self.scheduler.step_update(self.step)

    def progress_figures(self) -> dict:
        row = self.meter.row()
        return {"loss": f"{row['loss']:.3f}", "acc": f"{row['train_acc']:.1f}", **self.strategy.progress_figures(),
                "img_s": f"{row['images_per_s']:.0f}"}

    # ------------------------------------------------------------------ training

    def train_steps(self, epoch: int, start: int):
        tick = time.perf_counter()
        for x, y in self.data.train.batches(epoch, start):
            self.train_step(epoch, x, y)
            now = time.perf_counter()
            self.meter.add(seconds=now - tick)
            tick = now
            yield

    def train_step(self, epoch: int, x: torch.Tensor, y: torch.Tensor) -> None:
        """One step: the strategy's paths and loss, one update of the supernet (and its EMA)."""
        s, ctx = self.cfg.search, self.ctx
        x, y = ctx.to_device(x), y.to(ctx.device)
        out = self.strategy.loss(epoch, x, y)
        # One host-device sync per step: loss, CE, correct count and the rule's figures, summed over processes.
        totals = ctx.all_reduce(torch.stack([out.loss.detach(), out.ce.detach(),
                                             (out.logits.argmax(1) == out.labels).sum().float(),
                                             torch.tensor(float(len(out.labels)), device=ctx.device),
                                             *(f.detach().float() for f in out.figures.values())]))
        loss_sum, ce_sum, correct, images, *figures = totals.tolist()
        out.figure_values = {name: value / ctx.world for name, value in zip(out.figures, figures)}
        if not math.isfinite(loss_sum):
            self.on_nonfinite(out.arch)
            return
        clear_grads(self.optimizer, dense=s.off_path_updates == "dense")
        out.loss.backward()
        if s.clip_grad > 0:
            torch.nn.utils.clip_grad_norm_(self.supernet.parameters(), s.clip_grad)
        self.optimizer.step()
        self._step += 1
        self.scheduler.step_update(self.step)
        if self.ema is not None:
            self.ema.update(self.supernet, step=self.step)
        self.strategy.after_update(epoch, x, out, 100 * correct / images)
        self.meter.add(loss=loss_sum / ctx.world, ce=ce_sum / ctx.world, correct=correct, images=images, steps=1)

    def on_nonfinite(self, arch: Arch) -> None:
        if self.cfg.run.nonfinite == "skip":
            self.counters["skipped_steps"] += 1
            self.meter.add(skipped=1)
            clear_grads(self.optimizer, dense=self.cfg.search.off_path_updates == "dense")
            self._step += 1
            self.scheduler.step_update(self.step)
            return
        raise CreamError(f"non-finite loss at step {self.step} on path {arch}; the last good checkpoint is kept in "
                         f"{self.dir.path} (lower search.lr, or set run.nonfinite=skip to skip such steps)")

    def epoch_figures(self, epoch: int) -> dict:
        s = self.cfg.search
        ref = evaluate_path(self.supernet, self.reference, self.data, self.ctx, s.bn_batches, s.val_images)
        row = {**self.meter.row(), "ref_val_acc": ref["top1"], **self.strategy.epoch_figures(),
               "lr": self.optimizer.param_groups[0]["lr"]}
        self.meter = EpochMeter()
        return row

    def on_epoch_row(self, row: dict) -> None:
        if self.ctx.is_main:
            self.strategy.records.write(self.dir.path)

    def epoch_line(self, row: dict) -> str:
        parts = [f"epoch {row['epoch']}/{self.cfg.search.epochs}", f"loss {row['loss']:.3f}",
                 f"train {row['train_acc']:.1f}%", f"ref val {row['ref_val_acc']:.1f}%", self.strategy.epoch_text(row),
                 f"{row['images_per_s']:.0f} img/s"]
        return "  ".join(part for part in parts if part)

    def training_health(self, history: list[dict]) -> dict:
        """Divergence of the supernet's cross-entropy and its training accuracy at chance after the warm-up."""
        s = self.cfg.search
        return training_health(history, loss="ce_loss", accuracy="train_acc", what="the supernet's training accuracy",
                               num_classes=self.data.num_classes, warmup_epochs=s.warmup_epochs, lr_key="search.lr",
                               lr=s.lr)

    # ------------------------------------------------------------------ result

    def result(self) -> dict:
        net = self.ema.module if self.ema is not None else self.supernet
        ranked = self.final_ranking(net)
        rule_figures = self.strategy.result_figures(ranked)
        training = self.training_health(self.history)
        ranking = self.check_ranking(ranked[0])
        health = {**ranking, "diverged": training["diverged"], "at_chance": training["at_chance"],
                  "warnings": training["warnings"] + ranking["warnings"]}
        plan, best = self.plan, ranked[0]
        return {
            "arch": best["arch"], "flops": best["flops"], "params": best["params"],
            "latency_ms": best.get("latency_ms"), "val_top1": best["val_top1"], "algorithm": self.strategy.name,
            "net": plan.spec.to_json(), "depths": list(plan.depths),
            "flops_range": [plan.flops_min, json_number(plan.flops_max)],
            "latency_range": [plan.latency_min, json_number(plan.latency_max)] if plan.latency else None,
            "latency_table": _table_summary(plan.latency), "candidates": ranked, **rule_figures,
            "counters": self.counters, "history": self.history, "health": health,
        }

    def final_ranking(self, net: Supernet) -> list[dict]:
        """The paths search.final judges, best first: the rule's own candidates (null; board: Cream's board),
        search.candidates random in-budget paths (random), or those SPOS's evolution scores (evolution)."""
        s, run = self.cfg.search, self.cfg.run
        if s.final == "evolution":
            return evolution_final(net, self.plan, self.data, self.ctx, s.bn_batches, s.val_images,
                                   self.cfg.evolution, run.seed, log=self.log.info)
        if s.final == "random":
            candidates = self.strategy.sampler.distinct(s.candidates, seed=2)
            self.log.info(f"final selection over {len(candidates)} random in-budget paths (search.final=random)")
        else:
            candidates = self.strategy.candidates()
        return select_final(net, candidates, self.plan, self.data, self.ctx, s.bn_batches, s.val_images,
                            log=self.log.info)

    def check_ranking(self, best: dict) -> dict:
        """Warnings (logged, and kept in result.json) when the supernet is too little trained to rank paths."""
        s = self.cfg.search
        probe = None
        if s.probe_steps > 0:
            probe = standalone_probe(Arch.parse(best["arch"]), self.plan.spec, self.data, self.ctx, s.probe_steps,
                                     self.base_lr, s)
            self.log.info(f"stand-alone probe: {best['arch']} trained alone for {s.probe_steps} steps reaches "
                          f"{probe:.1f}% search-val (the supernet gives it {best['val_top1']:.1f}%)")
        warnings = ranking_warnings(best["val_top1"], self.data.num_classes, probe, s.epochs)
        for warning in warnings:
            self.log.info(f"warning: {warning}")
        return {"probe_steps": s.probe_steps, "probe_val_top1": probe, "warnings": warnings}


def _table_summary(table) -> dict | None:
    if table is None:
        return None
    return {"file": LATENCY_TABLE, "device": table.device, "device_name": table.device_name, "batch": table.batch,
            "threads": table.threads, "channels_last": table.channels_last, "bf16": table.bf16, "torch": table.torch}

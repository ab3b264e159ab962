"""``cream retrain``: train one architecture from scratch with a timm recipe.

Reading order: ``ChildTraining`` (the net, optimizer, schedule, EMA and loss; ``train_step``, ``train_epoch``,
``evaluate``) -> ``train_from_scratch`` (that in memory, for studies that retrain many nets) -> ``run_retrain``
and ``Retrain`` (the same training as a run of ``engine.run``: resume, checkpoints, summary, progress, signals).
"""

from __future__ import annotations

import math
import random
import time

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel

from cream.config import RetrainConfig, RetrainRun
from cream.data import DataBundle, build_data
from cream.engine.context import RunContext
from cream.engine.evaluate import evaluate
from cream.engine.health import training_health
from cream.engine.meter import EpochSums
from cream.engine.run import EpochRun
from cream.engine.rundir import RunDir
from cream.errors import CreamError
from cream.settings_from_data import settings_from_data
from cream.space.arch import Arch
from cream.space.flops import count_macs, count_params
from cream.space.net import NetSpec, build_child
from cream.train.recipe import create_ema, create_mixup, create_optimizer, create_scheduler, scaled_lr, training_loss
from cream.train.target import retrain_target
from cream.train.weights import init_from

BEST = "best.pth"


class EpochMeter(EpochSums):
    """The retraining figures of one epoch."""

    FIELDS = ("loss", "correct", "images", "steps", "seconds", "skipped")

    def row(self) -> dict:
        s = self.sums
        return {"train_loss": s["loss"] / max(s["steps"], 1), "train_acc": 100 * s["correct"] / max(s["images"], 1),
                "images_per_s": s["images"] / max(s["seconds"], 1e-9), "skipped_steps": int(s["skipped"])}


class ChildTraining:
    """A child net with its optimizer, lr schedule, EMA and loss, trained one step and one epoch at a time."""

    def __init__(self, net: torch.nn.Module, recipe: RetrainConfig, ctx: RunContext, steps_per_epoch: int,
                 batch_size: int, num_classes: int, nonfinite: str = "stop", compile_model: bool = False):
        self.recipe, self.ctx, self.nonfinite = recipe, ctx, nonfinite
        self.net = ctx.prepare_model(net)
        self.model = DistributedDataParallel(self.net) if ctx.distributed else self.net
        if compile_model:
            self.model = torch.compile(self.model)
        self.optimizer = create_optimizer(self.net, recipe, batch_size * ctx.world)
        self.scheduler = create_scheduler(self.optimizer, recipe, steps_per_epoch)
        self.ema = create_ema(self.net, recipe)
        self.mixup = create_mixup(recipe, num_classes, batch_size)
        self.loss_fn = training_loss(recipe, self.mixup)
        self.step = 0
        self.meter = EpochMeter()

    @property
    def lr(self) -> float:
        return self.optimizer.param_groups[0]["lr"]

    def train_epoch(self, loader, epoch: int, start: int = 0):
        """Train on ``loader``'s batches of ``epoch`` from batch ``start``, yielding the step count after each."""
        self.net.train()
        self.scheduler.step(epoch)  # per-epoch schedules; per-step ones move in train_step
        tick = time.perf_counter()
        for x, y in loader.batches(epoch, start):
            self.train_step(x, y)
            now = time.perf_counter()
            self.meter.add(seconds=now - tick)
            tick = now
            yield self.step

    def train_step(self, x: torch.Tensor, y: torch.Tensor) -> None:
        ctx = self.ctx
        x, y = ctx.to_device(x), y.to(ctx.device)
        target = y
        if self.mixup is not None:
            x, target = self.mixup(x, y)
        with ctx.autocast():
            logits = self.model(x).float()
        loss = self.loss_fn(logits, target)
        # One host-device sync per step: loss and correct count, summed over processes.
        totals = ctx.all_reduce(torch.stack([loss.detach(), (logits.argmax(1) == y).sum().float(),
                                             torch.tensor(float(len(y)), device=ctx.device)]))
        loss_sum, correct, images = totals.tolist()
        finite = math.isfinite(loss_sum)
        if not finite and self.nonfinite != "skip":
            raise CreamError(f"non-finite training loss at step {self.step} of {getattr(self.net, 'arch', 'the net')}; "
                             "the last good checkpoint is kept (lower retrain.lr, or set run.nonfinite=skip to skip "
                             "such steps)")
        self.optimizer.zero_grad(set_to_none=True)
        if finite:
            loss.backward()
            if self.recipe.clip_grad > 0:
                torch.nn.utils.clip_grad_norm_(self.net.parameters(), self.recipe.clip_grad)
            self.optimizer.step()
            if self.ema is not None:
                self.ema.update(self.net, step=self.step + 1)
            self.meter.add(loss=loss_sum / ctx.world, correct=correct, images=images, steps=1)
        else:
            self.meter.add(skipped=1)
        self.step += 1
        self.scheduler.step_update(self.step)

    def evaluate(self, loader) -> dict:
        """Top-1/top-5/loss of the model on ``loader`` (``val_*``) and of its EMA (``ema_*``) when there is one."""
        self.net.eval()
        row = {f"val_{k}": v for k, v in evaluate(self.net, loader, self.ctx).items() if k != "images"}
        if self.ema is not None:
            row.update({f"ema_{k}": v for k, v in evaluate(self.ema.module, loader, self.ctx).items()
                        if k != "images"})
        return row

    def final_metrics(self, row: dict) -> dict:
        """The ``val_*`` metrics of the weights a run ships: the EMA when there is one."""
        prefix = "ema_" if self.ema is not None else "val_"
        return {f"val_{k}": row[f"{prefix}{k}"] for k in ("top1", "top5", "loss")}

    def state_dict(self) -> dict:
        return {"model": self.net.state_dict(), "ema": self.ema.module.state_dict() if self.ema else None,
                "optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                "step": self.step, "meter": self.meter.sums, "rng": rng_state()}

    def load_state_dict(self, state: dict) -> None:
        self.net.load_state_dict(state["model"])
        if self.ema is not None:
            self.ema.module.load_state_dict(state["ema"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.step, self.meter = state["step"], EpochMeter(state["meter"])
        set_rng_state(state["rng"])
        self.scheduler.step_update(self.step)


def seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)  # timm's Mixup draws from numpy
    random.seed(seed)


def rng_state() -> dict:
    """Global random states as plain data (loadable with weights_only=True)."""
    name, keys, pos, has_gauss, gauss = np.random.get_state()
    return {"torch": torch.get_rng_state(), "python": random.getstate(),
            "numpy": [name, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, gauss]}


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    name, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))


def _check_data(data: DataBundle, spec: NetSpec, batch_size: int) -> None:
    if data.num_classes != spec.num_classes:
        raise CreamError(f"the net has {spec.num_classes} classes but the data has {data.num_classes}; set "
                         f"space.num_classes={data.num_classes}")
    if len(data.train) == 0:
        raise CreamError(f"the training set holds fewer images than one batch ({batch_size} per process); lower "
                         "data.batch_size or use more data")


def net_size(arch: Arch, spec: NetSpec) -> tuple[float, float]:
    """(million multiply-adds per image at the spec's resolution, million parameters) of ``arch``."""
    net = build_child(arch, spec).eval()
    return count_macs(net, torch.zeros(1, spec.in_chans, spec.resolution, spec.resolution)), count_params(net)


def train_from_scratch(arch: Arch, spec: NetSpec, data: DataBundle, recipe: RetrainConfig, ctx: RunContext,
                       seed: int = 0, log=None) -> dict:
    """Train a fresh child net on ``data.train`` with ``recipe``; no files are written.

    Seeds torch, numpy and random with ``seed`` (initialisation, dropout, mixup; the data order is the
    loader's own). Returns val top-1/top-5/loss on ``data.val`` of the final model (its EMA when the recipe
    keeps one), the last epoch's train loss and accuracy, and the seconds it all took.
    """
    began = time.perf_counter()
    batch_size = data.train.batch_size
    _check_data(data, spec, batch_size)
    seed_everything(seed)
    training = ChildTraining(build_child(arch, spec, drop_path_rate=recipe.drop_path), recipe, ctx,
                             len(data.train), batch_size, spec.num_classes)
    row = {}
    for epoch in range(recipe.epochs):
        for _ in training.train_epoch(data.train, epoch):
            pass
        row, training.meter = training.meter.row(), EpochMeter()
        if log is not None:
            log(f"{arch} epoch {epoch + 1}/{recipe.epochs}  loss {row['train_loss']:.3f}  train {row['train_acc']:.1f}%"
                f"  {row['images_per_s']:.0f} img/s")
    final = training.final_metrics(training.evaluate(data.val))
    return {**final, "train_loss": row["train_loss"], "train_acc": row["train_acc"],
            "seconds": time.perf_counter() - began}


# ---------------------------------------------------------------------------------------------- the run


def run_retrain(cfg: RetrainRun, force: bool = False, notes: list[str] = (), after_epoch=None) -> dict:
    """Run (or resume, or just report) the retraining described by ``cfg``; returns result.json's content.

    Keys left null are first taken from the data (``settings_from_data``), and the log says what they became,
    after ``notes`` (e.g. where the config's values came from). ``after_epoch(run_dir)``: called after each epoch
    and at the end (``engine.run``).
    """
    cfg, data_notes = settings_from_data(cfg, "retrain")
    arch, spec = retrain_target(cfg.retrain.arch, cfg.space)
    return Retrain.execute(cfg, force, arch=arch, spec=spec, notes=[*notes, *data_notes], after_epoch=after_epoch)


class Retrain(EpochRun):
    """One retraining run in a run directory: ``ChildTraining`` in the engine's lifecycle, keeping best.pth."""

    kind, checkpoint_kind, what = "retrain", "cream-child", "retraining"
    OUTPUTS = ("last.pth", "last.pth.prev", "last.pth.tmp", "best.pth", "best.pth.prev", "best.pth.tmp", "result.json",
               "summary.csv", "retrain.log", "tensorboard", "config.yaml", "report.html")

    def __init__(self, cfg: RetrainRun, ctx: RunContext, run_dir: RunDir, arch: Arch, spec: NetSpec,
                 notes: list[str] = (), after_epoch=None):
        super().__init__(cfg, ctx, run_dir, notes, after_epoch)
        self.arch, self.spec = arch, spec
        r = cfg.retrain
        self.data = build_data(cfg.data, self.spec.resolution, self.spec.in_chans, "retrain", seed=cfg.run.seed,
                               rank=ctx.rank, world=ctx.world)
        _check_data(self.data, self.spec, cfg.data.batch_size)
        self.macs, self.params = net_size(self.arch, self.spec)
        fresh = self.checkpoint_to_resume() is None
        seed_everything(cfg.run.seed)
        net = build_child(self.arch, self.spec, drop_path_rate=r.drop_path)
        if fresh and r.init:
            init_from(net, r.init, self.arch, log=self.log.info)
        self.training = ChildTraining(net, r, ctx, len(self.data.train), cfg.data.batch_size,
                                      self.spec.num_classes, cfg.run.nonfinite, cfg.run.compile)
        self.best_top1 = -1.0

    # ------------------------------------------------------------------ the parts the engine asks for

    @property
    def epochs(self) -> int:
        return self.cfg.retrain.epochs

    @property
    def steps_per_epoch(self) -> int:
        return len(self.data.train)

    @property
    def step(self) -> int:
        return self.training.step

    def describe(self) -> list[str]:
        r = self.cfg.retrain
        return [f"retrain: {self.arch} at {self.spec.resolution} px ({self.macs:.2f} M multiply-adds, "
                f"{self.params:.2f} M params), {r.epochs} epochs of {self.steps_per_epoch} steps, "
                f"batch {self.cfg.data.batch_size}x{self.ctx.world}, {r.opt} lr "
                f"{scaled_lr(r, self.cfg.data.batch_size * self.ctx.world):g}, {r.sched} schedule per {r.sched_per}, "
                f"EMA {r.ema_decay:g}, device {self.ctx.device}; out {self.dir.path}"]

    def train_steps(self, epoch: int, start: int):
        return self.training.train_epoch(self.data.train, epoch, start)

    def progress_figures(self) -> dict:
        row = self.training.meter.row()
        return {"loss": f"{row['train_loss']:.3f}", "acc": f"{row['train_acc']:.1f}",
                "img_s": f"{row['images_per_s']:.0f}"}

    def state_dict(self) -> dict:
        return {"arch": str(self.arch), "net": self.spec.to_json(), **self.training.state_dict(),
                "epoch": self.training.step // self.steps_per_epoch, "best_top1": self.best_top1}

    def load_state_dict(self, state: dict) -> None:
        self.training.load_state_dict(state)
        self.best_top1 = state["best_top1"]

    def epoch_figures(self, epoch: int) -> dict:
        metrics = self.training.evaluate(self.data.val)
        row = {**self.training.meter.row(), **metrics, "lr": self.training.lr}
        self.training.meter = EpochMeter()
        return row

    def on_epoch_row(self, row: dict) -> None:
        score = self.training.final_metrics(row)["val_top1"]
        if score > self.best_top1:
            self.best_top1 = score
            self.save(BEST)  # before last.pth: a kill in between redoes this epoch and rewrites best.pth

    def epoch_line(self, row: dict) -> str:
        ema = f"  EMA {row['ema_top1']:.2f}%" if "ema_top1" in row else ""
        return (f"epoch {row['epoch']}/{self.cfg.retrain.epochs}  loss {row['train_loss']:.3f}  "
                f"train {row['train_acc']:.1f}%  val {row['val_top1']:.2f}%{ema}  lr {row['lr']:.3g}  "
                f"{row['images_per_s']:.0f} img/s")

    def training_health(self, history: list[dict]) -> dict:
        """Divergence of the training loss and validation accuracy (plain weights) at chance after the warm-up."""
        r = self.cfg.retrain
        return training_health(history, loss="train_loss", accuracy="val_top1", what="the validation accuracy",
                               num_classes=self.spec.num_classes, warmup_epochs=r.warmup_epochs, lr_key="retrain.lr",
                               lr=r.lr)

    def result(self) -> dict:
        best = max(self.history, key=lambda row: self.training.final_metrics(row)["val_top1"])
        return {
            "arch": str(self.arch), "net": self.spec.to_json(), "flops": self.macs, "params": self.params,
            "best_epoch": best["epoch"], "best_top1": self.best_top1,
            "final": self.training.final_metrics(self.history[-1]), "weights": "ema" if self.training.ema else "plain",
            "checkpoint": str(self.dir.file(BEST)), "history": self.history,
            "health": self.training_health(self.history),
        }

    def on_result(self, result: dict) -> None:
        self.log.info(f"best val top-1 {self.best_top1:.2f}% at epoch {result['best_epoch']} ({result['weights']} "
                      f"weights) in {self.elapsed / 60:.1f} min; best.pth and last.pth in {self.dir.path}")

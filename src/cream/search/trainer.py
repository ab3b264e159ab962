"""``cream search``: train the supernet one sampled path per step, distil from prioritized paths, pick the best.

Reading order: ``run_search`` (set-up and resume) -> ``SupernetSearch.train`` (epochs) -> ``train_step``
(sample, choose teacher, loss, update, board) -> ``finish`` (final selection, result.json, search.png).
"""

from __future__ import annotations

import json
import math
import platform
import shutil
import time
from pathlib import Path

import timm
import torch
import torch.nn.functional as F
import yaml
from timm.optim import create_optimizer_v2
from timm.scheduler import create_scheduler_v2
from timm.utils import ModelEmaV3
from torch.nn.parallel import DistributedDataParallel

import cream
from cream.analysis.plots import plot_search
from cream.config import SearchRun, to_dict
from cream.data import build_data
from cream.data.splits import derive_seed
from cream.engine.checkpoint import load_latest, save_atomic
from cream.engine.context import RunContext
from cream.engine.health import new_warnings, training_health
from cream.engine.logs import RunLog, json_number, write_text_atomic
from cream.engine.meter import EpochSums
from cream.engine.rundir import RunDir, check_same_config, claimed_run, finished_result
from cream.engine.signals import RunInterrupted, StopRequest
from cream.errors import CreamError
from cream.settings_from_data import settings_from_data
from cream.search.board import PrioritizedBoard
from cream.search.distill import cream_loss, kd_loss
from cream.search.health import ranking_warnings, standalone_probe
from cream.search.meta import MetaMatchingNetwork, meta_update, select_teacher
from cream.search.sampler import PathSampler
from cream.search.selection import evaluate_path, select_final
from cream.space.arch import Arch
from cream.space.budget import plan_from_config
from cream.space.supernet import Supernet

CHECKPOINT = "last.pth"
LATENCY_TABLE = "latency_table.json"  # the run's copy of space.latency_table
OUTPUTS = ("last.pth", "last.pth.prev", "last.pth.tmp", "result.json", "summary.csv", "search.log", "search.png",
           "tensorboard", "config.yaml", LATENCY_TABLE)
CLOUD_LIMIT = 20_000  # sampled (cost, accuracy) points kept for search.png (cost: FLOPs or predicted latency)


def run_search(cfg: SearchRun, force: bool = False) -> dict:
    """Run (or resume, or just report) the search described by ``cfg``; returns result.json's content.

    Keys left null are first taken from the data (``settings_from_data``), and the log says what they became.
    """
    cfg, notes = settings_from_data(cfg, "search")
    with claimed_run(cfg.run, OUTPUTS, force) as (ctx, run_dir):
        finished = finished_result(run_dir, to_dict(cfg), cfg.run.resume, "search")
        if finished is not None:
            return finished
        search = SupernetSearch(cfg, ctx, run_dir, notes)
        try:
            search.restore()
            search.train()
            return search.finish()
        finally:
            search.log.close()


class EpochMeter(EpochSums):
    """The search figures of one epoch."""

    FIELDS = ("loss", "ce", "kd", "correct", "images", "steps", "distill_steps", "m", "seconds", "skipped")

    def row(self) -> dict:
        s, steps = self.sums, max(self.sums["steps"], 1)
        return {"loss": s["loss"] / steps, "ce_loss": s["ce"] / steps, "kd_loss": s["kd"] / max(s["distill_steps"], 1),
                "train_acc": 100 * s["correct"] / max(s["images"], 1),
                "distill_fraction": s["distill_steps"] / steps, "mean_m": s["m"] / max(s["distill_steps"], 1),
                "images_per_s": s["images"] / max(s["seconds"], 1e-9), "skipped_steps": int(s["skipped"])}


class SupernetSearch:
    def __init__(self, cfg: SearchRun, ctx: RunContext, run_dir: RunDir, notes: list[str] = ()):
        self.cfg, self.ctx, self.dir = cfg, ctx, run_dir
        s, run = cfg.search, cfg.run
        self.cream = s.algorithm == "cream"
        self.log = RunLog(run_dir.path if ctx.is_main else None, "search", run.quiet)
        for note in notes:
            self.log.info(note)

        self.plan = plan_from_config(cfg.space, ctx.device, run.channels_last, ctx.uses_bf16)
        if self.plan.latency is not None and ctx.is_main:
            self.keep_latency_table()
        self.data = build_data(cfg.data, self.plan.spec.resolution, cfg.space.in_chans, "search", seed=run.seed,
                               rank=ctx.rank, world=ctx.world)
        if self.data.num_classes != cfg.space.num_classes:
            raise CreamError(f"space.num_classes={cfg.space.num_classes} but the data has {self.data.num_classes} "
                             f"classes; set space.num_classes={self.data.num_classes}")
        self.steps_per_epoch = len(self.data.train)
        if self.steps_per_epoch == 0:
            raise CreamError(f"search-train holds fewer images than one batch ({cfg.data.batch_size} per process); "
                             "lower data.batch_size or use more data")

        torch.manual_seed(run.seed)
        self.supernet = ctx.prepare_model(Supernet(self.plan.spec, self.plan.depths))
        self.model = (DistributedDataParallel(self.supernet, find_unused_parameters=True)
                      if ctx.distributed else self.supernet)
        self.base_lr = s.lr * cfg.data.batch_size * ctx.world / s.lr_batch
        self.optimizer = create_optimizer_v2(self.supernet, "sgd", lr=self.base_lr, weight_decay=s.weight_decay,
                                             momentum=s.momentum)  # timm: Nesterov, no decay on BN and biases
        self.scheduler, _ = create_scheduler_v2(self.optimizer, "poly", num_epochs=s.epochs, decay_rate=1.0,
                                                min_lr=0.0, step_on_epochs=False,
                                                updates_per_epoch=self.steps_per_epoch)  # linear decay to zero
        self.ema = ModelEmaV3(self.supernet, decay=s.ema_decay) if s.ema_decay > 0 else None
        self.meta_net = MetaMatchingNetwork(cfg.space.num_classes).to(ctx.device)
        self.meta_optimizer = torch.optim.SGD(self.meta_net.parameters(), lr=s.meta_lr, momentum=0.9, nesterov=True)
        self.board = PrioritizedBoard(s.board_size, s.board_margin)
        self.sampler = PathSampler(self.plan, s.sampling if self.cream else "uniform", s.op_probs, s.max_redraws,
                                   seed=run.seed)
        self.reference = self.sampler.distinct(1, seed=1)[0]

        self.step = 0
        self.meter = EpochMeter()
        self.history: list[dict] = []
        self.cloud: list[list[float]] = []
        self.counters = {"meta_updates": 0, "nonfinite_meta_scores": 0, "skipped_steps": 0, "board_changes": 0}
        self.elapsed = 0.0
        self._clock = time.perf_counter()

    def keep_latency_table(self) -> None:
        """Copy space.latency_table into the run folder; a resumed run refuses a table changed since."""
        source, copy = self.cfg.space.latency_table, self.dir.file(LATENCY_TABLE)
        if not copy.exists():
            shutil.copyfile(source, copy)
        elif copy.read_bytes() != Path(source).read_bytes():
            raise CreamError(f"latency table {source} changed since this run began (its copy is {copy}); put the "
                             "copy back, or start afresh with --force")

    # ------------------------------------------------------------------ resume

    def restore(self) -> None:
        path = self.dir.file(CHECKPOINT)
        if self.cfg.run.resume == "never":
            if path.exists():
                raise CreamError(f"{self.dir.path} holds a search checkpoint; resume it (run.resume=auto), "
                                 "use --force to start afresh, or pick another run.out_dir")
            self._start_fresh()
            return
        ckpt = load_latest(path, log=self.log.info)
        if ckpt is None:
            self._start_fresh()
            return
        check_same_config(ckpt["config"], to_dict(self.cfg), self.dir.path)
        self.supernet.load_state_dict(ckpt["supernet"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.scheduler.load_state_dict(ckpt["scheduler"])
        if self.ema is not None:
            self.ema.module.load_state_dict(ckpt["ema"])
        self.meta_net.load_state_dict(ckpt["meta_net"])
        self.meta_optimizer.load_state_dict(ckpt["meta_optimizer"])
        self.board.load_state_dict(ckpt["board"], self.ctx.device)
        self.step, self.history, self.cloud = ckpt["step"], ckpt["history"], ckpt["cloud"]
        self.meter = EpochMeter(ckpt["meter"])
        self.counters, self.elapsed = ckpt["counters"], ckpt["elapsed"]
        torch.set_rng_state(ckpt["torch_rng"])
        self.scheduler.step_update(self.step)
        self.log.info(f"resumed {self.dir.path} at step {self.step} (epoch {len(self.history) + 1})")

    def _start_fresh(self) -> None:
        if self.ctx.is_main:
            (self.dir.file("config.yaml")).write_text(yaml.safe_dump(to_dict(self.cfg), sort_keys=False))
        s = self.cfg.search
        self.log.info(
            f"search: {s.algorithm}, {s.epochs} epochs ({s.warmup_epochs} warm-up), {self.steps_per_epoch} steps "
            f"per epoch, batch {self.cfg.data.batch_size}x{self.ctx.world}, lr {self.base_lr:g}, device "
            f"{self.ctx.device}; space {list(self.plan.depths)} at {self.plan.spec.resolution} px, "
            f"{self.plan.budget_text()}; out {self.dir.path}")
        if self.plan.latency is not None:
            self.log.info(f"latency predicted by {self.cfg.space.latency_table} ({self.plan.latency.describe()}, "
                          f"torch {self.plan.latency.torch}), copied to {LATENCY_TABLE}")

    def save(self) -> None:
        self.elapsed += time.perf_counter() - self._clock
        self._clock = time.perf_counter()
        if not self.ctx.is_main:
            return
        save_atomic({
            "kind": "cream-search", "config": to_dict(self.cfg), "step": self.step,
            "supernet": self.supernet.state_dict(), "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(), "ema": self.ema.module.state_dict() if self.ema else None,
            "meta_net": self.meta_net.state_dict(), "meta_optimizer": self.meta_optimizer.state_dict(),
            "board": self.board.state_dict(), "history": self.history, "cloud": self.cloud,
            "meter": self.meter.sums, "counters": self.counters, "elapsed": self.elapsed,
            "torch_rng": torch.get_rng_state(), "net": self.plan.spec.to_json(), "depths": list(self.plan.depths),
        }, self.dir.file(CHECKPOINT))

    # ------------------------------------------------------------------ training

    def train(self) -> None:
        epochs = self.cfg.search.epochs
        with StopRequest() as stop:
            # From the first epoch without a history row: a checkpoint written at an epoch's last step (a stop
            # or ckpt_every_steps) comes before that epoch's evaluation, which must still run after a resume.
            for epoch in range(len(self.history), epochs):
                self.train_epoch(epoch, stop)
                self.end_epoch(epoch)

    def train_epoch(self, epoch: int, stop: StopRequest) -> None:
        start = self.step - epoch * self.steps_per_epoch
        bar = self.log.progress(self.steps_per_epoch, start, f"epoch {epoch + 1}/{self.cfg.search.epochs}")
        every = self.cfg.run.ckpt_every_steps
        tick = time.perf_counter()
        for x, y in self.data.train.batches(epoch, start):
            self.train_step(epoch, x, y)
            now = time.perf_counter()
            self.meter.add(seconds=now - tick)
            tick = now
            bar.update(1)
            if self.step % 10 == 0:
                row = self.meter.row()
                bar.set_postfix(loss=f"{row['loss']:.3f}", acc=f"{row['train_acc']:.1f}", board=len(self.board),
                                img_s=f"{row['images_per_s']:.0f}")
            if stop.requested:
                self.save()
                bar.close()
                raise RunInterrupted(
                    f"stopped by {stop.requested} at step {self.step}; checkpoint saved in {self.dir.path}; "
                    "resume by running the same command again")
            if every and self.step % every == 0:
                self.save()
        bar.close()

    def train_step(self, epoch: int, x: torch.Tensor, y: torch.Tensor) -> None:
        s, ctx = self.cfg.search, self.ctx
        arch = self.sampler.sample(self.step, self.board)
        prioritized = self.cream and epoch >= s.warmup_epochs
        x, y = ctx.to_device(x), y.to(ctx.device)

        teacher_probs, m = None, None
        if prioritized and len(self.board):
            index, m = self.choose_teacher(arch)
            with torch.no_grad(), ctx.autocast():
                teacher_probs = F.softmax(self.supernet(x, self.board.entries[index].arch).float(), dim=1)
            if s.teacher == "meta" and s.meta_update_every and self.step % s.meta_update_every == 0:
                self.update_meta(arch, x, y, teacher_probs)

        with ctx.autocast():
            logits = self.model(x, arch).float()
        ce = F.cross_entropy(logits, y, label_smoothing=s.label_smoothing)
        kd = kd_loss(logits, teacher_probs) if teacher_probs is not None else torch.zeros((), device=ctx.device)
        loss = cream_loss(ce, kd, m) if teacher_probs is not None else ce

        # One host-device sync per step: loss, CE, KD and correct count, summed over processes.
        totals = ctx.all_reduce(torch.stack([loss.detach(), ce.detach(), kd.detach(),
                                             (logits.argmax(1) == y).sum().float(),
                                             torch.tensor(float(len(y)), device=ctx.device)]))
        loss_sum, ce_sum, kd_sum, correct, images = totals.tolist()
        if not math.isfinite(loss_sum):
            self.on_nonfinite(arch)
            return
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if s.clip_grad > 0:
            torch.nn.utils.clip_grad_norm_(self.supernet.parameters(), s.clip_grad)
        self.optimizer.step()
        self.step += 1
        self.scheduler.step_update(self.step)
        if self.ema is not None:
            self.ema.update(self.supernet, step=self.step)

        accuracy = 100 * correct / images
        if prioritized:
            cost = self.plan.cost(arch)
            self.offer_to_board(arch, accuracy, cost, x, logits)
            if len(self.cloud) >= CLOUD_LIMIT:
                del self.cloud[: CLOUD_LIMIT // 10]
            self.cloud.append([cost, accuracy])
        distilled = teacher_probs is not None
        self.meter.add(loss=loss_sum / ctx.world, ce=ce_sum / ctx.world, kd=kd_sum / ctx.world if distilled else 0.0,
                       correct=correct, images=images, steps=1, distill_steps=int(distilled),
                       m=m if distilled else 0.0)

    def choose_teacher(self, arch: Arch) -> tuple[int, float]:
        choice = select_teacher(self.cfg.search.teacher, self.board, lambda imgs: self.supernet(imgs, arch),
                                self.meta_net, warn=self.log.info)
        self.counters["nonfinite_meta_scores"] += int(choice.fell_back)
        shared = self.ctx.broadcast(torch.tensor([choice.index, choice.weight], device=self.ctx.device,
                                                 dtype=torch.float64))  # every process distils alike
        return int(shared[0]), float(shared[1])

    def update_meta(self, arch: Arch, x, y, teacher_probs) -> None:
        s, ctx = self.cfg.search, self.ctx
        n = max(1, min(s.meta_slice, len(y) // 2))
        if s.meta_data == "val":
            gen = torch.Generator().manual_seed(derive_seed(self.cfg.run.seed, self.step, ctx.rank, 17))
            x_ce, y_ce = self.data.val.sample(n, gen)
            x_ce, y_ce = ctx.to_device(x_ce), y_ce.to(ctx.device)
        else:
            x_ce, y_ce = x[n:2 * n], y[n:2 * n]

        def average(grad):
            ctx.all_reduce(grad).div_(ctx.world)

        meta_update(self.supernet, arch, self.meta_net, self.meta_optimizer, self.board,
                    (x[:n], teacher_probs[:n]), (x_ce, y_ce), self.optimizer.param_groups[0]["lr"],
                    clip=s.clip_grad, reduce_grads=average)
        self.counters["meta_updates"] += 1

    def offer_to_board(self, arch: Arch, accuracy: float, cost: float, x, logits) -> None:
        on_board = any(e.arch == arch for e in self.board.entries)
        if not on_board and not self.board.admits(accuracy, cost):
            return
        n = self.cfg.search.slice_size
        # Stored in the run's memory format, so forwards over the board see one input layout as well as one shape.
        images = self.ctx.to_device(self.ctx.broadcast(x[:n].detach().contiguous()))
        probs = self.ctx.broadcast(F.softmax(logits[:n].detach(), dim=1).contiguous())
        self.counters["board_changes"] += int(self.board.consider(arch, accuracy, cost, images, probs))

    def on_nonfinite(self, arch: Arch) -> None:
        if self.cfg.run.nonfinite == "skip":
            self.counters["skipped_steps"] += 1
            self.meter.add(skipped=1)
            self.optimizer.zero_grad(set_to_none=True)
            self.step += 1
            self.scheduler.step_update(self.step)
            return
        raise CreamError(f"non-finite loss at step {self.step} on path {arch}; the last good checkpoint is kept in "
                         f"{self.dir.path} (lower search.lr, or set run.nonfinite=skip to skip such steps)")

    def end_epoch(self, epoch: int) -> None:
        s = self.cfg.search
        self.ctx.check_agree([(str(e.arch), e.accuracy) for e in self.board.entries], "prioritized board")
        ref = evaluate_path(self.supernet, self.reference, self.data, self.ctx, s.bn_batches, s.val_images)
        elapsed = self.elapsed + time.perf_counter() - self._clock
        row = {"epoch": epoch + 1, **self.meter.row(), "ref_val_acc": ref["top1"], "board_size": len(self.board),
               "lr": self.optimizer.param_groups[0]["lr"], "elapsed_s": elapsed}
        self.history.append(row)
        self.meter = EpochMeter()
        self.save()
        self.log.write_summary(self.history)
        self.log.scalars(row, epoch + 1, "search")
        self.log.info(f"epoch {epoch + 1}/{s.epochs}  loss {row['loss']:.3f}  train {row['train_acc']:.1f}%  "
                      f"ref val {row['ref_val_acc']:.1f}%  board {row['board_size']}  "
                      f"distilled {100 * row['distill_fraction']:.0f}% of steps  {row['images_per_s']:.0f} img/s")
        for warning in new_warnings(self.training_health(self.history[:-1]), self.training_health(self.history)):
            self.log.info(f"warning: {warning}")

    def training_health(self, history: list[dict]) -> dict:
        """Divergence of the supernet's cross-entropy and its training accuracy at chance after the warm-up."""
        s = self.cfg.search
        return training_health(history, loss="ce_loss", accuracy="train_acc", what="the supernet's training accuracy",
                               num_classes=self.data.num_classes, warmup_epochs=s.warmup_epochs, lr_key="search.lr",
                               lr=s.lr)

    # ------------------------------------------------------------------ result

    def finish(self) -> dict:
        s = self.cfg.search
        net = self.ema.module if self.ema is not None else self.supernet
        if self.cream and len(self.board):
            candidates = [e.arch for e in self.board.entries]
            self.log.info(f"final selection over the {len(candidates)} board paths")
        else:
            if self.cream:
                self.log.info("the board is empty (warm-up covered the whole run?); choosing among random paths")
            candidates = self.sampler.distinct(s.candidates, seed=2)
            self.log.info(f"final selection over {len(candidates)} random in-budget paths")
        ranked = select_final(net, candidates, self.plan, self.data, self.ctx, s.bn_batches, s.val_images,
                              log=self.log.info)
        batch_acc = {str(e.arch): e.accuracy for e in self.board.entries}
        for r in ranked:
            r["batch_accuracy"] = batch_acc.get(r["arch"])
        training = self.training_health(self.history)
        ranking = self.check_ranking(ranked[0])
        health = {**ranking, "diverged": training["diverged"], "at_chance": training["at_chance"],
                  "warnings": training["warnings"] + ranking["warnings"]}
        self.elapsed += time.perf_counter() - self._clock
        self._clock = time.perf_counter()
        plan, best = self.plan, ranked[0]
        result = {
            "arch": best["arch"], "flops": best["flops"], "params": best["params"],
            "latency_ms": best.get("latency_ms"), "val_top1": best["val_top1"], "algorithm": s.algorithm,
            "net": plan.spec.to_json(), "depths": list(plan.depths),
            "flops_range": [plan.flops_min, json_number(plan.flops_max)],
            "latency_range": [plan.latency_min, json_number(plan.latency_max)] if plan.latency else None,
            "latency_table": _table_summary(plan.latency), "candidates": ranked,
            "board": [r for r in ranked if r["batch_accuracy"] is not None],
            "counters": self.counters, "history": self.history, "health": health, "elapsed_s": self.elapsed,
            "config": to_dict(self.cfg), "versions": versions(),
        }
        if self.ctx.is_main:
            write_text_atomic(self.dir.file("result.json"), json.dumps(result, indent=2))
            size = f"{best['latency_ms']:.3g} ms" if plan.latency else f"{best['flops']:.2f} M"
            axis = (("latency_ms", f"predicted latency (ms, {plan.latency.describe()})") if plan.latency
                    else ("flops", "multiply-adds (M)"))
            plot_search(self.dir.file("search.png"), self.cloud, result["board"], best, self.history,
                        f"{s.algorithm} search: chosen {best['arch']} ({size}, search-val {best['val_top1']:.1f}%)",
                        *axis)
        return result


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


def versions() -> dict:
    return {"cream": cream.__version__, "torch": torch.__version__, "timm": timm.__version__,
            "python": platform.python_version()}

"""Cream (Peng et al., 2020): prioritized paths teach the sampled path.

After ``search.warmup_epochs``, every trained path is offered to the prioritized board, and each step's path
is distilled from a board path: the one the meta-matching network scores best (``search.teacher=meta``), with
weight m = sigmoid(its score), or the most accurate one with m = 0.5 (``top1``). Every
``search.meta_update_every`` steps the meta-matching network learns by a second-order gradient (``meta.py``).
``search.meta_net``, ``meta_weight`` and ``meta_update`` set to ``paper`` follow the paper's code instead
(``paper_meta.py``). Final selection ranks the board's paths.

It reports the board's size, the share of steps that distilled, their KD loss and mean m each epoch; the board
(with each path's batch accuracy) and its counters in result.json; every path it measured and every change of
the board in paths.csv and board.csv.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F

from cream.config import key
from cream.data.splits import derive_seed
from cream.nas.board import PrioritizedBoard
from cream.nas.distill import DistillSums, cream_loss, kd_loss
from cream.nas.meta import MetaMatchingNetwork, TeacherChoice, meta_update, select_teacher
from cream.nas.paper_meta import PaperMetaLayer, paper_meta_update, paper_teacher
from cream.nas.sampler import PathSampler
from cream.nas.strategy import SearchStrategy, StepLoss, clear_grads, register_rule
from cream.space.arch import Arch


@dataclass
class CreamKeys:
    """Cream's own keys, in the search section (``search.board_size=5``)."""

    sampling: Literal["uniform", "fixed", "learned"] = key(
        "fixed", "path sampling: uniform, fixed per-op probabilities (op_probs), or learned from board paths")
    op_probs: list[float] = key([0.05, 0.2, 0.05, 0.5, 0.05, 0.15], "per-op probabilities for sampling: fixed")
    board_size: int = key(10, "prioritized paths kept on the board", positive=True)
    board_margin: float = key(5.0, "accuracy points a path must beat the worst entry by to enter", low=0.0)
    board_labels: Literal["own", "teacher"] = key(
        "own", "soft labels a board entry keeps for its images: own: the path's own outputs; teacher: as the "
               "paper's code, those of the step's teacher (the path's own while the board is empty)")
    board_rule: Literal["ours", "paper"] = key(
        "ours", "ours: equal accuracy ranks the lower cost first and a path already on the board is refreshed in "
                "place; paper: as the paper's code, the higher cost first (evicting the lower cost first) and a "
                "path may hold several entries")
    slice_size: int = key(4, "images (with soft labels) stored per board entry", positive=True)
    teacher: Literal["meta", "top1"] = key(
        "meta", "meta: meta-matching network picks the teacher; top1: the most accurate entry with m=0.5")
    meta_update_every: int = key(200, "steps between meta-network updates (0 = never)", low=0)
    meta_lr: float = key(1e-4, "meta-network learning rate (no weight decay)", positive=True)
    meta_slice: int = key(32, "images in each slice of the meta update (simulated step, then judged)",
                          positive=True)
    meta_data: Literal["val", "batch"] = key(
        "val", "data for the meta update's second-order loss: a search-val slice, or a slice of the batch")
    meta_clip_grad: float = key(1.0, "clip the meta network's gradient to this norm at each meta update (0 = off; "
                                     "the paper's code: 1)", low=0.0)
    meta_net: Literal["per_image", "paper"] = key(
        "per_image", "the meta-matching network: per_image: Linear(classes -> 1) on each image's soft-label "
                     "difference, averaged, all entries in one forward; paper: as the paper's code, "
                     "Linear(classes x slice_size -> 1) on an entry's flattened differences, uniform(-1, 1) init, "
                     "each entry's images in their own forward")
    meta_weight: Literal["chosen", "paper"] = key(
        "chosen", "the distillation weight m (teacher=meta): chosen: sigmoid of the chosen entry's score, a constant "
                  "of the step; paper: as the paper's code, sigmoid(-score) of the board's last entry, kept in the "
                  "graph so that the main loss also trains the meta network (at its learning rate)")
    meta_update: Literal["exact", "paper"] = key(
        "exact", "the meta network's update: exact: the second-order gradient through the whole path's simulated "
                 "step at the search lr, judged on meta_data; paper: as the paper's code, after a real distillation "
                 "step of the student on the batch's first slice_size images, judged on the next slice_size, the "
                 "gradient through the stem alone at the meta lr, which decays with the search's lr; every "
                 "meta_update_every steps of an epoch; the meta network steps with the supernet's SGD, as one "
                 "optimizer (each step of either moves the other by momentum, and weight decay under dense)")


@register_rule
class Cream(SearchStrategy):
    name = "cream"
    Keys = CreamKeys
    COUNTERS = ("meta_updates", "nonfinite_meta_scores", "board_changes")

    def __init__(self, search):
        super().__init__(search)
        s, device = search.cfg.search, search.ctx.device
        self.sampler = PathSampler(search.plan, s.sampling, s.op_probs, s.max_redraws, seed=search.cfg.run.seed,
                                   redraw_out_of_budget=s.out_of_budget == "redraw")
        self.board = PrioritizedBoard(s.board_size, s.board_margin, paper_rule=s.board_rule == "paper")
        num_classes = search.cfg.space.num_classes
        self.meta_net = (PaperMetaLayer(num_classes, s.slice_size) if s.meta_net == "paper"
                         else MetaMatchingNetwork(num_classes)).to(device)
        self.meta_optimizer = torch.optim.SGD(self.meta_net.parameters(), lr=s.meta_lr, momentum=0.9, nesterov=True)
        # meta_update=paper: the meta optimizer steps with the supernet's, as the paper's one SGD (paper_meta.py)
        self.one_optimizer = s.meta_update == "paper"
        self.m_in_graph = False  # this step's m is in the graph: the main loss trains the meta network
        self.teacher_probs = None  # this step's teacher's soft labels on the batch, when one taught
        self.m = 0.0  # this step's distillation weight
        self.figures = DistillSums()

    def prioritized(self, epoch: int) -> bool:
        return epoch >= self.search.cfg.search.warmup_epochs

    def loss(self, epoch, x, y) -> StepLoss:
        search, s = self.search, self.search.cfg.search
        arch = self.sampler.sample(search.step, self.board)
        self.m_in_graph, self.teacher_probs = False, None
        self.schedule_meta_lr()
        distil = self.prioritized(epoch) and len(self.board) > 0
        if distil and self.meta_due("paper"):
            self.update_meta_as_paper(arch, x, y)
        if distil:
            index, m = self.choose_teacher(arch)
        with search.ctx.autocast():
            logits = search.model(x, arch).float()
        ce = F.cross_entropy(logits, y, label_smoothing=s.label_smoothing)
        if not distil:
            return StepLoss(loss=ce, ce=ce, logits=logits, labels=y, arch=arch)
        with torch.no_grad(), search.ctx.autocast():
            teacher_probs = F.softmax(search.supernet(x, self.board.entries[index].arch).float(), dim=1)
        if self.meta_due("exact"):
            self.update_meta(arch, x, y, teacher_probs)
        kd = kd_loss(logits, teacher_probs)
        self.teacher_probs, self.m = teacher_probs, float(m.detach()) if torch.is_tensor(m) else m
        return StepLoss(loss=cream_loss(ce, kd, m), ce=ce, logits=logits, labels=y, arch=arch, figures={"kd": kd})

    def meta_due(self, rule: str) -> bool:
        """Whether this step updates the meta network by ``rule`` (exact: every meta_update_every steps; paper:
        every meta_update_every steps of an epoch, not at its first)."""
        search, s = self.search, self.search.cfg.search
        if s.teacher != "meta" or s.meta_update != rule or not s.meta_update_every:
            return False
        step = search.step % search.steps_per_epoch if rule == "paper" else search.step
        return step % s.meta_update_every == 0 and (rule == "exact" or step > 0)

    def choose_teacher(self, arch: Arch) -> tuple[int, float | torch.Tensor]:
        """The board entry that teaches ``arch`` this step, and its weight m (a tensor in the graph when
        search.meta_weight=paper)."""
        search, s = self.search, self.search.cfg.search
        if s.teacher == "meta" and s.meta_weight == "paper":
            clear_grads(self.meta_optimizer, dense=s.off_path_updates == "dense")
            index, m, finite = paper_teacher(lambda imgs: search.supernet(imgs, arch), self.meta_net, self.board)
            if finite:
                self.m_in_graph = True
                return self.shared(TeacherChoice(index, 0.0))[0], m
            choice = TeacherChoice(0, 0.5, fell_back=True)
            search.log.info("warning: the meta-matching network gave non-finite scores; using the top1 teacher for "
                            "this step")
        else:
            choice = select_teacher(s.teacher, self.board, lambda imgs: search.supernet(imgs, arch), self.meta_net,
                                    warn=search.log.info)
        search.counters["nonfinite_meta_scores"] += int(choice.fell_back)
        return self.shared(choice)

    def shared(self, choice: TeacherChoice) -> tuple[int, float]:
        """Rank 0's choice on every process, so that all distil alike."""
        ctx = self.search.ctx
        shared = ctx.broadcast(torch.tensor([choice.index, choice.weight], device=ctx.device, dtype=torch.float64))
        return int(shared[0]), float(shared[1])

    def meta_batches(self, x, y, teacher_probs):
        """((images, teacher probs) to distil on, (images, labels) to judge on) for one meta update."""
        search, s, ctx = self.search, self.search.cfg.search, self.search.ctx
        n = max(1, min(s.meta_slice, len(y) // 2))
        if s.meta_data == "val":
            gen = torch.Generator().manual_seed(derive_seed(search.cfg.run.seed, search.step, ctx.rank, 17))
            x_ce, y_ce = search.data.val.sample(n, gen)
            x_ce, y_ce = ctx.to_device(x_ce), y_ce.to(ctx.device)
        else:
            x_ce, y_ce = x[n:2 * n], y[n:2 * n]
        return (x[:n], teacher_probs[:n]), (x_ce, y_ce)

    def update_meta(self, arch: Arch, x, y, teacher_probs) -> None:
        search = self.search
        distil, judge = self.meta_batches(x, y, teacher_probs)
        meta_update(search.supernet, arch, self.meta_net, self.meta_optimizer, self.board, distil, judge,
                    search.optimizer.param_groups[0]["lr"], clip=search.cfg.search.meta_clip_grad,
                    reduce_grads=self.average_grad)
        search.counters["meta_updates"] += 1

    def update_meta_as_paper(self, arch: Arch, x, y) -> None:
        """The paper code's meta step (``paper_meta.py``): it also moves the student by one distillation step."""
        search, s = self.search, self.search.cfg.search
        judged = paper_meta_update(search.supernet, arch, self.board, self.meta_net, self.meta_optimizer,
                                   search.optimizer, x, y, s.slice_size, self.meta_optimizer.param_groups[0]["lr"],
                                   s.label_smoothing, s.meta_clip_grad, dense=s.off_path_updates == "dense",
                                   reduce_grads=self.average_grad, shared=self.one_optimizer)
        search.counters["meta_updates"] += int(judged is not None)
        search.counters["nonfinite_meta_scores"] += int(judged is None)

    def schedule_meta_lr(self) -> None:
        """The meta optimizer's lr for this step: search.meta_lr, under meta_update=paper scaled as the search's lr
        is (the paper's code keeps the meta layer in the supernet's optimizer, under the same schedule)."""
        search, s = self.search, self.search.cfg.search
        lr = s.meta_lr * (search.optimizer.param_groups[0]["lr"] / search.base_lr if s.meta_update == "paper" else 1)
        for group in self.meta_optimizer.param_groups:
            group["lr"] = lr

    def average_grad(self, grad: torch.Tensor) -> None:
        """A gradient set outside the data-parallel backward (the meta network's), averaged over processes."""
        ctx = self.search.ctx
        ctx.all_reduce(grad).div_(ctx.world)

    def after_update(self, epoch, x, out: StepLoss, accuracy: float) -> None:
        if self.m_in_graph:  # the main loss trained the meta network too (search.meta_weight=paper)
            for p in self.meta_net.parameters():
                if p.grad is not None:
                    self.average_grad(p.grad)
            self.meta_optimizer.step()
        elif self.one_optimizer:  # the supernet's step moves the meta layer by its momentum (dense)
            clear_grads(self.meta_optimizer, dense=self.search.cfg.search.off_path_updates == "dense")
            self.meta_optimizer.step()
        distilled = "kd" in out.figures
        self.figures.add(steps=1, distill_steps=int(distilled), kd=out.figure_values.get("kd", 0.0),
                         m=self.m if distilled else 0.0)
        if not self.prioritized(epoch):
            return
        plan, arch = self.search.plan, out.arch
        self.records.add_path(self.search.step, epoch + 1, str(arch), plan.table.macs(arch),
                              plan.latency.ms(arch) if plan.latency is not None else None, accuracy)
        self.offer_to_board(epoch, out, accuracy, plan.cost(arch), x)

    def offer_to_board(self, epoch: int, out: StepLoss, accuracy: float, cost: float, x) -> None:
        arch = out.arch
        on_board = any(e.arch == arch for e in self.board.entries)
        if not on_board and not self.board.admits(accuracy, cost):
            return
        ctx, n = self.search.ctx, self.search.cfg.search.slice_size
        # Stored in the run's memory format, so forwards over the board see one input layout as well as one shape.
        images = ctx.to_device(ctx.broadcast(x[:n].detach().contiguous()))
        # the paper's code stores the step's teacher's soft labels once the board has a teacher; we store the path's own
        teacher_labels = self.search.cfg.search.board_labels == "teacher" and self.teacher_probs is not None
        soft = self.teacher_probs[:n] if teacher_labels else F.softmax(out.logits[:n].detach(), dim=1)
        probs = ctx.broadcast(soft.contiguous())
        before = list(self.board.entries)
        if self.board.consider(arch, accuracy, cost, images, probs):
            self.search.counters["board_changes"] += 1
            self.record_board_changes(epoch, before)

    def record_board_changes(self, epoch: int, before: list) -> None:
        """The entries that left the board and those that entered it since ``before`` (a path refreshed in place
        leaves with its old accuracy and enters with its new one)."""
        after, table = self.board.entries, self.search.plan.table
        left = [e for e in before if not any(e is a for a in after)]
        entered = [e for e in after if not any(e is b for b in before)]
        for event, entries in (("leave", left), ("enter", entered)):
            for e in entries:
                self.records.add_board_event(self.search.step, epoch + 1, event, str(e.arch), table.macs(e.arch),
                                             e.accuracy)

    def epoch_figures(self) -> dict:
        self.search.ctx.check_agree([(str(e.arch), e.accuracy) for e in self.board.entries], "prioritized board")
        row = {**self.figures.row(), "board_size": len(self.board)}
        self.figures = DistillSums()
        return row

    def epoch_text(self, row: dict) -> str:
        return f"board {row['board_size']}  distilled {100 * row['distill_fraction']:.0f}% of steps"

    def progress_figures(self) -> dict:
        return {"board": len(self.board)}

    def result_figures(self, ranked: list[dict]) -> dict:
        """Each candidate's accuracy on the batch it was last seen on (None off the board), and the board's."""
        batch_accuracy = {str(e.arch): e.accuracy for e in self.board.entries}
        for r in ranked:
            r["batch_accuracy"] = batch_accuracy.get(r["arch"])
        return {"board": [r for r in ranked if r["batch_accuracy"] is not None]}

    def candidates(self) -> list[Arch]:
        if len(self.board):
            self.search.log.info(f"final selection over the {len(self.board)} board paths")
            return [e.arch for e in self.board.entries]
        self.search.log.info("the board is empty (warm-up covered the whole run?); choosing among random paths")
        return super().candidates()

    def state_dict(self) -> dict:
        return {"meta_net": self.meta_net.state_dict(), "meta_optimizer": self.meta_optimizer.state_dict(),
                "board": self.board.state_dict(), "distill_sums": self.figures.sums}

    def load_state_dict(self, state: dict) -> None:
        self.meta_net.load_state_dict(state["meta_net"])
        self.meta_optimizer.load_state_dict(state["meta_optimizer"])
        self.board.load_state_dict(state["board"], self.search.ctx.device)
        # checkpoints before the rule kept its own figures: the search's sums held them
        self.figures = DistillSums(state.get("distill_sums", state["meter"]))

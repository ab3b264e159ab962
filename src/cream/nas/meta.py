"""Meta-matching: score board entries against the student, pick the teacher, and learn the scorer.

The scorer is one linear layer over (student softmax − entry's stored soft labels) on the entry's stored
images, averaged over those images. It learns with a second-order gradient: simulate one SGD step of the
student on the m-weighted KD loss, measure the updated student's cross-entropy on other data, and
differentiate that through the simulated step into the scorer alone (see ``meta_update``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.func import functional_call

from cream.nas.board import PrioritizedBoard
from cream.nas.distill import kd_loss


class MetaMatchingNetwork(nn.Module):
    per_entry = False  # scored on one forward over the board's whole batch

    def __init__(self, num_classes: int):
        super().__init__()
        self.linear = nn.Linear(num_classes, 1)

    def forward(self, student_probs: torch.Tensor, stored_probs: torch.Tensor) -> torch.Tensor:
        """(entries, images, classes) twice -> one score per entry."""
        return self.linear(student_probs - stored_probs).squeeze(-1).mean(dim=-1)


@dataclass
class TeacherChoice:
    index: int  # position on the board
    weight: float  # m: the distillation weight
    fell_back: bool = False  # the meta scores were not finite, so top1 was used


def match_scores(student_forward, meta_net: nn.Module, board: PrioritizedBoard) -> torch.Tensor:
    """One score per entry, from a single student forward over the board's fixed-size batch of images (or one
    forward per entry, for a network that asks for it: ``per_entry``). Student outputs carry no gradient."""
    if meta_net.per_entry:
        with torch.no_grad():
            probs, stored = entry_probs(student_forward, board)
        return meta_net(probs, stored)
    images, soft = board.batch()
    with torch.no_grad():
        probs = F.softmax(student_forward(images).float(), dim=1).view(soft.shape)
    return meta_net(probs, soft)[: len(board)]


def entry_probs(student_forward, board: PrioritizedBoard) -> tuple[torch.Tensor, torch.Tensor]:
    """(student softmax, stored soft labels), both (entries, images, classes), each entry's images in their own
    forward (BatchNorm over them alone, as the paper's code)."""
    probs = torch.stack([F.softmax(student_forward(e.images).float(), dim=1) for e in board.entries])
    return probs, torch.stack([e.soft_labels for e in board.entries])


def select_teacher(mode: str, board: PrioritizedBoard, student_forward=None, meta_net=None,
                   warn=print) -> TeacherChoice:
    """``top1``: the most accurate entry, m = 0.5. ``meta``: the best-scoring entry, m = sigmoid(its score).

    The scores stay on the device until one transfer brings back (all finite, best index, its m).
    """
    if mode == "top1":
        return TeacherChoice(0, 0.5)
    with torch.no_grad():
        scores = match_scores(student_forward, meta_net, board)
        finite, index, weight = torch.stack([torch.isfinite(scores).all().float(), scores.argmax().float(),
                                             torch.sigmoid(scores.max())]).tolist()
    if not finite:
        warn("warning: the meta-matching network gave non-finite scores; using the top1 teacher for this step")
        return TeacherChoice(0, 0.5, fell_back=True)
    return TeacherChoice(int(index), weight)


def flat(tensors: list[torch.Tensor]) -> torch.Tensor:
    """The tensors' elements in one vector (a single copy kernel)."""
    return torch.cat([t.reshape(-1) for t in tensors])


def meta_update(supernet: nn.Module, arch, meta_net: MetaMatchingNetwork, meta_optimizer, board: PrioritizedBoard,
                kd_slice, ce_slice, student_lr: float, clip: float = 1.0, reduce_grads=None) -> float:
    """One update of the meta network through a simulated student step; the supernet is left untouched.

    The objective is J(θ) = CE(w − lr·m(θ)·∇KD(w); ce_slice): the cross-entropy of the student after one
    simulated SGD step on the m-weighted KD loss of kd_slice. The simulated step depends on θ only through
    the scalar m, so its exact (second-order) gradient is dJ/dθ = −lr·⟨∇CE(w'), ∇KD(w)⟩·dm/dθ: two ordinary
    backward passes instead of a backward through a backward, which torch runs group by group for depthwise
    convolutions (minutes per update on a CPU).

    kd_slice: (images, teacher softmax outputs); ce_slice: (images, labels). Returns the judged CE.
    """
    path_ids = {id(t) for _, _, t in supernet.path_tensors(arch)}
    params = {n: p for n, p in supernet.named_parameters() if id(p) in path_ids}
    # Simulated steps must not move BN statistics: the path's buffers are copied (only the path's, since a
    # GPU step here is bound by kernel launches, one per tensor).
    buffers = {n: b.clone() for n, b in supernet.named_buffers() if id(b) in path_ids}

    def student(weights, x):
        return functional_call(supernet, {**weights, **buffers}, (x, arch))

    x_kd, teacher_probs = kd_slice
    kd_grads = torch.autograd.grad(kd_loss(student(params, x_kd).float(), teacher_probs), list(params.values()),
                                   allow_unused=True)
    names = [n for n, g in zip(params, kd_grads) if g is not None]  # the tensors the KD loss moves
    grads = [g for g in kd_grads if g is not None]
    scores = match_scores(lambda x: student(params, x), meta_net, board)
    m = torch.sigmoid(scores[scores.detach().argmax()])
    # w' = w - lr * m * grad, for all tensors in two multi-tensor ops; the others stay as they are
    steps = torch._foreach_mul(grads, student_lr * m.detach())
    stepped = torch._foreach_sub([params[n].detach() for n in names], steps)
    updated = {n: p.detach() for n, p in params.items()}
    updated.update((n, w.requires_grad_()) for n, w in zip(names, stepped))
    x_ce, y_ce = ce_slice
    judged = F.cross_entropy(student(updated, x_ce).float(), y_ce)
    ce_grads = torch.autograd.grad(judged, [updated[n] for n in names], allow_unused=True)
    pairs = [(a, g) for a, g in zip(ce_grads, grads) if a is not None]
    dj_dm = -student_lr * torch.dot(flat([a for a, _ in pairs]), flat([g for _, g in pairs]))

    step_meta(meta_net, meta_optimizer, m, dj_dm.detach(), clip, reduce_grads)
    return float(judged.detach())


def step_meta(meta_net: nn.Module, meta_optimizer, output: torch.Tensor, grad_output: torch.Tensor, clip: float,
              reduce_grads=None, wrt=None) -> None:
    """One step of the meta network along the gradient grad_output · d(output)/dθ, averaged over processes by
    ``reduce_grads``, clipped to norm ``clip`` (0: not clipped). ``wrt``: the tensors standing for θ in
    ``output``'s graph (default: the meta network's parameters themselves)."""
    wrt = list(meta_net.parameters() if wrt is None else wrt)
    grads = torch.autograd.grad(output, wrt, grad_outputs=grad_output, allow_unused=True)
    for p, g in zip(meta_net.parameters(), grads):
        p.grad = torch.zeros_like(p) if g is None else g
        if reduce_grads is not None:
            reduce_grads(p.grad)
    if clip > 0:
        nn.utils.clip_grad_norm_(meta_net.parameters(), clip)
    meta_optimizer.step()

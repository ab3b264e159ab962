"""The paper code's meta-matching rules (microsoft/Cream, lib/models/), behind ``search.meta_net``,
``search.meta_weight`` and ``search.meta_update`` set to ``paper`` (all three under ``search.fidelity=paper_code``).

- ``PaperMetaLayer``: one linear layer over an entry's (student − stored) soft labels of all its images flattened,
  uniform(−1, 1) weights and a zero bias (timm's EfficientNet init of a layer with one output).
- ``paper_teacher``: the best-scoring entry teaches, each entry's images forwarded on their own (BatchNorm over
  that entry's images, running statistics updated), and m = sigmoid(−score of the *last* entry), left in the
  autograd graph so that the main loss trains the meta layer (and the student, through those forwards).
- ``paper_meta_update``: on the batch's first slice, a real m-weighted distillation step of the student (clipped
  at norm 1); the student, after it, judged by label-smoothed cross-entropy on the second slice; the meta
  gradient through the simulated step of the stem's convolution alone, at the meta learning rate.
- One optimizer (``shared``): the paper's code keeps the meta layer in the supernet's SGD (a param group at the
  meta lr, no weight decay), so each ``optimizer.step()`` moves every tensor that holds a gradient, zero-filled
  ones too (torch 1.2's ``zero_grad``): the student's step also moves the meta layer by its momentum, the meta
  layer's step also moves the ops off the path by momentum and weight decay, and the main step moves both. SGD
  moves each tensor on its own, so two optimizers that always step together are that one optimizer; keeping two
  keeps the meta layer's gradients averaged over processes (it is outside DistributedDataParallel) before its
  step, and the supernet's optimizer and checkpoints as they are.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.func import functional_call

from cream.nas.board import PrioritizedBoard
from cream.nas.distill import kd_loss
from cream.nas.meta import entry_probs, step_meta
from cream.nas.strategy import clear_grads


class PaperMetaLayer(nn.Module):
    """Linear(classes × slice → 1) over an entry's flattened soft-label differences."""

    per_entry = True  # scored on each entry's own forward (``meta.entry_probs``)

    def __init__(self, num_classes: int, slice_size: int):
        super().__init__()
        self.linear = nn.Linear(num_classes * slice_size, 1)
        nn.init.uniform_(self.linear.weight, -1.0, 1.0)
        nn.init.zeros_(self.linear.bias)

    def forward(self, student_probs: torch.Tensor, stored_probs: torch.Tensor) -> torch.Tensor:
        """(entries, images, classes) twice -> one score per entry."""
        return self.linear((student_probs - stored_probs).flatten(1)).squeeze(-1)


def paper_teacher(student_forward, meta_net, board: PrioritizedBoard) -> tuple[int, torch.Tensor, bool]:
    """(teacher's board index: the best score's, m in the graph, whether the scores were all finite);
    ``meta_net``: the meta layer, or a function that scores as it does."""
    scores = meta_net(*entry_probs(student_forward, board))
    finite, index = torch.stack([torch.isfinite(scores).all().float(), scores.detach().argmax().float()]).tolist()
    return int(index), torch.sigmoid(-scores[-1]), bool(finite)


def paper_meta_update(supernet: nn.Module, arch, board: PrioritizedBoard, meta_net: nn.Module, meta_optimizer,
                      optimizer, x: torch.Tensor, y: torch.Tensor, slice_size: int, meta_lr: float,
                      label_smoothing: float, clip: float, dense: bool, reduce_grads=None,
                      shared: bool = False) -> float | None:
    """The paper's meta step on one batch: moves the student (one real step) and the meta layer. Returns the
    judged loss (None, nothing moved, when the scores were not finite). ``shared``: ``optimizer`` and
    ``meta_optimizer`` step together, as the paper's one optimizer (see the module's docstring).

    The paper's code differentiates through a graph whose saved weights its real step has already changed in
    place (torch 1.2); here the graph keeps the weights from before that step (the simulated step's own, and the
    meta layer's), which is what its formula means.
    """
    path = {id(p) for p in supernet.path_parameters(arch)}
    live = {n: p for n, p in supernet.named_parameters() if id(p) in path}
    before = {n: p.detach().clone().requires_grad_() for n, p in live.items()}
    meta_before = {n: p.detach().clone().requires_grad_() for n, p in meta_net.named_parameters()}
    buffers = dict(supernet.named_buffers())

    def student(images):
        return functional_call(supernet, {**before, **buffers}, (images, arch)).float()

    def scorer(student_probs, stored_probs):
        return functional_call(meta_net, meta_before, (student_probs, stored_probs))

    index, m, finite = paper_teacher(student, scorer, board)
    if not finite:
        return None
    x_kd, x_val, y_val = x[:slice_size], x[slice_size:2 * slice_size], y[slice_size:2 * slice_size]
    logits = student(x_kd)
    with torch.no_grad():
        teacher_probs = F.softmax(supernet(x_kd, board.entries[index].arch).float(), dim=1)
    grads = torch.autograd.grad(m * kd_loss(logits, teacher_probs), list(before.values()), create_graph=True)
    stem = next(iter(before))  # the stem's convolution: the first tensor the paper's code lists for a path
    simulated_stem = before[stem] - meta_lr * grads[0]

    clear_grads(optimizer, dense)
    for p, g in zip(live.values(), grads):
        p.grad = g.detach()
        if reduce_grads is not None:  # averaged over processes, so that replicas stay equal
            reduce_grads(p.grad)
    nn.utils.clip_grad_norm_(list(live.values()), 1.0)
    optimizer.step()
    if shared:  # the meta layer, without a gradient of its own here, moves by its momentum
        clear_grads(meta_optimizer, dense)
        meta_optimizer.step()
    for p in live.values():
        p.grad = None

    judged = F.cross_entropy(supernet(x_val, arch).float(), y_val, label_smoothing=label_smoothing)
    (stem_grad,) = torch.autograd.grad(judged, [live[stem]])
    step_meta(meta_net, meta_optimizer, simulated_stem, stem_grad, clip, reduce_grads, wrt=meta_before.values())
    if shared:  # the path's gradients are gone; the ops off it move by momentum and weight decay (dense)
        optimizer.step()
    return float(judged.detach())

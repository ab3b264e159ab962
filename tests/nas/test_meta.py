import math
import random

import pytest
import torch
import torch.nn.functional as F
from torch.func import functional_call

from cream.nas.board import PrioritizedBoard
from cream.nas.distill import cream_loss, kd_loss
from cream.nas.meta import MetaMatchingNetwork, match_scores, meta_update, select_teacher
from cream.space import Arch, NetSpec
from cream.space.supernet import Supernet

# Warnings are errors here: a loss or a score leaning on torch's deprecated implicit softmax dimension would
# compute the same numbers today but warn on every search step and break when torch drops the guess.
pytestmark = pytest.mark.filterwarnings("error")

SPEC = NetSpec(resolution=32, in_chans=1, num_classes=4, width=0.25)
DEPTHS = (1, 1, 1, 1, 1)


def make_board(supernet, n=3, slice_size=2, seed=0):
    torch.manual_seed(seed)
    board = PrioritizedBoard(size=n, margin=0)
    for i in range(n):
        arch = Arch.random(DEPTHS, random.Random(seed + i))
        images = torch.randn(slice_size, 1, 32, 32)
        with torch.no_grad():
            probs = F.softmax(supernet(images, arch), dim=1)
        board.consider(arch, 50.0 + i, 1.0 + i, images, probs)
    return board


def test_scores_come_from_one_batched_forward_over_all_entries():
    supernet = Supernet(SPEC, DEPTHS)
    board = make_board(supernet)
    calls = []

    def student(x):
        calls.append(len(x))
        return supernet(x, Arch.uniform(DEPTHS, 0))

    scores = match_scores(student, MetaMatchingNetwork(4), board)
    assert scores.shape == (3,) and calls == [6]


def test_teacher_is_the_best_scoring_entry_and_m_is_sigmoid_of_its_own_score():
    # Pins defect (a) of the paper's code: m came from the last entry's score with an inverted sign.
    supernet = Supernet(SPEC, DEPTHS)
    board = make_board(supernet)
    meta = MetaMatchingNetwork(4)
    student = lambda x: supernet(x, Arch.uniform(DEPTHS, 0))  # noqa: E731
    scores = match_scores(student, meta, board).detach()
    choice = select_teacher("meta", board, student, meta)
    best = int(scores.argmax())
    assert choice.index == best
    assert choice.weight == pytest.approx(float(torch.sigmoid(scores[best])))
    top1 = select_teacher("top1", board)
    assert (top1.index, top1.weight) == (0, 0.5)


def test_the_teacher_is_the_best_scoring_entry_wherever_it_sits_on_the_board():
    # The scorer below rewards the student's class-0 probability beyond the entry's own: score = mean(p0 - s0).
    # The student reads its class-0 logit off the image's first pixel. Entries, best accuracy first:
    #   70%: student logits (0, 0, 0, 0) -> p0 = 1/4,             stored s0 = 1/4  -> score 0
    #   60%: student logits (4, 0, 0, 0) -> p0 = e^4 / (e^4 + 3), stored s0 = 1/4  -> score p0 - 1/4 (best)
    #   50%: student logits (4, 0, 0, 0) -> p0 = e^4 / (e^4 + 3), stored s0 = 0.9  -> score p0 - 0.9
    # so the best match is the middle entry: neither the first (top1) nor the last one.
    def images(first_pixel):
        x = torch.zeros(2, 1, 32, 32)
        x[:, 0, 0, 0] = first_pixel
        return x

    def soft_labels(s0):
        return torch.tensor([[s0] + [(1 - s0) / 3] * 3] * 2)

    def student(x):
        logits = torch.zeros(len(x), 4)
        logits[:, 0] = x[:, 0, 0, 0]
        return logits

    board = PrioritizedBoard(size=3, margin=0)
    for op, accuracy, first_pixel, s0 in ((0, 50.0, 4.0, 0.9), (1, 70.0, 0.0, 0.25), (2, 60.0, 4.0, 0.25)):
        board.consider(Arch.uniform(DEPTHS, op), accuracy, 1.0, images(first_pixel), soft_labels(s0))
    assert [e.accuracy for e in board.entries] == [70.0, 60.0, 50.0]
    meta = MetaMatchingNetwork(4)
    with torch.no_grad():
        meta.linear.weight.copy_(torch.tensor([[1.0, 0.0, 0.0, 0.0]]))
        meta.linear.bias.zero_()
    p0 = math.exp(4) / (math.exp(4) + 3)

    choice = select_teacher("meta", board, student, meta)
    assert choice.index == 1 and board.entries[1].arch == Arch.uniform(DEPTHS, 2)
    assert choice.weight == pytest.approx(1 / (1 + math.exp(-(p0 - 0.25))))
    assert not choice.fell_back


def test_non_finite_meta_scores_fall_back_to_top1_with_a_warning():
    # Pins defect (d): a NaN from the meta network ended in a bare assertion.
    supernet = Supernet(SPEC, DEPTHS)
    board = make_board(supernet)
    meta = MetaMatchingNetwork(4)
    with torch.no_grad():
        meta.linear.weight.fill_(float("nan"))
    warnings = []
    choice = select_teacher("meta", board, lambda x: supernet(x, Arch.uniform(DEPTHS, 1)), meta, warn=warnings.append)
    assert choice.fell_back and (choice.index, choice.weight) == (0, 0.5)
    assert warnings == ["warning: the meta-matching network gave non-finite scores; "
                        "using the top1 teacher for this step"]


def test_loss_weighting_distils_more_with_a_better_match():
    ce, kd = torch.tensor(2.0), torch.tensor(3.0)
    assert cream_loss(ce, kd, 0.0) == pytest.approx(2.0)  # m = 0: cross-entropy alone
    assert cream_loss(ce, kd, 0.25) == pytest.approx((0.25 * 3 + 1.75 * 2) / 2)
    assert cream_loss(ce, kd, 1.0) == pytest.approx((3 + 2) / 2)  # m = 1: KD and CE weigh the same
    assert cream_loss(torch.tensor(2.0), torch.tensor(1.0), 0.9) < cream_loss(torch.tensor(2.0), torch.tensor(1.0), 0.1)


def test_kd_loss_is_the_batch_mean_of_the_cross_entropy_with_the_teachers_soft_labels():
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
    teacher = torch.tensor([[0.75, 0.25], [0.5, 0.5]])
    # Row 1: log-softmax (2 - L1, -L1) with L1 = log(e^2 + 1), so KD = 0.75 (L1 - 2) + 0.25 L1 = L1 - 1.5.
    # Row 2: log-softmax (-L2, 1 - L2) with L2 = log(1 + e), so KD = 0.5 L2 + 0.5 (L2 - 1) = L2 - 0.5.
    row1, row2 = math.log(math.e ** 2 + 1) - 1.5, math.log(1 + math.e) - 0.5
    assert kd_loss(logits, teacher).item() == pytest.approx((row1 + row2) / 2)
    one_hot = torch.tensor([[1.0, 0.0]])
    assert kd_loss(logits[:1], one_hot) == pytest.approx(F.cross_entropy(logits[:1], torch.tensor([0])))


def meta_problem(dtype=torch.float64):
    torch.manual_seed(0)
    supernet = Supernet(SPEC, DEPTHS).to(dtype)
    board = make_board(supernet.float(), seed=1)
    supernet = supernet.to(dtype)
    for e in board.entries:
        e.images, e.soft_labels = e.images.to(dtype), e.soft_labels.to(dtype)
    meta = MetaMatchingNetwork(4).to(dtype)
    arch = Arch.uniform(DEPTHS, 3)
    x_kd = torch.randn(4, 1, 32, 32, dtype=dtype)
    teacher = F.softmax(torch.randn(4, 4, dtype=dtype), dim=1)
    x_ce, y_ce = torch.randn(4, 1, 32, 32, dtype=dtype), torch.tensor([0, 1, 2, 3])
    return supernet, board, meta, arch, (x_kd, teacher), (x_ce, y_ce)


def judged_loss(supernet, board, meta, arch, kd_slice, ce_slice, lr):
    """The meta objective written out directly: CE after one simulated SGD step on m·KD."""
    params = dict(supernet.named_parameters())
    buffers = {n: b.clone() for n, b in supernet.named_buffers()}
    scores = match_scores(lambda x: functional_call(supernet, {**params, **buffers}, (x, arch)), meta, board)
    m = torch.sigmoid(scores[scores.argmax()])
    loss = m * kd_loss(functional_call(supernet, {**params, **buffers}, (kd_slice[0], arch)), kd_slice[1])
    grads = torch.autograd.grad(loss, list(params.values()), allow_unused=True)
    updated = {n: p if g is None else p - lr * g for (n, p), g in zip(params.items(), grads)}
    return F.cross_entropy(functional_call(supernet, {**updated, **buffers}, (ce_slice[0], arch)), ce_slice[1])


def test_meta_update_is_second_order_and_changes_only_the_meta_network():
    supernet, board, meta, arch, kd_slice, ce_slice = meta_problem()
    lr = 0.5
    before_net = {k: v.clone() for k, v in supernet.state_dict().items()}
    # Finite differences of the objective in the meta network's bias: a first-order version (gradient
    # through the simulated step ignored) gives zero here, the true gradient does not.
    eps = 1e-5
    with torch.no_grad():
        meta.linear.bias += eps
    plus = judged_loss(supernet, board, meta, arch, kd_slice, ce_slice, lr).item()
    with torch.no_grad():
        meta.linear.bias -= 2 * eps
    minus = judged_loss(supernet, board, meta, arch, kd_slice, ce_slice, lr).item()
    with torch.no_grad():
        meta.linear.bias += eps
    numeric = (plus - minus) / (2 * eps)
    assert abs(numeric) > 1e-6

    opt = torch.optim.SGD(meta.parameters(), lr=0.0)
    meta_update(supernet, arch, meta, opt, board, kd_slice, ce_slice, lr, clip=0)
    assert meta.linear.bias.grad.item() == pytest.approx(numeric, rel=1e-4)
    for k, v in supernet.state_dict().items():
        assert torch.equal(v, before_net[k]), k
    assert all(p.grad is None for p in supernet.parameters())

    opt = torch.optim.SGD(meta.parameters(), lr=0.1)
    weight = meta.linear.weight.clone()
    meta_update(supernet, arch, meta, opt, board, kd_slice, ce_slice, lr, clip=1.0)
    assert not torch.equal(weight, meta.linear.weight)


def test_meta_gradients_are_reduced_across_processes_then_clipped_to_norm_1_by_default():
    # The raw gradient here has norm about 2.2 (with clip=0). reduce_grads stands in for the all-reduce of
    # two processes with equal gradients (a sum: doubling); clipping must see the reduced gradient, so that
    # every process clips, and steps, alike.
    supernet, board, meta, arch, kd_slice, ce_slice = meta_problem()
    opt = torch.optim.SGD(meta.parameters(), lr=0.0)
    meta_update(supernet, arch, meta, opt, board, kd_slice, ce_slice, 0.5, clip=0)
    raw = [p.grad.clone() for p in meta.parameters()]
    raw_norm = float(torch.cat([g.flatten() for g in raw]).norm())
    assert raw_norm > 2

    def doubled(grad):
        grad.mul_(2)

    meta_update(supernet, arch, meta, opt, board, kd_slice, ce_slice, 0.5, clip=0, reduce_grads=doubled)
    for p, g in zip(meta.parameters(), raw):
        assert torch.allclose(p.grad, 2 * g)

    meta_update(supernet, arch, meta, opt, board, kd_slice, ce_slice, 0.5, reduce_grads=doubled)  # default clip
    for p, g in zip(meta.parameters(), raw):
        assert torch.allclose(p.grad, g / raw_norm)  # 2g scaled to norm 1: same direction

"""The paper code's meta-matching rules (search.meta_net / meta_weight / meta_update = paper) against the paper's
code (microsoft/Cream, lib/models/PrioritizedBoard.py and MetaMatchingNetwork.py) rewritten here in plain torch."""

import copy
import random

import pytest
import torch
import torch.nn.functional as F

from cream.nas.board import PrioritizedBoard
from cream.nas.meta import match_scores
from cream.nas.paper_meta import PaperMetaLayer, paper_meta_update, paper_teacher
from cream.space import Arch, NetSpec
from cream.space.supernet import Supernet

SPEC = NetSpec(resolution=32, in_chans=1, num_classes=4, width=0.25)
DEPTHS = (1, 1, 1, 1, 1)
SLICE = 4


def problem(seed=0, dtype=torch.float32):
    """A supernet in training mode, a board of 3 paths (4 images each), a paper meta layer and a student path."""
    torch.manual_seed(seed)
    supernet = Supernet(SPEC, DEPTHS).to(dtype)
    board = PrioritizedBoard(size=3, margin=0)
    for i in range(3):
        arch = Arch.random(DEPTHS, random.Random(seed + i))
        images = torch.randn(SLICE, 1, 32, 32, dtype=dtype)
        with torch.no_grad():
            board.consider(arch, 50.0 + i, 1.0, images, F.softmax(supernet(images, arch), dim=1))
    return supernet, board, PaperMetaLayer(4, SLICE).to(dtype), Arch.random(DEPTHS, random.Random(seed + 10))


def paper_select_teacher(net, layer, board, arch):
    """PrioritizedBoard.select_teacher (PICK_METHOD meta): a forward per entry, the best score teaches, and
    meta_value = sigmoid(-weight) of the loop's last weight."""
    meta_value, index, weight = -1e9, -1, None
    for i, entry in enumerate(board.entries):
        output = F.softmax(net(entry.images, arch), dim=1)
        weight = layer.linear((output - entry.soft_labels).view(1, -1))  # forward_meta
        if weight > meta_value:
            meta_value, index = weight, i
    return index, torch.sigmoid(-weight).squeeze()


def test_the_paper_meta_layer_is_one_linear_map_of_the_flattened_differences_initialised_uniform_in_pm1():
    torch.manual_seed(0)
    layer = PaperMetaLayer(num_classes=10, slice_size=4)
    w, b = layer.linear.weight, layer.linear.bias
    assert w.shape == (1, 40) and b.shape == (1,)
    assert (w.abs() <= 1).all() and w.abs().max() > 0.9 and w.std() > 0.5  # uniform(-1, 1): std 0.577
    assert torch.equal(b, torch.zeros(1))
    student, stored = torch.rand(3, 4, 10), torch.rand(3, 4, 10)
    expected = [float(w[0].detach() @ (student[e] - stored[e]).reshape(-1)) for e in range(3)]
    assert layer(student, stored).tolist() == pytest.approx(expected, rel=1e-5)


def test_the_paper_teacher_is_the_best_score_and_m_the_last_entrys_negated_kept_in_the_graph():
    for seed in range(20):  # a board where the best match is not the last entry, so the two rules differ
        supernet, board, layer, arch = problem(seed)
        with torch.no_grad():
            scores = match_scores(lambda x, net=supernet, path=arch: net(x, path), layer, board)
        if int(scores.argmax()) != len(board) - 1:
            break
    reference = copy.deepcopy((supernet, layer))
    forwards = []
    supernet.register_forward_hook(lambda module, args, out: forwards.append(len(args[0])))

    index, m, finite = paper_teacher(lambda x: supernet(x, arch), layer, board)
    expected_index, expected_m = paper_select_teacher(*reference, board, arch)
    assert finite and index == expected_index != len(board) - 1
    assert m.item() == pytest.approx(expected_m.item(), rel=1e-6)
    assert forwards == [SLICE] * len(board)  # one forward per entry: BatchNorm over its own images
    # in the graph: m trains the meta layer and the student path
    m.backward()
    expected_m.backward()
    for ours, theirs in zip([*layer.parameters(), *supernet.parameters()],
                            [*reference[1].parameters(), *reference[0].parameters()]):
        assert (ours.grad is None) == (theirs.grad is None)
        if ours.grad is not None:
            assert torch.allclose(ours.grad, theirs.grad, rtol=1e-5, atol=1e-8)
    assert layer.linear.weight.grad.abs().sum() > 0 and supernet.conv_stem.weight.grad.abs().sum() > 0


def paper_meta_step(net, layer, board, arch, x, y, optimizer, meta_optimizer, meta_lr):
    """MetaMatchingNetwork.run_update, plain: ``net`` before the real step holds the simulated step's graph, a
    copy takes the real step (the paper's code does both on one model, in place)."""
    sim, real = net, copy.deepcopy(net)
    real_opt = type(optimizer)(real.parameters(), **{k: v for k, v in optimizer.defaults.items()})
    index, meta_value = paper_select_teacher(sim, layer, board, arch)
    x_kd = x[:SLICE]
    output = sim(x_kd, arch)
    with torch.no_grad():
        soft_label = F.softmax(sim(x_kd, board.entries[index].arch), dim=1)
    kd = meta_value * torch.mean(torch.sum(-soft_label * F.log_softmax(output, dim=1), 1))
    sim_params, real_params = sim.path_parameters(arch), real.path_parameters(arch)
    grad_1st = torch.autograd.grad(kd, sim_params, create_graph=True)
    students_weight = [-g * meta_lr + w for w, g in zip(sim_params, grad_1st)]
    for w, g in zip(real_params, grad_1st):
        w.grad = g.detach().clone()
    torch.nn.utils.clip_grad_norm_(real_params, 1)
    real_opt.step()
    validation_loss = F.cross_entropy(real(x[SLICE:2 * SLICE], arch), y[SLICE:2 * SLICE], label_smoothing=0.1)
    grad_student_val = torch.autograd.grad(validation_loss, real_params)
    # the paper's call passes every tensor's gradient but only the first (the stem's) meets an output
    grad_teacher = torch.autograd.grad(students_weight[0], list(layer.parameters()), grad_outputs=grad_student_val[0])
    for p, g in zip(layer.parameters(), grad_teacher):
        p.grad = g
    meta_optimizer.step()
    return real, validation_loss.item()


def test_the_paper_meta_update_equals_the_papers_run_update():
    supernet, board, layer, arch = problem(seed=3)
    x, y = torch.randn(8, 1, 32, 32), torch.tensor([0, 1, 2, 3, 3, 2, 1, 0])
    opt = torch.optim.SGD(supernet.parameters(), lr=0.5, momentum=0.9, nesterov=True, weight_decay=1e-4)
    meta_opt = torch.optim.SGD(layer.parameters(), lr=0.01, momentum=0.9, nesterov=True)
    ref_net, ref_layer = copy.deepcopy(supernet), copy.deepcopy(layer)
    ref_meta_opt = torch.optim.SGD(ref_layer.parameters(), lr=0.01, momentum=0.9, nesterov=True)
    before = copy.deepcopy(supernet.state_dict())
    meta_before = [p.detach().clone() for p in layer.parameters()]

    judged = paper_meta_update(supernet, arch, board, layer, meta_opt, opt, x, y, SLICE, meta_lr=0.05,
                               label_smoothing=0.1, clip=0.0, dense=True)
    expected_net, expected_judged = paper_meta_step(ref_net, ref_layer, board, arch, x, y, opt, ref_meta_opt, 0.05)

    assert judged == pytest.approx(expected_judged, rel=1e-6)
    expected = dict(expected_net.named_parameters())
    moved = {n for n, p in supernet.named_parameters() if not torch.equal(p, before[n])}
    assert moved == {n for n, p in expected.items() if not torch.equal(p, before[n])}
    assert moved and "conv_stem.weight" in moved
    for n, p in supernet.named_parameters():
        assert torch.allclose(p, expected[n], rtol=1e-5, atol=1e-7), n
    for ours, theirs, old in zip(layer.parameters(), ref_layer.parameters(), meta_before):
        assert not torch.equal(ours, old)
        assert torch.allclose(ours, theirs, rtol=1e-5, atol=1e-8)

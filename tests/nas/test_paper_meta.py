"""The paper code's meta-matching rules (search.meta_net / meta_weight / meta_update = paper) against the paper's
code (microsoft/Cream, lib/models/PrioritizedBoard.py and MetaMatchingNetwork.py) rewritten here in plain torch."""

import copy
import random

import pytest
import torch
import torch.nn.functional as F

from cream.nas.board import PrioritizedBoard
from cream.nas.distill import cream_loss, kd_loss
from cream.nas.meta import match_scores
from cream.nas.paper_meta import PaperMetaLayer, paper_meta_update, paper_teacher
from cream.nas.strategy import clear_grads
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


# ---------------------------------------------------------------- one optimizer, as the paper's code


def torch12_zero_grad(params):
    """``optimizer.zero_grad()`` as in torch 1.2, which the paper's code ran: every gradient that exists is
    zero-filled, none is removed (so that tensor is still stepped, by momentum and weight decay)."""
    for p in params:
        if p.grad is not None:
            p.grad.detach_().zero_()


def paper_main_step(net, layer, board, arch, x, y, optimizer):
    """lib/core/train.py's step after the warm-up: select_teacher, (m kd + (2 - m) ce) / 2, one optimizer step."""
    index, meta_value = paper_select_teacher(net, layer, board, arch)
    output = net(x, arch)
    with torch.no_grad():
        soft_label = F.softmax(net(x, board.entries[index].arch), dim=1)
    kd = torch.mean(torch.sum(-soft_label * F.log_softmax(output, dim=1), 1))
    loss = (meta_value * kd + (2 - meta_value) * F.cross_entropy(output, y, label_smoothing=0.1)) / 2
    torch12_zero_grad([*net.parameters(), *layer.parameters()])
    loss.backward()
    optimizer.step()


def paper_run_update_one_optimizer(net, layer, board, arch, x, y, optimizer):
    """MetaMatchingNetwork.run_update with the meta layer in the supernet's optimizer (its last param group):
    ``net`` and ``layer`` take the real steps, copies from before them hold the simulated step's graph."""
    sim, sim_layer, everything = copy.deepcopy(net), copy.deepcopy(layer), [*net.parameters(), *layer.parameters()]
    index, meta_value = paper_select_teacher(sim, sim_layer, board, arch)
    output = sim(x[:SLICE], arch)
    with torch.no_grad():
        soft_label = F.softmax(sim(x[:SLICE], board.entries[index].arch), dim=1)
    kd = meta_value * torch.mean(torch.sum(-soft_label * F.log_softmax(output, dim=1), 1))
    torch12_zero_grad(everything)  # calculate_1st_gradient
    grad_1st = torch.autograd.grad(kd, sim.path_parameters(arch), create_graph=True)
    students_weight = [-g * optimizer.param_groups[-1]["lr"] + w for w, g in zip(sim.path_parameters(arch), grad_1st)]
    for w, g in zip(net.path_parameters(arch), grad_1st):  # update_student_weights_only
        w.grad = g.detach().clone()
    torch.nn.utils.clip_grad_norm_(net.path_parameters(arch), 1)
    optimizer.step()
    for w in net.path_parameters(arch):
        w.grad = None
    validation_loss = F.cross_entropy(net(x[SLICE:2 * SLICE], arch), y[SLICE:2 * SLICE], label_smoothing=0.1)
    torch12_zero_grad(everything)  # calculate_2nd_gradient
    grad_student_val = torch.autograd.grad(validation_loss, net.path_parameters(arch))
    grad_teacher = torch.autograd.grad(students_weight[0], list(sim_layer.parameters()),
                                       grad_outputs=grad_student_val[0])
    for p, g in zip(layer.parameters(), grad_teacher):  # update_meta_weights_only
        p.grad = g
    torch.nn.utils.clip_grad_norm_(list(layer.parameters()), 1)
    optimizer.step()
    for p in layer.parameters():
        p.grad = None


def our_main_step(net, layer, board, arch, x, y, optimizer, meta_optimizer):
    """Cream's step under search.fidelity=paper_code (Cream.loss, the trainer's update, Cream.after_update)."""
    clear_grads(meta_optimizer, dense=True)
    index, m, _ = paper_teacher(lambda images: net(images, arch), layer, board)
    logits = net(x, arch)
    with torch.no_grad():
        teacher_probs = F.softmax(net(x, board.entries[index].arch), dim=1)
    loss = cream_loss(F.cross_entropy(logits, y, label_smoothing=0.1), kd_loss(logits, teacher_probs), m)
    clear_grads(optimizer, dense=True)
    loss.backward()
    optimizer.step()
    meta_optimizer.step()


def test_under_paper_code_each_meta_step_moves_what_the_papers_one_optimizer_moves():
    # Two main steps on other paths first, so that ops off the meta step's path and the meta layer have momentum.
    supernet, board, layer, arch = problem(seed=3)
    others = [Arch.random(DEPTHS, random.Random(20 + i)) for i in range(2)]
    assert all(a != arch for a in others)
    x, y = torch.randn(8, 1, 32, 32), torch.tensor([0, 1, 2, 3, 3, 2, 1, 0])
    ref_net, ref_layer = copy.deepcopy(supernet), copy.deepcopy(layer)
    sgd = {"momentum": 0.9, "nesterov": True}
    one = torch.optim.SGD([{"params": ref_net.parameters(), "lr": 0.5, "weight_decay": 1e-2},
                           {"params": ref_layer.parameters(), "lr": 0.05, "weight_decay": 0.0}], **sgd)
    opt = torch.optim.SGD(supernet.parameters(), lr=0.5, weight_decay=1e-2, **sgd)
    meta_opt = torch.optim.SGD(layer.parameters(), lr=0.05, **sgd)  # as Cream builds it
    for other in others:
        paper_main_step(ref_net, ref_layer, board, other, x, y, one)
        our_main_step(supernet, layer, board, other, x, y, opt, meta_opt)
    before = {n: p.detach().clone() for n, p in supernet.named_parameters()}
    path = {id(p) for p in supernet.path_parameters(arch)}
    off_path = [n for n, p in supernet.named_parameters() if id(p) not in path and opt.state.get(p)]
    assert off_path  # ops with momentum that the meta step's path does not use

    paper_meta_update(supernet, arch, board, layer, meta_opt, opt, x, y, SLICE, meta_lr=0.05, label_smoothing=0.1,
                      clip=1.0, dense=True, shared=True)
    paper_run_update_one_optimizer(ref_net, ref_layer, board, arch, x, y, one)

    expected = dict(ref_net.named_parameters())
    for n, p in supernet.named_parameters():
        assert torch.allclose(p, expected[n], rtol=1e-5, atol=1e-7), n
    assert all(not torch.equal(before[n], dict(supernet.named_parameters())[n]) for n in off_path)
    for ours, theirs in zip(layer.parameters(), ref_layer.parameters()):
        assert torch.allclose(ours, theirs, rtol=1e-5, atol=1e-8)
    # and the next main step, with the momentum the meta step left
    paper_main_step(ref_net, ref_layer, board, arch, x, y, one)
    our_main_step(supernet, layer, board, arch, x, y, opt, meta_opt)
    for n, p in supernet.named_parameters():
        assert torch.allclose(p, expected[n], rtol=1e-5, atol=1e-7), n
    for ours, theirs in zip(layer.parameters(), ref_layer.parameters()):
        assert torch.allclose(ours, theirs, rtol=1e-5, atol=1e-8)

"""space.sharing=entangled: every op of a searchable block is a slice of the largest op's weights
(entangled_bn_per_op: BatchNorm excepted, each op keeping its own)."""

import random

import pytest
import torch
import torch.nn.functional as F
from timm.layers import make_divisible

from cream.errors import CreamError
from cream.space import Arch, NetSpec
from cream.space.arch import OPS
from cream.space.net import build_child
from cream.space.supernet import Supernet

SPEC = NetSpec(resolution=32, in_chans=1, num_classes=5, width=0.5)
DEPTHS = (1, 2, 1, 1, 1)


def entangled(seed=0, sharing="entangled", kernel_transform=False):
    torch.manual_seed(seed)
    return Supernet(SPEC, DEPTHS, sharing=sharing, kernel_transform=kernel_transform)


def expected_slice(name: str, tensor: torch.Tensor, kernel: int, expansion: int, in_chs: int):
    """An op's tensor from the largest op's, written out per tensor: the first in_chs x expansion expanded channels
    (mid), the first of SE's reduced ones (a quarter of mid, rounded to 8 as timm does), a k-kernel the centre
    k x k of the 7 x 7 one."""
    mid, c = in_chs * expansion, (7 - kernel) // 2
    rd = make_divisible(mid * 0.25, 8)
    if name == "conv_dw.weight":
        return tensor[:mid, :, c:c + kernel, c:c + kernel]
    if name == "conv_pw.weight" or name.startswith(("bn1.", "bn2.")) and tensor.dim() == 1:
        return tensor[:mid]
    if name == "se.conv_reduce.weight":
        return tensor[:rd, :mid]
    if name == "se.conv_reduce.bias":
        return tensor[:rd]
    if name == "se.conv_expand.weight":
        return tensor[:mid, :rd]
    if name == "se.conv_expand.bias":
        return tensor[:mid]
    if name == "conv_pwl.weight":
        return tensor[:, :mid]
    return tensor  # bn3, and the counters


@pytest.mark.parametrize("op", range(6))
def test_every_op_extracted_is_the_slice_of_the_shared_weights(op):
    supernet = entangled()
    with torch.no_grad():  # running statistics that differ by channel, so a wrong slice shows
        for b in supernet.buffers():
            if b.dtype.is_floating_point:
                b.copy_(torch.rand_like(b) + 0.5)
    arch = Arch.uniform(DEPTHS, op)
    child = supernet.extract(arch).state_dict()
    kernel, expansion = OPS[op]
    largest = supernet.blocks[2][1].largest
    for name, tensor in largest.state_dict().items():
        expected = expected_slice(name, tensor, kernel, expansion, largest.conv_pw.in_channels)
        assert torch.equal(child[f"blocks.2.1.{name}"], expected), name
    assert len(supernet.path_parameters(arch)) == len(list(build_child(arch, SPEC).parameters()))


@pytest.mark.parametrize("op", range(6))
def test_with_batchnorm_per_op_an_op_uses_its_own_batchnorm_and_the_shared_slices_for_the_rest(op):
    supernet = entangled(sharing="entangled_bn_per_op")
    with torch.no_grad():  # every tensor distinct, so taking the wrong one shows
        for t in supernet.state_dict().values():
            if t.dtype.is_floating_point:
                t.copy_(torch.rand_like(t) + 0.5)
    child = supernet.extract(Arch.uniform(DEPTHS, op)).state_dict()
    block = supernet.blocks[2][1]
    kernel, expansion = OPS[op]
    own = block.largest if op == 5 else block.norms[op]
    for name, tensor in block.largest.state_dict().items():
        if name.startswith(("bn1.", "bn2.", "bn3.")):
            expected = own.state_dict()[name]
        else:
            expected = expected_slice(name, tensor, kernel, expansion, block.largest.conv_pw.in_channels)
        assert torch.equal(child[f"blocks.2.1.{name}"], expected), name
    assert len(supernet.path_parameters(Arch.uniform(DEPTHS, op))) == len(list(build_child(Arch.uniform(DEPTHS, op),
                                                                                          SPEC).parameters()))


def test_with_batchnorm_per_op_a_step_moves_that_ops_batchnorm_only():
    supernet = entangled(sharing="entangled_bn_per_op").train()
    block = supernet.blocks[1][0]
    before = {k: v.clone() for k, v in supernet.state_dict().items()}
    F.cross_entropy(supernet(torch.randn(4, 1, 32, 32), Arch.uniform(DEPTHS, 2)), torch.tensor([0, 1, 2, 3])).backward()
    after = supernet.state_dict()
    moved = {k for k in before if not torch.equal(before[k], after[k])}  # running statistics
    assert {"blocks.1.0.norms.2.bn1.running_mean", "blocks.1.0.norms.2.bn3.running_var"} <= moved
    assert not any(".largest.bn" in k or (".norms." in k and ".norms.2." not in k) for k in moved)
    assert block.norms[2].bn1.weight.grad is not None and block.largest.bn1.weight.grad is None
    assert block.largest.conv_dw.weight.grad is not None  # the convolutions stay shared


@pytest.mark.parametrize("sharing", ["entangled", "entangled_bn_per_op"])
def test_on_the_fashion_mnist_presets_space_an_entangled_supernet_has_under_a_third_of_the_parameters(sharing):
    spec, depths = NetSpec(resolution=28, in_chans=1, num_classes=10, width=0.5), (2, 2, 3, 2, 2)
    count = lambda net: sum(p.numel() for p in net.parameters())  # noqa: E731
    assert count(Supernet(spec, depths, sharing=sharing)) <= count(Supernet(spec, depths)) / 3


@pytest.mark.parametrize("op", range(6))
def test_with_kernel_transforms_a_smaller_kernel_is_a_learned_map_of_the_larger_ones_centre(op):
    supernet = entangled(kernel_transform=True)
    with torch.no_grad():  # transforms far from the identity, so skipping or misapplying one shows
        for p in supernet.parameters():
            p.copy_(torch.randn_like(p))
    block = supernet.blocks[2][1]
    child = supernet.extract(Arch.uniform(DEPTHS, op)).state_dict()
    kernel, expansion = OPS[op]
    mid = block.largest.conv_pw.in_channels * expansion
    weight = block.largest.conv_dw.weight[:mid, 0]  # (channels, 7, 7)
    for k in (5, 3)[:(7 - kernel) // 2]:
        centre = weight[:, (weight.shape[1] - k) // 2:, (weight.shape[2] - k) // 2:][:, :k, :k]
        weight = torch.einsum("ab,cb->ca", block.kernel_transforms[str(k)], centre.flatten(1)).view(-1, k, k)
    assert torch.allclose(child["blocks.2.1.conv_dw.weight"], weight.unsqueeze(1), atol=1e-5)
    pw = expected_slice("conv_pw.weight", block.largest.conv_pw.weight, kernel, expansion, mid // expansion)
    assert torch.equal(child["blocks.2.1.conv_pw.weight"], pw)


@pytest.mark.parametrize("op, trained", [(0, {"5", "3"}), (3, {"5"}), (5, set())])
def test_a_step_trains_the_kernel_transforms_its_kernel_goes_through(op, trained):
    supernet = entangled(kernel_transform=True).train()
    arch = Arch.uniform(DEPTHS, op)
    F.cross_entropy(supernet(torch.randn(4, 1, 32, 32), arch), torch.tensor([0, 1, 2, 3])).backward()
    transforms = supernet.blocks[1][0].kernel_transforms
    assert {k for k, t in transforms.items() if t.grad is not None and t.grad.abs().sum() > 0} == trained
    used = {id(p) for p in supernet.path_parameters(arch)}
    assert {k for k, t in transforms.items() if id(t) in used} == trained


def test_kernel_transforms_need_entangled_weights():
    with pytest.raises(CreamError, match="set space.sharing=entangled"):
        Supernet(SPEC, DEPTHS, kernel_transform=True)


@pytest.mark.parametrize("sharing, kernel_transform", [("entangled", False), ("entangled_bn_per_op", False),
                                                       ("entangled", True)])
def test_a_child_extracted_after_a_training_step_computes_what_the_supernet_path_does(sharing, kernel_transform):
    supernet = entangled(sharing=sharing, kernel_transform=kernel_transform)
    opt = torch.optim.SGD(supernet.parameters(), lr=0.5, momentum=0.9)
    x, y = torch.randn(6, 1, 32, 32), torch.tensor([0, 1, 2, 3, 4, 0])
    for seed in range(2):
        arch = Arch.random(DEPTHS, random.Random(seed))
        F.cross_entropy(supernet(x, arch), y).backward()
        opt.step()
        opt.zero_grad()
    supernet.eval()
    for seed in range(4):
        arch = Arch.random(DEPTHS, random.Random(seed))
        fresh = build_child(arch, SPEC)  # a fresh child net given the slices as its weights
        fresh.load_state_dict({k: v.detach().clone() for k, v in supernet.path_state(arch)})
        assert torch.allclose(supernet(x, arch), fresh.eval()(x), rtol=1e-5, atol=1e-6)


def test_a_kernel_3_step_moves_the_centre_of_the_kernel_7_weights_and_nothing_outside_it():
    supernet = entangled()
    supernet.train()
    arch = Arch.uniform(DEPTHS, 0)  # kernel 3, expansion 4 everywhere
    dw = supernet.blocks[1][0].largest.conv_dw.weight
    before = dw.detach().clone()
    F.cross_entropy(supernet(torch.randn(4, 1, 32, 32), arch), torch.tensor([0, 1, 2, 3])).backward()
    with torch.no_grad():
        dw -= 0.1 * dw.grad
    moved = (dw.detach() != before)
    mid = dw.shape[0] * 4 // 6
    inside = torch.zeros_like(moved)
    inside[:mid, :, 2:5, 2:5] = True
    assert moved[inside].any() and not moved[~inside].any()


def test_batchnorm_statistics_of_an_op_update_its_slice_of_the_shared_buffers():
    supernet = entangled()
    bn = supernet.blocks[1][0].largest.bn1
    before = bn.running_mean.clone()
    supernet.train()(torch.randn(4, 1, 32, 32), Arch.uniform(DEPTHS, 2))  # kernel 5, expansion 4
    mid = len(before) * 4 // 6
    assert not torch.equal(bn.running_mean[:mid], before[:mid]) and torch.equal(bn.running_mean[mid:], before[mid:])

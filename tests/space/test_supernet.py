import random

import torch

from cream.space import Arch, NetSpec
from cream.space.supernet import MAX_DEPTHS, Supernet

SPEC = NetSpec(resolution=32, in_chans=3, num_classes=7, width=0.5)


def test_extracted_child_equals_the_supernet_path_in_eval_mode():
    torch.manual_seed(0)
    supernet = Supernet(SPEC, MAX_DEPTHS)
    supernet.train()
    for _ in range(3):  # give BatchNorm non-trivial running statistics
        supernet(torch.randn(8, 3, 32, 32), Arch.random(MAX_DEPTHS, random.Random(1)))
    supernet.eval()
    x = torch.randn(4, 3, 32, 32)
    for seed in range(3):
        arch = Arch.random((2, 3, 5, 1, 6), random.Random(seed))
        child = supernet.extract(arch).eval()
        with torch.no_grad():
            assert torch.allclose(child(x), supernet(x, arch), atol=1e-5)


def test_forward_runs_exactly_one_path():
    supernet = Supernet(SPEC, (2, 2, 2, 2, 2))
    arch = Arch.parse("01-23-45-01-23")
    supernet(torch.randn(2, 3, 32, 32), arch).sum().backward()
    used = {id(p) for p in supernet.path_parameters(arch)}
    for p in supernet.parameters():
        assert (p.grad is not None) == (id(p) in used)


def test_too_deep_arch_is_refused():
    import pytest

    from cream.errors import CreamError

    with pytest.raises(CreamError, match="deeper than the supernet"):
        Supernet(SPEC, (1, 1, 1, 1, 1)).check(Arch.parse("00-0-0-0-0"))

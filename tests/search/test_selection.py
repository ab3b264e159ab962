"""Final selection: each candidate is judged as a child net, BatchNorm re-estimated on fixed training batches,
on search-val; the in-budget ones come back best first."""

import itertools

import pytest
import torch

from cream.config import DataConfig
from cream.data import build_data
from cream.engine.context import RunContext
from cream.engine.evaluate import evaluate, recalibrate_bn
from cream.errors import CreamError
from cream.search.selection import evaluate_path, select_final
from cream.space import Arch, NetSpec
from cream.space.budget import plan_space
from cream.space.supernet import Supernet

CPU = RunContext(torch.device("cpu"))
PLAN = plan_space(NetSpec(resolution=28, in_chans=1, num_classes=10, width=0.25), 1.0, 2.0)


@pytest.fixture
def problem(tiny_fashion_mnist):
    """A fresh supernet whose BatchNorm statistics are not the initial 0 and 1, and the tiny data set."""
    torch.manual_seed(0)
    supernet = Supernet(PLAN.spec, PLAN.depths)
    for m in supernet.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.fill_(0.1)
            m.running_var.fill_(2.0)
    data = build_data(DataConfig(root=str(tiny_fashion_mnist), val_fraction=0.2, batch_size=8,
                                 eval_batch_size=8), 28, 1, "search")
    return supernet, data


def judged_by_hand(supernet, arch, data, bn_batches, val_images, seed=0):
    child = supernet.extract(arch)
    if bn_batches:
        recalibrate_bn(child, child, itertools.islice(data.train.batches(epoch=10_000 + seed), bn_batches), CPU)
    return evaluate(child.eval(), data.val, CPU, max_images=val_images)


def test_a_path_is_judged_with_batchnorm_from_fixed_training_batches_on_at_most_val_images(problem):
    supernet, data = problem
    arch = Arch.uniform(PLAN.depths, 1)
    got = evaluate_path(supernet, arch, data, CPU, 2, 16)
    assert got == judged_by_hand(supernet, arch, data, 2, 16) and got["images"] == 16
    assert evaluate_path(supernet, arch, data, CPU, 2, 16, seed=5) == judged_by_hand(supernet, arch, data, 2, 16, 5)
    # bn_batches=0 keeps the supernet's own statistics
    assert evaluate_path(supernet, arch, data, CPU, 0, 16) == judged_by_hand(supernet, arch, data, 0, 16)


def test_final_selection_judges_in_budget_candidates_once_and_ranks_them_best_first(problem):
    supernet, data = problem
    inside = [Arch.uniform(PLAN.depths, op) for op in (1, 3, 4)]
    outside = Arch.uniform(PLAN.depths, 0)
    assert all(PLAN.in_budget(a) for a in inside) and not PLAN.in_budget(outside)
    lines = []
    results = select_final(supernet, [inside[0], outside, inside[1], inside[0], inside[2]], PLAN, data, CPU, 1, 16,
                           log=lines.append)
    expected = []
    for arch in inside:
        m = judged_by_hand(supernet, arch, data, 1, 16)
        expected.append({"arch": str(arch), "flops": PLAN.table.macs(arch), "params": PLAN.table.params(arch),
                         "val_top1": m["top1"], "val_top5": m["top5"], "val_loss": m["loss"]})
    assert lines == [f"  candidate {r['arch']}  {r['flops']:.2f} M  search-val top-1 {r['val_top1']:.2f}%"
                     for r in expected]
    assert results == sorted(expected, key=lambda r: (-r["val_top1"], r["flops"]))  # accuracy, then fewer FLOPs

    with pytest.raises(CreamError, match=r"^no candidate path lies inside \[1, 2\] M multiply-adds, so nothing can be "
                                         "selected; widen the range or train longer so the board fills$"):
        select_final(supernet, [outside], PLAN, data, CPU, 1, 16, log=lines.append)

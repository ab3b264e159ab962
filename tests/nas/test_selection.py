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
from cream.nas.selection import evaluate_path, select_final
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


def test_equally_accurate_candidates_go_to_the_quicker_one_with_a_latency_table(tmp_path, monkeypatch):
    from cream.nas import selection
    from cream.space.latency_table import load_latency_table
    from tests.latency_tables import write_table

    spec = NetSpec(resolution=28, in_chans=1, num_classes=10, width=0.5)
    table = load_latency_table(write_table(tmp_path / "t.json", block_ms=lambda s, b, op: 10 - op), spec)
    depths = (1, 1, 1, 1, 1)
    light, quick = Arch.uniform(depths, 0), Arch.uniform(depths, 5)  # fewer multiply-adds; less predicted latency
    monkeypatch.setattr(selection, "evaluate_path", lambda *args: {"top1": 50.0, "top5": 90.0, "loss": 1.0})
    by_flops = select_final(None, [quick, light], plan_space(spec, 0, 8, depths), None, CPU, 0, 1, log=[].append)
    assert [r["arch"] for r in by_flops] == [str(light), str(quick)] and "latency_ms" not in by_flops[0]
    lines = []
    by_latency = select_final(None, [light, quick], plan_space(spec, 0, 8, depths, table), None, CPU, 0, 1,
                              log=lines.append)
    assert [(r["arch"], r["latency_ms"]) for r in by_latency] == [(str(quick), 35), (str(light), 60)]  # 10 + 5 x 5
    assert lines[0] == f"  candidate {light}  {by_latency[1]['flops']:.2f} M  60 ms  search-val top-1 50.00%"

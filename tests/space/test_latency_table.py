import json

import pytest
import torch
import torch.nn as nn

from cream.config import SpaceConfig
from cream.errors import CreamError
from cream.nas.sampler import PathSampler
from cream.space import Arch, NetSpec
from cream.space.budget import plan_from_config, plan_space
from cream.space.flops import measure_table
from cream.space.latency_table import device_name, load_latency_table, measure_latency_table
from cream.space.net import build_child
from tests.latency_tables import DEPTHS, FM_NET, table_json, write_table

SPEC = NetSpec(resolution=28, in_chans=1, num_classes=10, width=0.5)
CPU = torch.device("cpu")
MAKE = ("cream latency-table --device cpu --resolution 28 --in-chans 1 --num-classes 10 --width 0.5 --batch 1 "
        "--threads 1 --out FILE")


def load(path):
    return load_latency_table(path, SPEC, CPU, channels_last=True, bf16=False)


def three_and_one(s, b, op):
    """Op 5 takes 3 ms, every other op 1 ms (with fixed parts of 1 ms in all, a path of n blocks with f fives
    takes 1 + n + 2f ms)."""
    return 3.0 if op == 5 else 1.0


def test_predicted_latency_is_the_sum_of_the_fixed_parts_and_the_chosen_ops(tmp_path):
    table = load(write_table(tmp_path / "t.json"))  # fixed parts 1+2+3+4; stage s, block b, op k: 100(s+1)+10b+k
    assert table.ms(Arch.parse("5-01-2-3-4")) == 1735  # 10 + 105 + (200 + 211) + 302 + 403 + 504
    assert table.ms(Arch.parse("0-0-0-0-0")) == 1510
    assert table.batch == 1 and table.threads == 1 and table.resolution == 28


def test_fastest_and_slowest_paths_take_the_quickest_and_slowest_op_at_each_position(tmp_path):
    def cost(s, b, op):  # op k costs k ms, except at stage 2 block 1, where op 0 costs 9
        return 9 if (s, b, op) == (2, 1, 0) else op

    table = load(write_table(tmp_path / "t.json", block_ms=cost))
    assert str(table.fastest((1, 1, 2, 1, 1))) == "0-0-01-0-0"
    assert str(table.slowest((1, 1, 2, 1, 1))) == "5-5-50-5-5"


def test_depths_grow_while_the_slowest_path_fits_the_latency_budget(tmp_path):
    table = load(write_table(tmp_path / "t.json", block_ms=three_and_one, fixed=(0.25,) * 4))
    # The slowest path at depths D takes 1 + 3 sum(D) ms <= 25: from 5 blocks, stages 2, 3, 4 grow one each.
    plan = plan_space(SPEC, 0, None, latency=table, latency_max=25)
    assert plan.depths == (1, 1, 2, 2, 2) and plan.flops_max == float("inf")
    assert plan_space(SPEC, 0, None, latency=table, latency_max=24.9).depths == (1, 1, 2, 2, 1)
    assert plan_space(SPEC, 0, None, latency=table).depths == DEPTHS  # no limit at all
    assert plan.budget_text() == "[0, 25] ms predicted latency"


def test_a_latency_range_excludes_known_paths_from_the_plan_and_the_sampler(tmp_path):
    table = load(write_table(tmp_path / "t.json", block_ms=three_and_one, fixed=(0.25,) * 4))
    plan = plan_space(SPEC, 0, 8, (1, 1, 2, 2, 2), table, latency_min=13, latency_max=19)
    # 8 blocks with f fives take 9 + 2f ms: in budget for 2 <= f <= 5.
    assert plan.in_budget(Arch.parse("5-5-00-00-00")) and plan.in_budget(Arch.parse("5-5-50-50-50"))
    assert not plan.in_budget(Arch.parse("5-0-00-00-00"))  # 11 ms
    assert not plan.in_budget(Arch.parse("5-5-55-50-50"))  # 21 ms
    assert plan.budget_text() == "[0, 8] M multiply-adds and [13, 19] ms predicted latency"
    assert plan.cost(Arch.parse("5-5-00-00-00")) == 13  # ties break on latency, not multiply-adds
    fives = [str(PathSampler(plan, seed=3).sample(step)).count("5") for step in range(40)]
    assert min(fives) >= 2 and max(fives) <= 5 and len(set(fives)) > 1


def test_multiply_adds_and_latency_bound_the_space_together(tmp_path):
    table = load(write_table(tmp_path / "t.json", block_ms=three_and_one, fixed=(0.25,) * 4))
    flops = measure_table(SPEC)
    small = flops.macs(Arch.uniform((1, 1, 2, 1, 1), 5))
    assert plan_space(SPEC, 0, small, latency=table, latency_max=25).depths == (1, 1, 2, 1, 1)  # FLOPs stop first
    assert plan_space(SPEC, 0, 8, latency=table, latency_max=25).depths == (1, 1, 2, 2, 2)  # latency stops first
    least = flops.macs(Arch.uniform((1, 1, 2, 1, 1), 0))
    plan = plan_space(SPEC, least + 0.01, small, (1, 1, 2, 1, 1), table, latency_max=16)
    # 6 blocks with f fives take 7 + 2f ms
    assert plan.in_budget(Arch.parse("5-5-55-0-0"))  # 15 ms
    assert not plan.in_budget(Arch.parse("5-5-55-5-0"))  # 17 ms
    assert not plan.in_budget(Arch.parse("0-0-00-0-0"))  # 7 ms, but too few multiply-adds


@pytest.mark.parametrize("kwargs, message", [
    ({"latency_max": 5}, r"^latency range \[0, 5\] ms is impossible: the fastest net takes 6 ms \(predicted on cpu "),
    ({"latency_min": 100}, r"^latency range \[100, inf\] ms is impossible: the slowest net takes only 82 ms"),
    ({"latency_min": 25.5, "latency_max": 25}, r"^latency range is empty: latency_min=25.5 is above latency_max=25$"),
    ({"latency_min": 25, "latency_max": 25.9}, None),
    ({"latency_min": 25.5, "latency_max": 26}, r"^latency range \[25.5, 26\] ms is too narrow: the depths grown to "
                                               r"fit the budget, \[1, 1, 2, 2, 2\], reach at most 25 ms"),
    ({"depths": (1, 1, 1, 1, 1), "latency_min": 17, "latency_max": 20},
     r"^latency range \[17, 20\] ms holds no path at depths \(1, 1, 1, 1, 1\): they cover 6..16 ms"),
    ({"latency_max": -1}, r"^latency_max must be a non-negative number of milliseconds, got -1$"),
])
def test_impossible_latency_ranges_say_what_the_space_covers(tmp_path, kwargs, message):
    table = load(write_table(tmp_path / "t.json", block_ms=three_and_one, fixed=(0.25,) * 4))
    if message is None:
        assert plan_space(SPEC, 0, None, latency=table, **kwargs).depths == (1, 1, 2, 2, 2)
        return
    with pytest.raises(CreamError, match=message):
        plan_space(SPEC, 0, None, latency=table, **kwargs)


def test_a_flops_budget_that_lowers_the_resolution_refuses_the_table_for_the_old_one(tmp_path):
    spec = NetSpec(resolution=96, in_chans=1, num_classes=10, width=0.5)
    net = {**FM_NET, "resolution": 96, "stage_strides": [2, 2, 2, 1, 2]}
    table = load_latency_table(write_table(tmp_path / "t.json", net=net), spec, CPU)
    tight = 0.9 * measure_table(spec).macs(Arch.uniform((1,) * 5, 0))  # the smallest net at 96 px is too big
    with pytest.raises(CreamError, match=r"lowers the resolution to 64 px, but the latency table is for 96 px; raise "
                                         r"flops_max, or make a table at 64 px"):
        plan_space(spec, 0, tight, latency=table, latency_max=1000)


@pytest.mark.parametrize("kwargs", [{"latency_min": 3}, {"latency_max": 5}, {"latency_min": 3, "latency_max": 5}])
def test_a_latency_limit_without_a_table_is_refused_not_ignored(kwargs):
    with pytest.raises(CreamError, match=r"^latency_min and latency_max need a latency table \(--latency-table FILE, "
                                         rf"or space.latency_table=FILE\); make one with: {MAKE}$"):
        plan_space(SPEC, 0, 8, **kwargs)


def test_a_latency_range_without_a_table_is_refused_with_the_command_to_make_one():
    space = SpaceConfig(latency_max=5.0)
    with pytest.raises(CreamError, match="^space.latency_min and space.latency_max need space.latency_table=FILE; "
                                         f"make one with: {MAKE}$"):
        plan_from_config(space, CPU)


@pytest.mark.parametrize("write, message", [
    (None, f"does not exist; make it with: {MAKE}$"),
    (lambda p: p.write_text("{not json"),
     rf"is not readable \(Expecting property name .*\); make it again with: {MAKE}$"),
    (lambda p: write_table(p, kind="something else"), r"is not readable \(its 'kind' is not 'cream-latency-table'\)"),
    (lambda p: p.write_text(json.dumps({k: v for k, v in table_json().items() if k != "batch"})),
     r"is not readable \(it has no batch\)"),
    (lambda p: p.write_text(json.dumps({**table_json(), "block_ms": table_json()["block_ms"][:4]})),
     r"is not readable \(its 'block_ms' is not 6 ops at each of \[5, 5, 5, 6, 6\] positions per stage\)"),
    (lambda p: write_table(p, fixed=(1, 2, -3, 4)), r"is not readable \(-3 is not a number of milliseconds\)"),
    (lambda p: write_table(p, net={**FM_NET, "resolution": 32}),
     rf"was made for resolution 32 \(this run: 28\); make one for this run with: {MAKE}$"),
    (lambda p: write_table(p, net={**FM_NET, "width": 1.0}), r"was made for width 1.0 \(this run: 0.5\); make one"),
    (lambda p: write_table(p, device_name="Imaginary CPU 9000", threads=4, batch=32),
     rf"was made for another device, cpu 'Imaginary CPU 9000' \(this run: cpu '{device_name(CPU)}'\); make one for "
     r"this run with: .* --batch 32 --threads 4 --out FILE$"),
    (lambda p: write_table(p, device="cuda", device_name="NVIDIA H200"),
     r"was made for another device, cuda 'NVIDIA H200' \(this run: cpu"),
    (lambda p: write_table(p, channels_last=False), rf"was made for channels_last=False \(this run: True\); .*{MAKE}$"),
])
def test_a_table_that_is_missing_unreadable_or_for_another_net_or_device_is_refused_in_one_line(tmp_path, write,
                                                                                                 message):
    path = tmp_path / "t.json"
    if write is not None:
        write(path)
    with pytest.raises(CreamError, match=f"^latency table {path} .*{message}") as info:
        load(path)
    assert "\n" not in str(info.value)


def test_another_device_is_accepted_when_the_search_targets_it(tmp_path):
    path = write_table(tmp_path / "t.json", device_name="Imaginary CPU 9000")
    space = SpaceConfig(resolution=28, in_chans=1, width=0.5, latency_table=str(path), latency_max=2000.0)
    with pytest.raises(CreamError, match="another device"):
        plan_from_config(space, CPU, channels_last=True, bf16=False)
    space.latency_any_device = True
    assert plan_from_config(space, CPU, channels_last=True, bf16=False).latency.device_name == "Imaginary CPU 9000"


def test_every_op_is_timed_at_its_own_position_on_its_real_input():
    """A virtual clock advances with every convolution by its kernel, input side and output channels: each entry of
    the table must be that cost of the same op at the same position of a child net."""
    now = [0.0]

    def advance(module, args, out):
        if isinstance(module, nn.Conv2d):
            now[0] += module.kernel_size[0] * 1000 + args[0].shape[-1] + module.out_channels / 1000

    def cost_of(module, x):
        before = now[0]
        y = module(x)
        return now[0] - before, y

    handle = nn.modules.module.register_module_forward_hook(advance)
    try:
        table = measure_latency_table(SPEC, "cpu", batch=2, threads=1, repeats=2, warmup=1,
                                      clock=lambda: now[0] / 1e3)  # the clock reads seconds
        expected_blocks, expected_fixed = [], {}
        with torch.no_grad():
            for op in range(6):
                child = build_child(Arch.uniform(DEPTHS, op), SPEC).eval()
                expected_fixed["stem"], x = cost_of(child.conv_stem, torch.zeros(2, 1, 28, 28))
                expected_fixed["stage0"], x = cost_of(child.blocks[0], child.bn1(x))
                expected_blocks.append([])
                for stage in child.blocks[1:-1]:
                    expected_blocks[-1].append([])
                    for block in stage:
                        ms, x = cost_of(block, x)
                        expected_blocks[-1][-1].append(ms)
                expected_fixed["last_conv"], x = cost_of(child.blocks[-1], x)
                expected_fixed["head"], _ = cost_of(child.forward_head, x)
    finally:
        handle.remove()
    assert table.fixed_ms == pytest.approx(expected_fixed)
    for s, depth in enumerate(DEPTHS):
        for b in range(depth):
            assert table.block_ms[s][b] == pytest.approx([expected_blocks[op][s][b] for op in range(6)]), (s, b)
    assert (table.device, table.device_name, table.batch, table.threads) == ("cpu", device_name(CPU), 2, 1)
    assert table.net == FM_NET and (table.repeats, table.warmup, table.channels_last, table.bf16) == (2, 1, True, False)


def test_a_table_writes_and_reads_back_as_the_same_table(tmp_path):
    from cream.space.latency_table import write_latency_table

    table = load(write_table(tmp_path / "t.json"))
    write_latency_table(table, tmp_path / "copy" / "t.json")
    assert load(tmp_path / "copy" / "t.json") == table

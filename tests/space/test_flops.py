import random

import pytest
import torch

from cream.space import Arch, NetSpec
from cream.space.flops import FlopsTable, count_macs, count_params, measure_table
from cream.space.net import build_child
from cream.space.supernet import MAX_DEPTHS

SPEC = NetSpec(resolution=64, in_chans=3, num_classes=10)


def test_table_agrees_with_a_direct_count_of_the_child():
    table = measure_table(SPEC)
    for seed in range(5):
        rng = random.Random(seed)
        arch = Arch.random([rng.randint(1, m) for m in MAX_DEPTHS], rng)
        child = build_child(arch, SPEC).eval()
        assert table.macs(arch) == pytest.approx(count_macs(child, torch.zeros(1, 3, 64, 64)), rel=0.01)
        assert table.params(arch) == pytest.approx(count_params(child), rel=0.01)


def test_table_is_measured_at_the_configured_resolution_and_round_trips_json():
    small = measure_table(NetSpec(resolution=28, in_chans=1, num_classes=10, width=0.5))
    arch = Arch.parse("3-33-33-33-33")
    assert small.macs(arch) < measure_table(SPEC).macs(arch)
    assert FlopsTable.from_json(small.to_json()) == small

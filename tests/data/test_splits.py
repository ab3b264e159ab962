import pytest
import torch

from cream.data.splits import epoch_order, select_per_class, split_train_val
from cream.errors import CreamError

LABELS = torch.arange(10).repeat_interleave(50)


def test_split_is_deterministic_disjoint_and_stratified():
    train, val = split_train_val(LABELS, 0.2, seed=3)
    again_train, again_val = split_train_val(LABELS, 0.2, seed=3)
    assert torch.equal(train, again_train) and torch.equal(val, again_val)
    assert not set(train.tolist()) & set(val.tolist())
    assert len(train) + len(val) == len(LABELS)
    assert torch.bincount(LABELS[val]).tolist() == [10] * 10
    assert not torch.equal(val, split_train_val(LABELS, 0.2, seed=4)[1])


def test_select_per_class_keeps_the_asked_classes_and_counts():
    idx = select_per_class(LABELS, torch.arange(500), [2, 7], 5, seed=0)
    assert sorted(LABELS[idx].tolist()) == [2] * 5 + [7] * 5
    assert torch.equal(idx, select_per_class(LABELS, torch.arange(500), [2, 7], 5, seed=0))
    capped = select_per_class(LABELS, torch.arange(500), [1], 60, seed=0)  # a cap: all 50 of class 1 stay
    assert torch.equal(capped, torch.arange(50, 100))
    uneven = select_per_class(LABELS, torch.cat([torch.arange(3), torch.arange(50, 100)]), None, 10, seed=0)
    assert torch.bincount(LABELS[uneven]).tolist() == [3, 10]
    with pytest.raises(CreamError, match="have no images"):
        select_per_class(LABELS, torch.arange(500), [11], None, seed=0)


def test_epoch_order_shards_ranks_without_overlap():
    shards = [set(epoch_order(103, seed=1, epoch=2, shuffle=True, rank=r, world=4).tolist()) for r in range(4)]
    assert all(len(s) == 25 for s in shards)
    assert len(set.union(*shards)) == 100
    assert not torch.equal(epoch_order(50, 1, 0, True), epoch_order(50, 1, 1, True))

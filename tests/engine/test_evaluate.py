"""``evaluate`` and ``recalibrate_bn`` against values computed by hand or with plain torch ops."""

import math

import pytest
import torch
import torch.nn as nn

from cream.engine.context import RunContext
from cream.engine.evaluate import evaluate, recalibrate_bn

CPU = RunContext(torch.device("cpu"))
CLASSES = 7
# Where each image's label stands among its logits (0 = the largest), in batches of 4, 4 and 2 images:
# top-1 holds for rank 0, top-5 for ranks 0 to 4.
RANKS = [0, 0, 1, 4, 5, 6, 0, 2, 3, 6]


class FixedBatches:
    """A loader over given (x, y) batches."""

    def __init__(self, batches):
        self.fixed = batches

    def batches(self, epoch: int = 0):
        return iter(self.fixed)


def logit_row(label: int, rank: int) -> list[float]:
    """Logits whose ``label`` has the ``rank``-th largest value; all values distinct, so top-k has no ties."""
    others = [c for c in range(CLASSES) if c != label]
    order = others[:rank] + [label] + others[rank:]  # classes from the largest logit down
    row = [0.0] * CLASSES
    for position, c in enumerate(order):
        row[c] = 0.7 * (CLASSES - position)
    return row


def cross_entropy_at_rank(rank: int) -> float:
    """-log softmax of the label's logit, by hand: every row holds the same values, 0.7 * (7, 6, ..., 1)."""
    values = [0.7 * (CLASSES - position) for position in range(CLASSES)]
    return math.log(sum(math.exp(v) for v in values)) - values[rank]


@pytest.fixture
def logits_loader():
    """The logits themselves as images (the model is the identity), labels 0, 1, ..., 6, 0, 1, 2."""
    labels = [i % CLASSES for i in range(len(RANKS))]
    rows = [logit_row(label, rank) for label, rank in zip(labels, RANKS)]
    x, y = torch.tensor(rows), torch.tensor(labels)
    return FixedBatches([(x[:4], y[:4]), (x[4:8], y[4:8]), (x[8:], y[8:])])


@pytest.mark.parametrize("max_images, images, top1, top5", [
    (None, 10, 30.0, 70.0),  # ranks 0, 0, 0 of 10 are top-1; all but 5, 6, 6 are top-5
    (100, 10, 30.0, 70.0),
    (5, 8, 37.5, 75.0),  # whole batches until at least 5 images: the first two
    (4, 4, 50.0, 100.0),  # ranks 0, 0, 1, 4
])
def test_evaluate_counts_top1_top5_and_mean_loss_by_hand(logits_loader, max_images, images, top1, top5):
    result = evaluate(lambda x: x, logits_loader, CPU, max_images=max_images)
    loss = sum(cross_entropy_at_rank(r) for r in RANKS[:images]) / images
    assert result["images"] == images
    assert result["top1"] == pytest.approx(top1) and result["top5"] == pytest.approx(top5)
    assert result["loss"] == pytest.approx(loss, rel=1e-6)


def test_evaluate_with_fewer_than_five_classes_counts_every_image_in_the_top_5():
    x = torch.tensor([[2.0, 1.0, 0.0], [2.0, 1.0, 0.0], [0.0, 1.0, 2.0]])
    result = evaluate(lambda x: x, FixedBatches([(x, torch.tensor([0, 2, 1]))]), CPU)
    assert result["top1"] == pytest.approx(100 / 3) and result["top5"] == 100.0 and result["images"] == 3


def test_recalibrate_bn_sets_running_stats_to_the_average_over_batches_of_each_batchs_statistics():
    torch.manual_seed(0)
    conv, bn = nn.Conv2d(2, 3, 3), nn.BatchNorm2d(3)
    model = nn.Sequential(conv, bn)
    model.train()
    for _ in range(5):  # stale statistics and a batch count, which recalibration must discard
        model(torch.randn(8, 2, 6, 6) * 5 - 2)
    model.eval()
    batches = [(torch.randn(n, 2, 6, 6) * 2 + 3, None) for n in (4, 2, 3)]

    recalibrate_bn(model, model, batches, CPU)

    with torch.no_grad():
        features = [conv(x) for x, _ in batches]
    # nn.BatchNorm2d keeps the unbiased variance over batch and pixels; each batch counts once, whatever its size
    mean = torch.stack([f.mean(dim=(0, 2, 3)) for f in features]).mean(0)
    var = torch.stack([f.var(dim=(0, 2, 3), correction=1) for f in features]).mean(0)
    assert torch.allclose(bn.running_mean, mean, rtol=1e-5, atol=1e-6)
    assert torch.allclose(bn.running_var, var, rtol=1e-5, atol=1e-6)
    assert int(bn.num_batches_tracked) == 3
    assert bn.momentum == 0.1 and not model.training  # left as it was found

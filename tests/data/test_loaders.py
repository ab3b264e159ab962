import gzip
import hashlib

import pytest
import torch

from cream.config import DataConfig
from cream.data import build_data
from cream.data.loaders import TensorLoader, random_crop
from cream.errors import CreamError


def test_random_crop_moves_content_by_at_most_the_padding():
    x = torch.zeros(64, 1, 8, 8, dtype=torch.uint8)
    x[:, :, 4, 4] = 255
    out = random_crop(x, 2, torch.Generator().manual_seed(0))
    ys, xs = (out[:, 0] == 255).nonzero()[:, 1:].T
    assert out.shape == x.shape and ((ys - 4).abs() <= 2).all() and ((xs - 4).abs() <= 2).all()
    assert len(set(zip(ys.tolist(), xs.tolist()))) > 5


def test_batches_resume_at_a_step_with_the_same_images():
    images = torch.randint(0, 255, (100, 1, 28, 28), dtype=torch.uint8)
    loader = TensorLoader(images, torch.arange(100), 16, train=True, seed=5, crop_padding=2, hflip=True)
    full = list(loader.batches(epoch=3))
    resumed = list(loader.batches(epoch=3, start=4))
    assert len(full) == 6 and len(resumed) == 2
    for (x1, y1), (x2, y2) in zip(full[4:], resumed):
        assert torch.equal(x1, x2) and torch.equal(y1, y2)


def test_fashion_mnist_search_split_sizes_and_batch_shapes(tiny_fashion_mnist):
    cfg = DataConfig(root=str(tiny_fashion_mnist), val_fraction=0.2, batch_size=32, eval_batch_size=64)
    search = build_data(cfg, 28, 1, "search")
    test = build_data(cfg, 28, 1, "test")
    assert search.train.num_images == 240 and search.val.num_images == 60 and test.val.num_images == 100
    x, y = next(iter(search.train))
    assert x.shape == (32, 1, 28, 28) and x.dtype == torch.float32
    x3, _ = next(build_data(cfg, 32, 3, "search").train.batches())
    assert x3.shape == (32, 3, 32, 32)


def idx_image_hashes(path) -> list[str]:
    """A hash of each 28x28 image of an IDX file, read with plain gzip (not with cream's reader)."""
    raw = gzip.decompress(path.read_bytes())[16:]  # magic and three sizes, 4 bytes each
    return [hashlib.sha1(raw[i: i + 784]).hexdigest() for i in range(0, len(raw), 784)]


def loader_image_hashes(loader) -> list[str]:
    return [hashlib.sha1(image.contiguous().numpy().tobytes()).hexdigest() for image in loader.images]


@pytest.mark.parametrize("subset", [{}, {"classes": [7, 2], "train_per_class": 10, "val_per_class": 3}])
def test_search_and_retrain_images_are_training_images_never_test_images(tiny_fashion_mnist, subset):
    train_set = idx_image_hashes(tiny_fashion_mnist / "train-images-idx3-ubyte.gz")
    test_set = idx_image_hashes(tiny_fashion_mnist / "t10k-images-idx3-ubyte.gz")
    assert len(set(train_set + test_set)) == 400  # every image distinct, so a hash names one image
    cfg = DataConfig(root=str(tiny_fashion_mnist), val_fraction=0.2, **subset)
    test = loader_image_hashes(build_data(cfg, 28, 1, "test").val)
    assert test and set(test) <= set(test_set)
    for purpose in ("search", "retrain"):
        data = build_data(cfg, 28, 1, purpose)
        train, val = loader_image_hashes(data.train), loader_image_hashes(data.val)
        assert len(set(train)) == len(train) and len(set(val)) == len(val)
        assert set(train).isdisjoint(val)
        assert set(train + val) <= set(train_set)
        assert set(train + val).isdisjoint(test_set)
    if not subset:
        assert len(train + val) == 300 and test == test_set  # the whole training set split, the whole test set


def test_class_subsets_relabel_to_0_to_k(tiny_fashion_mnist):
    cfg = DataConfig(root=str(tiny_fashion_mnist), classes=[7, 2], train_per_class=10, val_per_class=3)
    data = build_data(cfg, 28, 1, "search")
    assert data.classes == ["Sneaker", "Pullover"] and data.num_classes == 2
    assert sorted(data.train.labels.tolist()) == [0] * 10 + [1] * 10
    with pytest.raises(CreamError, match="class indices 0..9"):
        build_data(DataConfig(root=str(tiny_fashion_mnist), classes=[12]), 28, 1, "search")

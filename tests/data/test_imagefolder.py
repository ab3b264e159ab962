import os
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from cream.cli import one_line
from cream.config import DataConfig
from cream.data import build_data, imagefolder
from cream.data.imagefolder import default_workers, mean_std
from cream.data.loaders import FolderLoader, TensorLoader
from cream.data.survey import survey
from cream.errors import CreamError
from tests.conftest import make_image_tree


def folder_cfg(root, **kw):
    return DataConfig(**{"dataset": "imagefolder", "root": str(root), "batch_size": 4, "eval_batch_size": 5,
                         "workers": 0, "val_fraction": 0.34, **kw})


def png_tree(root, modes_by_class: dict[str, list[str]], size=8, splits=("train",)):
    """PNG images of the given PIL modes; every pixel value is (class, image, split) dependent and known."""
    rng = np.random.default_rng(1)
    for split in splits:
        for name, modes in modes_by_class.items():
            (root / split / name).mkdir(parents=True, exist_ok=True)
            for i, mode in enumerate(modes):
                shape = (size, size) if mode == "L" else (size, size, 3)
                pixels = rng.integers(0, 256, shape).astype(np.uint8)
                Image.fromarray(pixels, mode=mode).save(root / split / name / f"{i}.png")
    return root


def test_imagefolder_purposes_read_the_right_splits(image_tree):
    search = build_data(folder_cfg(image_tree), 32, 3, "search")
    assert search.classes == ["cat", "dog", "owl"]
    assert search.train.num_images + search.val.num_images == 18
    retrain = build_data(folder_cfg(image_tree), 32, 3, "retrain")
    assert retrain.train.num_images == 18 and retrain.val.num_images == 18 and retrain.split == "val"
    x, y = next(retrain.train.batches())
    assert x.shape == (4, 3, 32, 32) and y.dtype == torch.int64
    assert build_data(folder_cfg(image_tree), 32, 3, "test").split == "val"  # no test/: val/
    shutil.copytree(image_tree / "val", image_tree / "test")
    (image_tree / "test" / "owl" / "owl_0.JPEG").unlink()
    test = build_data(folder_cfg(image_tree), 32, 3, "test")
    assert test.split == "test" and test.val.num_images == 17 and test.train is None


def test_a_tree_without_val_validates_on_a_held_out_part_of_train_and_cannot_be_tested(image_tree):
    shutil.rmtree(image_tree / "val")
    retrain = build_data(folder_cfg(image_tree), 32, 3, "retrain")
    # round(6 * 0.34) = 2 of each class's 6 train/ images are held out
    assert retrain.val.num_images == 6 and retrain.train.num_images == 12
    assert retrain.split == "held-out part of train"
    with pytest.raises(CreamError, match=r"has neither test/ nor val/, so there is nothing to test on; put unseen"):
        build_data(folder_cfg(image_tree), 32, 3, "test")


def test_a_small_tree_is_decoded_once_and_kept_in_memory_with_its_exact_pixels(tmp_path):
    root = png_tree(tmp_path / "t", {"a": ["RGB"] * 3, "b": ["RGB"] * 3}, splits=("train", "val"))
    data = build_data(folder_cfg(root, crop_pct=1.0, hflip=False, crop_padding=0), 8, 3, "retrain")
    assert isinstance(data.train, TensorLoader) and isinstance(data.val, TensorLoader)
    expected = {}
    for name, label in (("a", 0), ("b", 1)):
        for i in range(3):
            pixels = np.asarray(Image.open(root / "val" / name / f"{i}.png"), dtype=np.float32) / 255
            mean, std = mean_std(3)
            expected[(label, i)] = (torch.from_numpy(pixels).permute(2, 0, 1) - torch.tensor(mean)[:, None, None]) \
                / torch.tensor(std)[:, None, None]
    shutil.rmtree(root)  # nothing is read from disk any more
    x, y = next(data.val.batches())
    x2, _ = next(data.val.batches())
    assert y.tolist() == [0, 0, 0, 1, 1]
    for k in range(5):
        assert torch.allclose(x[k], expected[(y[k].item(), k % 3)], atol=1e-5)
    assert torch.equal(x, x2)
    assert len(list(data.train.batches(epoch=3))) == 1  # 6 images, batches of 4


def test_memory_and_disk_give_the_same_evaluation_images(tmp_path):
    root = png_tree(tmp_path / "t", {"a": ["RGB"] * 3, "b": ["L"] * 3}, size=12, splits=("train", "val"))
    memory = build_data(folder_cfg(root, crop_pct=0.9), 10, 3, "retrain").val
    disk = build_data(folder_cfg(root, crop_pct=0.9, cache_mb=0), 10, 3, "retrain").val
    assert isinstance(disk, FolderLoader)
    (xm, ym), (xd, yd) = next(memory.batches()), next(disk.batches())
    assert torch.equal(ym, yd) and torch.allclose(xm, xd, atol=1e-5)


def test_the_cache_limit_decides_memory_or_disk(tmp_path):
    root = png_tree(tmp_path / "t", {"a": ["L"] * 4, "b": ["L"] * 4}, size=8)
    # search: 8 images at 16 px, one channel: 2048 bytes
    assert isinstance(build_data(folder_cfg(root, cache_mb=2048 / 2**20), 16, 1, "search").train, TensorLoader)
    assert isinstance(build_data(folder_cfg(root, cache_mb=2047 / 2**20), 16, 1, "search").train, FolderLoader)


def test_grayscale_and_colour_images_mixed_are_read_as_colour(tmp_path):
    root = png_tree(tmp_path / "t", {"a": ["L", "RGB", "L"], "b": ["RGB", "L", "L"]})
    found = survey(folder_cfg(root))
    assert found.channels == 3 and found.side == 8
    assert "6 of 6 train/ images inspected: colour, 4 grayscale among them (read as colour)" in found.found
    gray = torch.from_numpy(np.array(Image.open(root / "train" / "a" / "0.png")))
    data = build_data(folder_cfg(root, crop_pct=1.0, val_fraction=0.5), 8, 3, "search")
    stored = torch.cat([data.val.images, data.train.images])
    assert stored.shape == (6, 3, 8, 8)
    # the grayscale image is kept with its pixels unchanged, repeated in all three channels
    assert sum(torch.equal(im, gray.expand(3, 8, 8)) for im in stored) == 1


def test_an_all_grayscale_tree_gives_one_channel(tmp_path):
    root = png_tree(tmp_path / "t", {"a": ["L"] * 2, "b": ["L"] * 2}, size=10)
    found = survey(folder_cfg(root))
    assert found.channels == 1 and found.side == 10 and "grayscale, median short side 10 px" in found.found
    data = build_data(folder_cfg(root, val_fraction=0.5), 10, 1, "search")
    assert data.train.images.shape == (2, 1, 10, 10)


def test_a_16_bit_image_is_refused_naming_it(tmp_path):
    root = png_tree(tmp_path / "t", {"a": ["L"] * 2, "b": ["L"] * 2})
    deep = root / "train" / "b" / "deep.png"
    Image.fromarray(np.full((8, 8), 40000, dtype=np.uint16)).save(deep)
    message = f"image {deep} has I;16 pixels (more than 8 bits per channel); cream reads 8-bit images: convert it " \
              "to an 8-bit PNG or JPEG"
    with pytest.raises(CreamError) as info:
        survey(folder_cfg(root))
    assert str(info.value) == message
    with pytest.raises(CreamError, match="more than 8 bits"):
        build_data(folder_cfg(root, val_fraction=0.5), 8, 1, "search")


def test_empty_class_folder_and_missing_tree_are_named(image_tree, tmp_path):
    (image_tree / "train" / "empty class").mkdir()
    with pytest.raises(CreamError, match="empty class holds no images"):
        build_data(folder_cfg(image_tree), 32, 3, "search")
    with pytest.raises(CreamError, match="does not exist"):
        build_data(folder_cfg(tmp_path / "none"), 32, 3, "search")


def test_one_class_is_refused(tmp_path):
    root = png_tree(tmp_path / "t", {"only": ["L"] * 4})
    with pytest.raises(CreamError) as info:
        build_data(folder_cfg(root, val_fraction=0.5), 8, 1, "search")
    assert str(info.value) == (f"{root} gives 1 class (only); a classifier needs at least two: add class folders or "
                               "list more data.classes")


def test_unreadable_images_are_all_reported_before_training(image_tree):
    bad = [image_tree / "train" / "dog" / "broken.JPEG", image_tree / "train" / "owl" / "truncated.JPEG"]
    bad[0].write_bytes(b"not a jpeg")
    bad[1].write_bytes((image_tree / "train" / "owl" / "owl_0.JPEG").read_bytes()[:50])
    with pytest.raises(CreamError) as info:
        build_data(folder_cfg(image_tree, val_fraction=0.0), 32, 3, "retrain")
    assert str(info.value).startswith(f"cannot decode image {bad[0]} (UnidentifiedImageError); remove or replace the "
                                      "file (and 1 more unreadable images)")
    assert bad[0].exists() and bad[1].exists()  # nothing is deleted


def test_an_unreadable_val_image_is_reported_before_any_training_image_is_decoded(tmp_path, monkeypatch):
    tree = make_image_tree(tmp_path / "tree", per_class=12, splits=("train",), size=8)
    make_image_tree(tree, per_class=2, splits=("val",), size=8)
    bad = tree / "val" / "dog" / "broken.JPEG"
    bad.write_bytes(b"not a jpeg")
    decoded = []
    read_image = imagefolder.read_image
    monkeypatch.setattr(imagefolder, "read_image", lambda path, mode: decoded.append(path) or read_image(path, mode))
    with pytest.raises(CreamError, match=f"cannot decode image {bad} "):
        build_data(folder_cfg(tree), 16, 3, "retrain")  # decoded in memory: a whole train/ decode can take minutes
    assert str(bad) in decoded
    assert not [p for p in decoded if p.startswith(str(tree / "train"))]


def test_an_unreadable_image_read_from_disk_is_named_even_from_a_worker(image_tree):
    bad = image_tree / "val" / "dog" / "broken.JPEG"
    bad.write_bytes(b"not a jpeg")
    data = build_data(folder_cfg(image_tree, workers=1, cache_mb=0), 32, 3, "test")
    with pytest.raises(Exception) as info:
        for _ in data.val.batches():
            pass
    assert one_line(info.value) == f"cannot decode image {bad} (UnidentifiedImageError); remove or replace the file"


class WorkerPids(torch.utils.data.Dataset):
    def __len__(self):
        return 8

    def __getitem__(self, i):
        return torch.tensor(os.getpid()), i


def test_disk_loader_workers_persist_across_epochs_and_keep_the_epoch_order():
    loader = FolderLoader(WorkerPids(), 2, train=True, seed=3, workers=1)
    pids, orders = set(), []
    for epoch in (0, 1, 0):
        batches = list(loader.batches(epoch))
        pids |= {int(p) for x, _ in batches for p in x}
        orders.append([i for _, y in batches for i in y.tolist()])
    partial = [y.tolist() for _, y in loader.batches(1, start=2)]
    assert len(pids) == 1 and os.getpid() not in pids  # one worker process served every pass
    assert orders[0] == orders[2] and orders[0] != orders[1] and sorted(orders[0]) == list(range(8))
    assert sum(partial, []) == orders[1][4:]


def test_default_workers_are_the_cores_of_this_process(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    assert default_workers() == 2
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(64)))
    assert default_workers() == 8
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "4")
    assert default_workers() == 8
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(12)))
    assert default_workers() == 3


def test_palette_and_transparent_images_are_read_as_colour(tmp_path):
    root = png_tree(tmp_path / "t", {"a": ["RGB"] * 2, "b": ["RGB"] * 2})
    rgba = np.zeros((8, 8, 4), dtype=np.uint8)
    rgba[..., 0], rgba[..., 3] = 200, 255
    Image.fromarray(rgba, mode="RGBA").save(root / "train" / "a" / "rgba.png")
    palette = Image.new("P", (8, 8), 0)
    palette.putpalette([90, 60, 30])  # colour 0
    palette.save(root / "train" / "b" / "palette.png")
    assert survey(folder_cfg(root)).channels == 3
    stored = build_data(folder_cfg(root, crop_pct=1.0, val_fraction=0.5), 8, 3, "search")
    images = torch.cat([stored.train.images, stored.val.images])
    assert sum(torch.equal(im, torch.tensor([200, 0, 0]).view(3, 1, 1).expand(3, 8, 8).byte()) for im in images) == 1
    assert sum(torch.equal(im, torch.tensor([90, 60, 30]).view(3, 1, 1).expand(3, 8, 8).byte()) for im in images) == 1

import pytest
import torch

from cream.cli import one_line
from cream.config import DataConfig
from cream.data import build_data
from cream.errors import CreamError


def folder_cfg(root, **kw):
    return DataConfig(dataset="imagefolder", root=str(root), batch_size=4, eval_batch_size=5, workers=0,
                      val_fraction=0.34, **kw)


def test_imagefolder_purposes_read_the_right_splits(image_tree):
    search = build_data(folder_cfg(image_tree), 32, 3, "search")
    assert search.classes == ["cat", "dog", "owl"]
    assert search.train.num_images + search.val.num_images == 18
    retrain = build_data(folder_cfg(image_tree), 32, 3, "retrain")
    assert retrain.train.num_images == 18 and retrain.val.num_images == 18
    x, y = next(retrain.train.batches())
    assert x.shape == (4, 3, 32, 32) and y.dtype == torch.int64


def test_empty_class_folder_and_missing_tree_are_named(image_tree, tmp_path):
    (image_tree / "train" / "empty class").mkdir()
    with pytest.raises(CreamError, match="empty class holds no images"):
        build_data(folder_cfg(image_tree), 32, 3, "search")
    with pytest.raises(CreamError, match="does not exist"):
        build_data(folder_cfg(tmp_path / "none"), 32, 3, "search")


def test_unreadable_image_is_named_even_from_a_worker(image_tree):
    bad = image_tree / "val" / "dog" / "broken.JPEG"
    bad.write_bytes(b"not a jpeg")
    cfg = folder_cfg(image_tree)
    cfg.workers = 1
    data = build_data(cfg, 32, 3, "test")
    with pytest.raises(Exception) as info:
        for _ in data.val.batches():
            pass
    assert one_line(info.value) == f"cannot decode image {bad} (UnidentifiedImageError); remove or replace the file"

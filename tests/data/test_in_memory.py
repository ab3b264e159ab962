"""Data from Python: what is inferred from it, how it is split and loaded (as an image folder), and bad input."""

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image

from cream.config import DataConfig, SearchRun
from cream.data import build_data
from cream.data.in_memory import python_data
from cream.data.survey import survey
from cream.errors import CreamError
from cream.settings_from_data import settings_from_data
from tests.conftest import make_image_tree

# ImageNet's normalisation, written out (timm's IMAGENET_DEFAULT_MEAN / STD), and its average for grayscale.
MEAN, STD = torch.tensor([0.485, 0.456, 0.406]), torch.tensor([0.229, 0.224, 0.225])


def memory_cfg(name, **kw):
    return DataConfig(**{"dataset": "memory", "root": name, "batch_size": 4, "eval_batch_size": 5, "workers": 0,
                         "val_fraction": 0.25, "crop_pct": 1.0, **kw})


def blobs(n_per_class=4, classes=3, size=32, channels=3, seed=0):
    """uint8 images N x C x H x W whose pixels are all known, and their labels."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(classes).repeat(n_per_class)
    return torch.randint(0, 256, (len(labels), channels, size, size), generator=g, dtype=torch.uint8), labels


class PilImages(torch.utils.data.Dataset):
    """The given uint8 images as PIL images (L or RGB), with a ``classes`` attribute."""

    def __init__(self, images, labels, classes):
        self.images, self.labels, self.classes = images, labels, classes

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        pixels = self.images[i].permute(1, 2, 0).numpy()
        image = Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels)
        return image, int(self.labels[i])


def all_test_images(data):
    x, y = zip(*data.val.batches())
    return torch.cat(x), torch.cat(y)


def test_classes_channels_and_resolution_are_inferred_from_tensors_and_from_a_dataset():
    images, labels = blobs(classes=4, size=36, channels=1)
    with python_data((images[:, 0], labels), "gray", "search") as source:  # N x H x W: grayscale
        found = survey(memory_cfg(source.name))
    assert (found.classes, found.channels, found.side) == (["0", "1", "2", "3"], 1, 36)
    assert found.train_labels.tolist() == labels.tolist()
    names = ["ant", "bee", "cow"]
    images, labels = blobs(classes=3, size=40)
    with python_data(PilImages(images, labels, names), "insects", "search") as source:
        cfg = SearchRun()
        cfg.data = memory_cfg(source.name, batch_size=None)
        cfg.space.num_classes = cfg.space.in_chans = cfg.space.resolution = cfg.run.out_dir = None
        cfg.search.min_steps = 0
        cfg, notes = settings_from_data(cfg, "search")
    assert (cfg.space.num_classes, cfg.space.in_chans, cfg.space.resolution) == (3, 3, 40)
    assert cfg.data.class_names == names and cfg.run.out_dir == "runs/search/insects"
    assert cfg.data.batch_size == 9  # every one of the 12 - 3 held-out images in one batch (AUTO_BATCH's floor 16)
    assert "insects (memory), 3 classes" in notes[0]


def test_a_torchvision_image_folder_given_as_a_dataset_loads_as_the_same_folder_does(tmp_path):
    tree = make_image_tree(tmp_path / "tree", per_class=8, size=32)
    folder = DataConfig(dataset="imagefolder", root=str(tree), batch_size=4, eval_batch_size=5, workers=0,
                        val_fraction=0.25, crop_pct=1.0)
    expected = build_data(folder, 32, 3, "search", seed=3)
    with python_data(torchvision.datasets.ImageFolder(tree / "train"), "tree", "search") as source:
        got = build_data(memory_cfg(source.name), 32, 3, "search", seed=3)
    assert got.classes == expected.classes == ["cat", "dog", "owl"]
    for loader in ("train", "val"):
        for (x, y), (ex, ey) in zip(getattr(got, loader).batches(1), getattr(expected, loader).batches(1), strict=True):
            assert torch.equal(x, ex) and torch.equal(y, ey)


def test_tensors_pil_images_and_floats_give_the_same_normalised_images():
    images, labels = blobs(classes=2, size=32)
    expected = (images.float() / 255 - MEAN.view(1, 3, 1, 1)) / STD.view(1, 3, 1, 1)  # in order: a test set
    for data in ((images, labels), (images.float() / 255, labels), PilImages(images, labels, ["a", "b"])):
        with python_data(data, "blobs", "test") as source:
            x, y = all_test_images(build_data(memory_cfg(source.name), 32, 3, "test"))
        assert torch.allclose(x, expected, atol=1e-5) and torch.equal(y, labels)
    gray, _ = blobs(classes=2, size=32, channels=1)
    with python_data((gray[:, 0], labels), "gray", "test") as source:
        x, _ = all_test_images(build_data(memory_cfg(source.name), 32, 1, "test"))
    assert torch.allclose(x, (gray.float() / 255 - MEAN.mean()) / STD.mean(), atol=1e-5)


def test_the_splits_of_a_dict_serve_as_a_folders_train_val_and_test():
    train, val, test = blobs(4, seed=0), blobs(2, seed=1), blobs(1, seed=2)
    with python_data({"train": train, "val": val, "test": test}, "three", "retrain") as source:
        retrain = build_data(memory_cfg(source.name), 32, 3, "retrain")
        search = build_data(memory_cfg(source.name), 32, 3, "search")
        tested = build_data(memory_cfg(source.name), 32, 3, "test")
    assert (retrain.split, retrain.train.num_images, retrain.val.num_images) == ("val", 12, 6)
    # the search never reads val or test: a quarter of each class's 4 train images is held out
    assert (search.split, search.train.num_images, search.val.num_images) == ("held-out part of train", 9, 3)
    assert tested.split == "test" and torch.equal(all_test_images(tested)[1], test[1])
    with python_data({"train": train, "val": val}, "two", "test") as source:
        assert build_data(memory_cfg(source.name), 32, 3, "test").split == "val"  # no test: val
    with python_data({"train": train}, "one", "test") as source:
        with pytest.raises(CreamError, match="neither test nor val data, so there is nothing to test on"):
            build_data(memory_cfg(source.name), 32, 3, "test")


def test_test_data_takes_the_checkpoints_classes_and_refuses_labels_beyond_them():
    images, labels = blobs(classes=2)
    with python_data((images, labels), "two", "test") as source:  # labels 0..1 of a 4-class checkpoint
        data = build_data(memory_cfg(source.name, class_names=["a", "b", "c", "d"]), 32, 3, "test")
        assert data.classes == ["a", "b", "c", "d"]
    with python_data((images, labels + 2), "high", "test") as source:
        with pytest.raises(CreamError, match=r"label 3, outside 0..2 for the 3 classes it is tested on"):
            build_data(memory_cfg(source.name, class_names=["a", "b", "c"]), 32, 3, "test")


def test_the_data_is_served_only_inside_its_block():
    with python_data(blobs(), "blobs", "search"):
        pass
    with pytest.raises(CreamError, match="the data 'blobs' was passed from Python and is not here now"):
        build_data(memory_cfg("blobs"), 32, 3, "search")


class Items(torch.utils.data.Dataset):
    def __init__(self, items, classes=None):
        self.items = items
        if classes is not None:
            self.classes = classes

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


IMAGES, LABELS = blobs(classes=2, size=32)
BAD = {
    "no name": (dict(data=(IMAGES, LABELS), name=None), r"needs a name for its run folder"),
    "labels beyond the classes": (dict(data=Items([(torch.rand(3, 32, 32), i % 3) for i in range(6)], ["a", "b"])),
                                  r"labels 0..2, outside 0..1 for its 2 classes"),
    "negative labels": (dict(data=(IMAGES, LABELS - 1)), r"labels -1..0, outside 0..0"),
    "a class without images": (dict(data=(IMAGES, LABELS * 2)), r"class '1' \(label 1\) has no training images"),
    "empty": (dict(data=(IMAGES[:0], LABELS[:0])), r"data 'train' is empty"),
    "unknown key": (dict(data={"train": (IMAGES, LABELS), "tests": (IMAGES, LABELS)}),
                    r"takes the keys train, val and test, not tests"),
    "no train": (dict(data={"val": (IMAGES, LABELS)}), r"search needs a train split; data has val"),
    "not an image": (dict(data=Items([(np.zeros((32, 32, 3)), 0), (np.zeros((32, 32, 3)), 1)])),
                     r"item 0 of data 'train' is a ndarray, neither a tensor nor a PIL image"),
    "two-channel items": (dict(data=Items([(torch.rand(2, 32, 32), i % 2) for i in range(4)])),
                          r"item 0 of data 'train' is a tensor of shape \(2, 32, 32\)"),
    "not a pair": (dict(data=Items([torch.rand(3, 32, 32)] * 4)), r"item \d of data 'train' is a Tensor, not a pair"),
    "sizes differ, no resolution": (dict(data=Items([(torch.rand(3, 32 + i, 32), i % 2) for i in range(4)])),
                                    r"differ in size .*give the resolution to resize them to"),
    "normalised floats": (dict(data=((IMAGES.float() - 128) / 64, LABELS)), r"float pixels in -2..1.98"),
    "four channels": (dict(data=(torch.zeros(4, 4, 32, 32), LABELS[:4])), r"images have shape \(4, 4, 32, 32\)"),
    "float labels": (dict(data=(IMAGES, LABELS.float())), r"labels are torch.float32"),
    "a bad name": (dict(data=(IMAGES, LABELS), name="a/b"), r"must be a plain folder name"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_data_from_python_is_one_line_and_writes_nothing(case, tmp_path, monkeypatch):
    import cream

    monkeypatch.chdir(tmp_path)
    arguments, message = BAD[case]
    with pytest.raises(CreamError, match=message) as error:
        cream.search(**{"name": "bad", **arguments}, overrides={"run.threads": 1})
    assert "\n" not in str(error.value)
    assert list(tmp_path.iterdir()) == []

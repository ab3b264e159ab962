"""Data from Python through cream.search, cream.retrain and cream.test, and its checkpoint used without the data."""

import json

import pytest
import torch

import cream
from cream.cli import main
from cream.data import normalisation
from cream.errors import CreamError
from cream.train.weights import read_weights
from tests.conftest import make_image_tree

SEARCH = {"run.threads": 1, "search.epochs": 2, "search.min_steps": 0, "search.probe_steps": 2,
          "search.val_images": 8, "search.bn_batches": 1, "search.meta_update_every": 2, "search.candidates": 4}
RETRAIN = {"run.threads": 1, "retrain.epochs": 1, "retrain.min_steps": 0}
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)  # ImageNet's (timm's IMAGENET_DEFAULT_*), written out
TEST = {"run.threads": 1, "test.latency_batch": 2, "test.latency_repeats": 1, "test.latency_warmup": 0}
QUICK_TEST = [f"{k}={v}" for k, v in TEST.items()]


def coloured(per_class, classes=3, size=32, seed=0):
    """uint8 images N x 3 x H x W, each class brightest in its own channel, and their labels."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(classes).repeat(per_class)
    images = torch.randint(0, 60, (len(labels), 3, size, size), generator=g, dtype=torch.uint8)
    images[torch.arange(len(labels)), labels % 3] += 150
    return images, labels


class Named(torch.utils.data.Dataset):
    """Float images in 0..1 (as ToTensor gives) with class names."""

    classes = ["red", "green", "blue"]

    def __init__(self, images, labels):
        self.images, self.labels = images.float() / 255, labels

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return self.images[i], int(self.labels[i])


def test_tensors_search_retrain_and_test_and_the_checkpoint_is_used_without_them(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    images, labels = coloured(8)
    found = cream.search(data=(images, labels), name="blobs", overrides=SEARCH)
    assert found.net["num_classes"] == 3 and found.net["in_chans"] == 3 and found.net["resolution"] == 32
    trained = cream.retrain(data=(images, labels), name="blobs", overrides=RETRAIN)
    assert trained.arch == found.arch and trained.checkpoint == "runs/retrain/blobs/best.pth"
    assert json.loads((tmp_path / "runs/search/blobs/result.json").read_text())["arch"] == found.arch
    saved = read_weights(trained.checkpoint)  # what reloading needs, in the checkpoint
    assert saved.config["data"]["class_names"] == ["0", "1", "2"] and saved.config["data"]["dataset"] == "memory"
    assert normalisation(saved.config["data"]["dataset"], saved.net["in_chans"]) == (MEAN, STD)

    # the data is gone: the command line names the problem in one line and writes nothing ...
    assert main(["test", "--checkpoint", trained.checkpoint, *QUICK_TEST]) == 2
    assert "was passed from Python and is not here now" in capsys.readouterr().err
    assert not (tmp_path / "runs/retrain/blobs/test.json").exists()
    # ... tests it on other data: new tensors holding only two of its three classes, or an image folder
    unseen, unseen_labels = coloured(2, classes=2, seed=1)
    report = cream.test(trained.checkpoint, data=(unseen, unseen_labels), overrides=TEST)
    assert report.data["classes"] == ["0", "1", "2"] and report.data["images"] == 4 and report.data["split"] == "test"
    assert json.loads((tmp_path / "runs/retrain/blobs/test.json").read_text())["top1"] == report.top1
    make_image_tree(tmp_path / "pets", per_class=2, size=32)
    assert main(["test", "--checkpoint", trained.checkpoint, "--data", "pets", *QUICK_TEST]) == 0
    assert json.loads((tmp_path / "runs/retrain/blobs/test.json").read_text())["data"]["images"] == 6
    # ... builds the net from the checkpoint alone, and exports it
    net = cream.create_model(saved.arch, num_classes=3, resolution=saved.net["resolution"], width=saved.net["width"])
    net.load_state_dict(saved.sets["ema" if "ema" in saved.sets else "plain"])
    assert net.eval()(torch.zeros(2, 3, 32, 32)).shape == (2, 3)
    exported = cream.export(trained.checkpoint, formats=("safetensors",))
    assert exported.files["safetensors"]["max_abs_diff"] < 1e-4


def test_a_dataset_with_class_names_and_splits_search_retrain_and_test(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    train, val, test = (Named(*coloured(n, seed=s)) for n, s in ((8, 0), (2, 1), (1, 2)))
    splits = {"train": train, "val": val, "test": test}
    found = cream.search(data=splits, name="rgb", overrides=SEARCH)
    trained = cream.retrain(data=splits, name="rgb", overrides=RETRAIN)
    assert trained.arch == found.arch
    log = (tmp_path / "runs/retrain/rgb/retrain.log").read_text()
    assert "validation on val" in log and 'data.class_names=["red", "green", "blue"]' in log.splitlines()[0]
    report = cream.test(data=splits, name="rgb", overrides=TEST)  # the retrain of that name, on the test split
    assert report.checkpoint == "runs/retrain/rgb/best.pth" and report.data["split"] == "test"
    assert report.data["classes"] == Named.classes and report.data["images"] == 3


def test_test_from_python_without_a_checkpoint_needs_a_name_or_a_retrain_of_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(CreamError, match=r"cream.test with data from Python needs the checkpoint, or name="):
        cream.test(data=coloured(1))
    with pytest.raises(CreamError, match=r"no retrained model of nothing \(in memory\) at runs/retrain/nothing/best"
                                         r".pth; run cream.retrain\(data=..., name='nothing'\) first"):
        cream.test(data=coloured(1), name="nothing")
    assert list(tmp_path.iterdir()) == []

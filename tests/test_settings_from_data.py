import dataclasses

import pytest

from cream.assemble import data_option, make_config, run_config
from cream.config import SearchRun
from cream.errors import CreamError
from cream.settings_from_data import auto_batch, settings_from_data, stretch
from tests.conftest import make_image_tree


@pytest.mark.parametrize("images, batch", [
    (100, 16),    # even 16 gives only 6 steps: the smallest batch
    (10, 10),     # never more than the images, so that an epoch has a step
    (900, 32),    # 900 // 32 = 28 steps >= 25; 900 // 64 = 14 < 25
    (3199, 64),   # 3199 // 128 = 24 < 25; 3199 // 64 = 49
    (3200, 128),  # 3200 // 128 = 25
    (60_000, 128),
])
def test_auto_batch_is_the_largest_power_of_two_that_leaves_25_steps(images, batch):
    assert auto_batch(images) == batch


def test_stretch_grows_epochs_and_warmup_in_proportion_only_when_short():
    assert stretch(4, 1, 28, 1000) == (36, 9.0)  # ceil(1000 / 28) = 36 epochs, warm-up 1 * 36 / 4
    assert stretch(10, 0.5, 40, 2000) == (50, 2.5)
    assert stretch(4, 1, 421, 1000) == (4, 1)  # 1684 steps already: a large dataset is not cut short
    assert stretch(4, 1, 250, 1000) == (4, 1)  # exactly enough


def folder_search(root, *overrides):
    return run_config("search", data=str(root), overrides=list(overrides))


def test_search_on_a_folder_takes_classes_channels_resolution_batch_and_folder_from_the_data(tmp_path):
    root = make_image_tree(tmp_path / "my pets", classes=("cat", "dog", "owl", "yak"), per_class=10, size=40)
    cfg, notes = settings_from_data(folder_search(root), "search")
    assert (cfg.space.num_classes, cfg.space.in_chans, cfg.space.resolution) == (4, 3, 40)
    assert cfg.data.dataset == "imagefolder" and cfg.data.batch_size == 16  # 36 training images
    assert cfg.run.out_dir == "runs/search/my pets"
    # 36 // 16 = 2 steps per epoch: 4 epochs -> ceil(1000 / 2) = 500, warm-up 1 -> 125
    assert (cfg.search.epochs, cfg.search.warmup_epochs) == (500, 125)
    assert notes[0] == (f"data: {root} (imagefolder), 4 classes; 40 of 40 train/ images inspected: colour, median "
                        "short side 40 px; 36 training images, validation on 0.1 of train/ held out")
    assert notes[1] == ("from the data: space.num_classes=4, space.in_chans=3, space.resolution=40, "
                        "data.batch_size=16 (an epoch of at least 25 steps), run.out_dir=runs/search/my pets")
    assert "search.epochs 4 -> 500 and search.warmup_epochs 1 -> 125" in notes[2]
    again, _ = settings_from_data(cfg, "search")
    assert again == cfg  # a fitted config fits to itself: a resumed run sees the same config


def test_overrides_win_over_the_data_and_presets_are_optional(tmp_path):
    root = make_image_tree(tmp_path / "tree", per_class=6, size=40)
    cfg, _ = settings_from_data(folder_search(root, "space.resolution=32", "data.batch_size=8", "search.min_steps=0",
                                       "run.out_dir=elsewhere"), "search")
    assert (cfg.space.resolution, cfg.data.batch_size, cfg.search.epochs, cfg.run.out_dir) == (32, 8, 4, "elsewhere")
    assert cfg.space.in_chans == 3  # still from the data
    # No preset and no --data: data.dataset=imagefolder alone chooses the image-folder preset.
    plain = run_config("search", overrides=["data.dataset=imagefolder", f"data.root={root}"])
    assert plain.space.resolution is None and plain.data.batch_size is None
    # A named preset keeps its recipe, while --data decides what the data decides.
    named = run_config("search", "fashion_mnist", data=str(root))
    assert named.data.batch_size == 128 and named.space.in_chans is None and named.run.out_dir is None


def test_a_large_side_is_capped_at_224(tmp_path):
    root = make_image_tree(tmp_path / "big", per_class=6, size=300)
    cfg, _ = settings_from_data(folder_search(root, "search.min_steps=0"), "search")
    assert cfg.space.resolution == 224


def test_retrain_on_a_folder_retrains_the_search_of_the_same_data(tmp_path):
    root = make_image_tree(tmp_path / "tree", per_class=5, size=40)
    cfg, notes = settings_from_data(run_config("retrain", data=str(root)), "retrain")
    assert cfg.retrain.arch == "runs/search/tree/result.json" and cfg.run.out_dir == "runs/retrain/tree"
    assert "15 training images, validation on val/" in notes[0]  # all of train/, val/ validates
    # a batch of all 15 images: one step per epoch, so the 3000 steps of the preset's floor take 3000 epochs
    assert (cfg.data.batch_size, cfg.retrain.epochs, cfg.retrain.warmup_epochs) == (15, 3000, 150.0)


def test_fashion_mnist_presets_are_unchanged_by_fitting(tiny_fashion_mnist):
    cfg = make_config(SearchRun, None, [f"data.root={tiny_fashion_mnist}"])
    fitted, notes = settings_from_data(cfg, "search")
    assert fitted == cfg and notes == []
    auto = dataclasses.replace(cfg, space=dataclasses.replace(cfg.space, in_chans=None, resolution=None))
    fitted, _ = settings_from_data(auto, "search")
    assert (fitted.space.in_chans, fitted.space.resolution) == (1, 28)


def test_data_option_tells_folders_from_fashion_mnist_and_refuses_others(tmp_path, tiny_fashion_mnist):
    tree = make_image_tree(tmp_path / "tree", per_class=1, splits=("train",))
    assert data_option(str(tree)) == {"dataset": "imagefolder", "root": str(tree)}
    assert data_option(str(tiny_fashion_mnist))["dataset"] == "fashion_mnist"
    (tmp_path / "loose").mkdir()
    with pytest.raises(CreamError, match=r"holds neither train/ nor Fashion-MNIST IDX files; lay images out as"):
        data_option(str(tmp_path / "loose"))

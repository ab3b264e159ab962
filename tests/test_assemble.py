import pytest

from cream.assemble import default_checkpoint, run_config
from cream.errors import CreamError
from tests.conftest import make_image_tree

OFFICIAL_SEARCH = "DATA_DIR: ./data/imagenet\nSUPERNET:\n  FLOPS_MAXIMUM: 300\nEPOCHS: 6\n"


def config_line(out: str) -> str:
    return next(line for line in out.splitlines() if line.startswith("config: "))


def test_one_line_says_which_layer_set_each_value_that_is_not_the_default(tmp_path, capsys):
    tree = make_image_tree(tmp_path / "pets")
    cfg = run_config("search", "fashion_mnist", data=str(tree), overrides=["search.epochs=3", "search.lr=0.5"])
    assert cfg.search.epochs == 3 and cfg.data.root == str(tree) and cfg.space.num_classes is None
    line = config_line(capsys.readouterr().out)
    preset, data, overrides = line.removeprefix("config: ").split("; ")
    assert preset.startswith("preset fashion_mnist: ") and "search.val_images=6000" in preset
    assert "search.epochs" not in preset and "space.num_classes" not in preset  # set again by later layers
    assert "space.width" not in preset  # the preset's 0.5 is the default
    assert data == (f'--data {tree} (null: from the data): data.dataset="imagefolder", data.root="{tree}", '
                    "space.num_classes=null, space.in_chans=null, space.resolution=null, run.out_dir=null")
    assert overrides == "overrides: search.epochs=3, search.lr=0.5"


def test_the_layers_go_preset_official_data_arguments_overrides(tmp_path, capsys):
    tree = make_image_tree(tmp_path / "pets")
    official = tmp_path / "train.yaml"
    official.write_text(OFFICIAL_SEARCH)
    cfg = run_config("search", official=str(official), data=str(tree), overrides=["search.epochs=2"])
    assert cfg.space.flops_max == 300 and cfg.data.root == str(tree) and cfg.search.epochs == 2
    line = config_line(capsys.readouterr().out)
    assert line.startswith("config: preset paper_code: ") and f"; official {official}: space.flops_max=300.0" in line
    assert line.endswith('search.fidelity=paper_code: space.depth_rule="paper", search.clip_grad=0.0, '
                         'search.off_path_updates="dense", search.board_labels="teacher", search.board_rule="paper", '
                         'search.out_of_budget="keep", search.meta_net="paper", search.meta_weight="paper", '
                         'search.meta_update="paper"')  # the keys the fidelity set, named as a layer of their own
    retrain = run_config("retrain", "287", data=str(tree), arguments={"retrain": {"init": "a.pth"}},
                         overrides=["retrain.init=b.pth"])
    assert retrain.retrain.arch is None and retrain.retrain.init == "b.pth"  # --data decides what it retrains
    assert "arguments" not in config_line(capsys.readouterr().out)  # the override replaced the argument


def test_overrides_as_a_dict_are_values_and_as_strings_yaml(tmp_path, capsys):
    as_dict = run_config("search", overrides={"search.epochs": 3, "flops_max": 6, "run.out_dir": "runs/1e3"})
    as_text = run_config("search", overrides=["search.epochs=3", "flops_max=6", "run.out_dir=runs/1e3"])
    assert as_dict == as_text and as_dict.space.flops_max == 6.0
    assert run_config("search", overrides={"data.dataset": "imagefolder"}).space.resolution is None  # its preset
    with pytest.raises(CreamError, match="unknown config section 'serch'; did you mean 'search'"):
        run_config("search", overrides={"serch.epochs": 3})


@pytest.mark.parametrize("kwargs, message", [
    ({"preset": "imagenet", "official": "train.yaml"}, r"^give a preset \(imagenet\) or --official train.yaml, not "
                                                       "both$"),
    ({"official": "train.yaml", "overrides": {"EPOCHS": 3}}, "give overrides as a list of KEY=value strings"),
    ({"preset": "nope"}, "no search preset named 'nope'"),
])
def test_bad_requests_are_one_line_errors(tmp_path, kwargs, message, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "train.yaml").write_text(OFFICIAL_SEARCH)
    with pytest.raises(CreamError, match=message):
        run_config("search", **kwargs)


def test_the_default_checkpoint_of_a_data_folder_is_its_retrain(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    tree = make_image_tree(tmp_path / "pets")
    with pytest.raises(CreamError, match="no retrained model of .* at runs/retrain/pets/best.pth"):
        default_checkpoint(str(tree))
    (tmp_path / "runs/retrain/pets").mkdir(parents=True)
    (tmp_path / "runs/retrain/pets/best.pth").write_bytes(b"")
    assert default_checkpoint(str(tree)) == "runs/retrain/pets/best.pth"

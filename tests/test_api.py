from pathlib import Path

import pytest
import timm
import torch

import cream
from cream.api import RetrainResult, SearchResult
from cream.errors import CreamError
from cream.space.arch import Arch
from cream.space.net import NetSpec, build_child
from tests.train.conftest import released_checkpoint, search_checkpoint


def test_a_result_takes_a_json_files_keys_keeps_unknown_ones_and_defaults_missing_ones():
    result = RetrainResult.from_dict({"arch": "3-3-3-3-3", "best_top1": 91.5, "added_later": [1]})
    assert (result.arch, result.best_top1, result.extra) == ("3-3-3-3-3", 91.5, {"added_later": [1]})
    assert result.history is None and result.already_finished is False
    assert SearchResult.from_dict({"arch": "x", "already_finished": True}).already_finished is True


def test_create_model_builds_paper_models_as_timm_does_and_architecture_strings_at_any_size():
    torch.manual_seed(0)
    ours = cream.create_model("285", num_classes=10)  # the README's name of cream_287
    torch.manual_seed(0)
    timms = timm.create_model("cream_287", num_classes=10)
    assert ours.pretrained_cfg["architecture"] == "cream_287"
    assert all(torch.equal(a, b) for a, b in zip(ours.state_dict().values(), timms.state_dict().values()))
    small = cream.create_model("3-33-313-3333-333", num_classes=10, in_chans=1, resolution=28, width=0.5)
    expected = build_child(Arch.parse("3-33-313-3333-333"), NetSpec(resolution=28, in_chans=1, num_classes=10,
                                                                    width=0.5))
    assert [t.shape for t in small.state_dict().values()] == [t.shape for t in expected.state_dict().values()]
    assert small(torch.zeros(2, 1, 28, 28)).shape == (2, 10) and small.conv_stem.stride == (2, 2)
    assert cream.create_model("cream_14", resolution=32).blocks[1][0].conv_dw.stride == (1, 1)  # small input
    backbone = cream.create_model("cream_14", features_only=True)  # timm's options for a paper model
    assert len(backbone(torch.zeros(1, 3, 64, 64))) == 5


def test_create_model_refuses_what_it_cannot_build_in_one_line():
    with pytest.raises(CreamError, match="takes drop_rate and drop_path_rate, not features_only; timm's other"):
        cream.create_model("3-3-3-3-3", features_only=True)
    with pytest.raises(CreamError, match="needs 5 stages"):
        cream.create_model("3-3")


def test_load_supernet_reads_a_search_checkpoint_with_its_ema_weights_unless_asked_not_to(tmp_path,
                                                                                         tiny_fashion_mnist):
    path = search_checkpoint(tmp_path / "last.pth", tiny_fashion_mnist)
    supernet = cream.load_supernet(path)
    saved = torch.load(path, weights_only=True)
    assert supernet.weights == "plain" and supernet.depths == (2, 2, 3, 2, 2) and supernet.spec.resolution == 28
    assert torch.equal(supernet.state_dict()["conv_stem.weight"], saved["supernet"]["conv_stem.weight"])
    saved["ema"] = {k: v + 1 if v.is_floating_point() else v for k, v in saved["supernet"].items()}
    torch.save(saved, path)
    for ema, which in ((True, "ema"), (False, "plain")):
        supernet = cream.load_supernet(path, ema=ema, resolution=32)
        assert supernet.weights == which and supernet.spec.resolution == 32
        key = "ema" if ema else "supernet"
        assert torch.equal(supernet.state_dict()["conv_stem.weight"], saved[key]["conv_stem.weight"])
    child = supernet.extract(Arch.parse("3-3-3-3-3"))
    assert child(torch.zeros(1, 1, 32, 32)).shape == (1, 10)
    released = released_checkpoint(tmp_path / "r.pth.tar", child)
    with pytest.raises(CreamError, match=r"r.pth.tar is not a search checkpoint \(the last.pth of `cream search`\); "
                                         "give the last.pth of a `cream search` run$"):
        cream.load_supernet(released)


def test_load_supernet_builds_the_kind_of_supernet_its_checkpoint_holds(tmp_path, tiny_fashion_mnist):
    older = cream.load_supernet(search_checkpoint(tmp_path / "old.pth", tiny_fashion_mnist))
    assert older.sharing == "independent"  # a checkpoint from before space.sharing
    path = search_checkpoint(tmp_path / "last.pth", tiny_fashion_mnist, sharing="entangled")
    supernet, saved = cream.load_supernet(path), torch.load(path, weights_only=True)["supernet"]
    assert supernet.sharing == "entangled"
    key = "blocks.1.0.largest.conv_dw.weight"
    assert torch.equal(supernet.state_dict()[key], saved[key])
    child = supernet.extract(Arch.parse("0-00-000-00-00"))  # k3 e4: the centre of the 7 x 7 kernels, 4/6 channels
    mid = 4 * supernet.blocks[1][0].largest.conv_pw.in_channels
    assert torch.equal(child.state_dict()["blocks.1.0.conv_dw.weight"], saved[key][:mid, :, 2:5, 2:5])
    per_op = search_checkpoint(tmp_path / "per_op.pth", tiny_fashion_mnist, sharing="entangled_bn_per_op")
    ckpt = torch.load(per_op, weights_only=False)
    ckpt["supernet"]["blocks.1.0.norms.0.bn1.running_var"].fill_(2.0)  # op 0's own statistics, unlike the largest's
    torch.save(ckpt, per_op)
    child = cream.load_supernet(per_op).extract(Arch.parse("0-00-000-00-00"))
    assert torch.equal(child.state_dict()["blocks.1.0.bn1.running_var"], torch.full((mid,), 2.0))


def test_cream_search_is_a_plain_function_with_its_own_docstring_that_passes_the_strategy_on(monkeypatch):
    import inspect

    from cream.analysis import plots
    from cream.nas import trainer
    from cream.reporting import page_writer

    calls, drawn = [], []

    def run_search(cfg, force=False, strategy=None, notes=(), after_epoch=None):
        assert after_epoch is page_writer  # the report page is rewritten after every epoch
        calls.append((cfg.search.epochs, force, strategy))
        return {"arch": "3-3-3-3-3", "val_top1": 50.0, "config": {"run": {"out_dir": "runs/x"}},
                **({"already_finished": True} if cfg.search.epochs == 4 else {})}

    monkeypatch.setattr(trainer, "run_search", run_search)
    monkeypatch.setattr(plots, "plot_search_run", lambda folder, result: drawn.append((folder, result["arch"])))
    assert inspect.isfunction(cream.search) and "preset" in inspect.signature(cream.search).parameters
    assert cream.search.__doc__.startswith("Search:")
    result = cream.search(overrides={"search.epochs": 2}, force=True)
    assert isinstance(result, SearchResult) and result.arch == "3-3-3-3-3" and result.val_top1 == 50.0
    strategy = object()
    cream.search(overrides=["search.epochs=3"], strategy=strategy)
    assert calls == [(2, True, None), (3, False, strategy)]
    # search.png is drawn after each run, from the run folder; a finished run reported again keeps its own
    assert drawn == [(Path("runs/x"), "3-3-3-3-3")] * 2
    assert cream.search(overrides=["search.epochs=4"]).already_finished and len(drawn) == 2


def test_the_commands_that_report_return_what_they_found_and_the_cli_prints_it(capsys):
    from cream import api
    from cream.cli import main

    found = api.space(flops_max=8, resolution=28, in_chans=1, width=0.5)
    assert found.plan.flops_max == 8 and found.plan.spec.resolution == 28 and len(found.plan.depths) == 5
    assert main(["space", "--flops-max", "8", "--resolution", "28", "--in-chans", "1", "--width", "0.5"]) == 0
    assert capsys.readouterr().out == found.text + "\n"
    assert main(["arch", "3-33-313-3333-333", "--resolution", "32"]) == 0
    assert capsys.readouterr().out == cream.arch("3-33-313-3333-333", resolution=32) + "\n"
    assert "\n  flops_max: " in api.keys("search") and "\n  init: " in api.keys("retrain")

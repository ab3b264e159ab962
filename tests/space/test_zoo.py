import math

import pytest
import timm
import torch
from timm.data import resolve_model_data_config

import cream  # noqa: F401  (registers the models)
from cream.errors import CreamError
from cream.space.flops import count_macs, count_params
from cream.space.zoo import name_note, paper_arch, paper_model, resolve_arch

# name: (parameters in millions, multiply-adds in millions), from the paper
PAPER_SIZES = {
    "cream_14": (2.69, 14), "cream_43": (4.40, 43), "cream_114": (4.42, 114),
    "cream_287": (6.05, 287), "cream_481": (7.71, 481), "cream_604": (9.70, 604),
}
# name: input side, as the paper's tools/test.py sets DATASET.IMAGE_SIZE for each NET.SELECTION
PAPER_SIDES = {"cream_14": 64, "cream_43": 96, "cream_114": 160, "cream_287": 224, "cream_481": 224, "cream_604": 224}
MODELS = list(PAPER_SIDES)
# The backbone's five taps (stem block, then the ends of stride 4, 8, 16 and 32) and their widths, from the layout
# in the README: 16-channel stage 0, stages of 24, 40, (80,) 96, (192,) then the fixed 320-channel conv.
REDUCTIONS = [2, 4, 8, 16, 32]
CHANNELS = [16, 24, 40, 96, 320]


def image(name, batch=1):
    side = PAPER_SIDES[name]
    return torch.randn(batch, 3, side, side, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("name", MODELS)
def test_paper_models_have_the_papers_sizes(name):
    params, macs = PAPER_SIZES[name]
    model = timm.create_model(name).eval()
    side = model.pretrained_cfg["input_size"][-1]
    assert count_params(model) == pytest.approx(params, rel=0.02)
    assert count_macs(model, torch.zeros(1, 3, side, side)) == pytest.approx(macs, rel=0.05)


@pytest.mark.parametrize("name", MODELS)
def test_pretrained_cfg_describes_the_model_and_the_papers_evaluation(name):
    model = timm.create_model(name).eval()
    cfg = model.pretrained_cfg
    side = PAPER_SIDES[name]
    assert cfg["architecture"] == name and cfg["input_size"] == (3, side, side)
    with torch.no_grad():
        features = model.forward_features(image(name))
    assert tuple(features.shape[-2:]) == cfg["pool_size"] == (math.ceil(side / 32),) * 2
    assert features.shape[1] == model.num_features == 320
    first = model.get_submodule(cfg["first_conv"])
    assert isinstance(first, torch.nn.Conv2d) and first.in_channels == cfg["input_size"][0]
    head = model.get_submodule(cfg["classifier"])
    assert head is model.get_classifier() and head.out_features == cfg["num_classes"] == model.num_classes
    # The paper's tools/test.py: bicubic resize, centre crop 0.875, ImageNet mean and std; MIT licence.
    assert (cfg["interpolation"], cfg["crop_pct"], cfg["crop_mode"]) == ("bicubic", 0.875, "center")
    assert cfg["mean"] == (0.485, 0.456, 0.406) and cfg["std"] == (0.229, 0.224, 0.225)
    assert cfg["license"] == "mit" and cfg["origin_url"] == "https://github.com/microsoft/Cream"
    assert resolve_model_data_config(model)["input_size"] == (3, side, side)


@pytest.mark.parametrize("name", MODELS)
def test_features_only_gives_a_backbone_with_the_trunks_weights(name):
    model = timm.create_model(name).eval()
    backbone = timm.create_model(name, features_only=True).eval()
    assert backbone.feature_info.reduction() == REDUCTIONS and backbone.feature_info.channels() == CHANNELS
    assert "num_classes" not in backbone.pretrained_cfg and "classifier" not in backbone.pretrained_cfg
    trunk = {k: v for k, v in model.state_dict().items() if k in backbone.state_dict()}
    backbone.load_state_dict(trunk)  # strict: the backbone is the classifier's trunk, key for key
    x = image(name)
    with torch.no_grad():
        maps = backbone(x)
        expected = model.forward_intermediates(x, intermediates_only=True)
    side = PAPER_SIDES[name]
    assert [tuple(m.shape) for m in maps] == [(1, c, math.ceil(side / r), math.ceil(side / r))
                                              for c, r in zip(CHANNELS, REDUCTIONS)]
    assert all(torch.equal(a, b) for a, b in zip(maps, expected))

    picked = timm.create_model(name, features_only=True, out_indices=(1, 3))
    assert picked.feature_info.reduction() == [4, 16] and picked.feature_info.channels() == [24, 96]
    assert [m.shape[1] for m in picked(x)] == [24, 96]
    getter = timm.create_model(name, features_only=True, feature_cls="getter", out_indices=(4,))
    assert [m.shape[1] for m in getter(x)] == [320]


@pytest.mark.parametrize("name", MODELS)
def test_forward_intermediates_matches_feature_info_and_forward_features(name):
    model = timm.create_model(name).eval()
    x = image(name)
    with torch.no_grad():
        final, maps = model.forward_intermediates(x)
        assert torch.equal(final, model.forward_features(x))
        last_two = model.forward_intermediates(x, indices=2, intermediates_only=True)
        early = model.forward_intermediates(x, indices=[1], intermediates_only=True, stop_early=True)
    assert [m.shape[1] for m in maps] == [info["num_chs"] for info in model.feature_info] == CHANNELS
    assert [x.shape[-1] // m.shape[-1] for m in maps[:-1]] == REDUCTIONS[:-1]  # exact below the last stride
    assert all(torch.equal(a, b) for a, b in zip(last_two, maps[-2:]))
    assert len(early) == 1 and torch.equal(early[0], maps[1])


@pytest.mark.parametrize("name", MODELS)
def test_reset_classifier_gives_new_classes_pre_logits_or_the_unpooled_head(name):
    model = timm.create_model(name).eval()
    x = image(name)
    with torch.no_grad():
        pre_logits = model.forward_head(model.forward_features(x), pre_logits=True)
        model.reset_classifier(10)
        assert model(x).shape == (1, 10) and model.num_classes == 10
        model.reset_classifier(0)
        assert torch.equal(model(x), pre_logits) and pre_logits.shape == (1, 1280)
        model.reset_classifier(0, "")
        assert model(x).shape == (1, 1280, *model.pretrained_cfg["pool_size"])


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("features_only", [False, True])
def test_grad_checkpointing_recomputes_blocks_and_keeps_outputs_and_gradients(name, features_only):
    model = timm.create_model(name, features_only=features_only).eval()  # eval: BatchNorm stats stay fixed
    x = image(name)
    calls = []
    model.blocks[2][0].register_forward_pre_hook(lambda *_: calls.append(1))

    def run():
        model.zero_grad()
        out = model(x)
        loss = sum(o.square().mean() for o in out) if features_only else out.square().mean()
        loss.backward()
        return loss.detach(), [p.grad.clone() for p in model.parameters()]

    plain = run()
    assert len(calls) == 1
    model.set_grad_checkpointing(True)
    calls.clear()
    checkpointed = run()
    assert len(calls) == 2  # once forward, once again during backward
    assert torch.allclose(plain[0], checkpointed[0])
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(plain[1], checkpointed[1]))


def test_create_model_takes_timm_options():
    model = timm.create_model("cream_14", num_classes=10, in_chans=1, drop_rate=0.2)
    assert model(torch.randn(2, 1, 64, 64)).shape == (2, 10)
    assert model.drop_rate == 0.2


def test_pretrained_weights_cannot_be_downloaded():
    with pytest.raises(CreamError, match="no downloadable weights"):
        timm.create_model("cream_14", pretrained=True)


# The paper README's names and the code's names of its v1.0 release (tools/retrain.py there selected the same
# architecture lists under 42, 112, 285, 470 and 600).
README_TO_CODE = {"42": "cream_43", "112": "cream_114", "285": "cream_287", "470": "cream_481", "600": "cream_604"}


@pytest.mark.parametrize("readme, model", README_TO_CODE.items())
def test_readme_names_resolve_to_the_same_model_everywhere(readme, model):
    for spelling in (readme, f"cream_{readme}", f" {readme} "):
        assert paper_model(spelling) == model
        assert resolve_arch(spelling) == paper_arch(model)
    assert name_note(readme).startswith(f"{readme} is the paper README's name of {model} (")
    with pytest.warns(UserWarning, match=f"cream_{readme} to current {model}"):
        created = timm.create_model(f"cream_{readme}")
    assert created.pretrained_cfg["architecture"] == model
    assert {k: v.shape for k, v in created.state_dict().items()} == \
        {k: v.shape for k, v in timm.create_model(model).state_dict().items()}


def test_code_names_need_no_note_and_other_names_are_not_models():
    assert paper_model("287") == paper_model("cream_287") == "cream_287" and name_note("cream_287") is None
    assert paper_model("23") is None and paper_model("3-33-313-3333-333") is None and name_note("72") is None
    with pytest.raises(CreamError, match="unknown model '23'; paper models are cream_14, .* README's cream_42"):
        paper_arch("23")
    assert "470" not in [m.removeprefix("cream_") for m in timm.list_models("cream_*")]  # listed once, as 481

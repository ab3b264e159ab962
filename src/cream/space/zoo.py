"""The paper's six searched architectures, by name, registered in timm (``timm.create_model("cream_287")``).

Each model follows timm's MobileNetV3 conventions: ``features_only`` / ``out_indices`` give a backbone,
``forward_intermediates``, ``reset_classifier`` and ``set_grad_checkpointing`` come from timm's class, and the
``pretrained_cfg`` describes the paper's evaluation (input size, bicubic resize, crop 0.875, ImageNet mean/std).
"""

from __future__ import annotations

from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from timm.models import build_model_with_cfg, generate_default_cfgs, register_model, register_model_deprecations
from timm.models._builder import pretrained_cfg_for_features
from timm.models.mobilenetv3 import MobileNetV3Features

from cream.errors import CreamError
from cream.space.arch import Arch
from cream.space.net import CreamNet, NetSpec

# name: (text form of the architecture, input resolution), as the paper's tools/retrain.py and tools/test.py
# select them by NET.SELECTION (14, 43, 114, 287, 481, 604).
PAPER_ARCHS = {
    "cream_14": ("3-33-33-3-3", 64),
    "cream_43": ("3-31-31-333-33", 96),
    "cream_114": ("3-33-33-333-33", 160),
    "cream_287": ("3-33-313-3333-333", 224),
    "cream_481": ("3431-3230-33311-3333-3333", 224),
    "cream_604": ("33233-32323-32323-332233-332333", 224),
}

# The paper README's names (those of the code's v1.0 release, which selected the same architectures).
README_NAMES = {"cream_42": "cream_43", "cream_112": "cream_114", "cream_285": "cream_287", "cream_470": "cream_481",
                "cream_600": "cream_604"}


def paper_model(name) -> str | None:
    """The registered name of a paper model given as ``cream_481``, ``481`` or a README name (``470``); else None."""
    text = str(name).strip()
    text = text if text.startswith("cream_") else f"cream_{text}"
    text = README_NAMES.get(text, text)
    return text if text in PAPER_ARCHS else None


def name_note(name) -> str | None:
    """One line saying which model a README name stands for; None for the code's own names and anything else."""
    text = str(name).strip()
    readme = text if text.startswith("cream_") else f"cream_{text}"
    if readme not in README_NAMES:
        return None
    model = README_NAMES[readme]
    arch, resolution = PAPER_ARCHS[model]
    return (f"{text} is the paper README's name of {model} ({arch} at {resolution} px; the code's name is "
            f"{model.removeprefix('cream_')})")


def paper_arch(name: str) -> tuple[Arch, int]:
    """(architecture, resolution) of a paper model such as ``cream_287``, ``287`` or ``470``."""
    model = paper_model(name)
    if model is None:
        raise CreamError(f"unknown model {name!r}; paper models are {', '.join(PAPER_ARCHS)} "
                         f"(or the README's {', '.join(README_NAMES)})")
    text, resolution = PAPER_ARCHS[model]
    return Arch.parse(text), resolution


def resolve_arch(name_or_arch: str) -> tuple[Arch, int | None]:
    """A paper name gives its architecture and resolution; an architecture string gives no resolution."""
    if paper_model(name_or_arch) is not None:
        return paper_arch(name_or_arch)
    return Arch.parse(name_or_arch), None


def _cfg(resolution: int) -> dict:
    side = NetSpec(resolution=resolution).feature_size  # forward_features' map at the input size
    return dict(
        num_classes=1000, input_size=(3, resolution, resolution), pool_size=(side, side), crop_pct=0.875,
        interpolation="bicubic", mean=IMAGENET_DEFAULT_MEAN, std=IMAGENET_DEFAULT_STD,
        first_conv="conv_stem", classifier="classifier", license="mit", origin_url="https://github.com/microsoft/Cream",
        paper_ids="arXiv:2010.15821",
        paper_name="Cream of the Crop: Distilling Prioritized Paths For One-Shot Neural Architecture Search",
    )


default_cfgs = generate_default_cfgs({name: _cfg(res) for name, (_, res) in PAPER_ARCHS.items()})

# Head arguments a features-only backbone does not take (as timm's MobileNetV3 entries filter them).
_HEAD_KWARGS = ("num_classes", "num_features", "head_conv", "head_bias", "head_norm", "global_pool")


def _create(name: str, pretrained: bool = False, **kwargs):
    if pretrained:
        raise CreamError(
            f"{name} has no downloadable weights; load a released checkpoint with `cream test --checkpoint PATH`"
        )
    arch, resolution = paper_arch(name)
    spec_keys = ("num_classes", "in_chans", "drop_rate")
    spec = NetSpec(resolution=resolution, **{k: kwargs.pop(k) for k in spec_keys if k in kwargs})
    kwargs = {**spec.model_kwargs(), **kwargs}
    # features_only, as timm's MobileNetV3 entries do it: its feature class unless a feature_cls/feature_cfg is
    # asked for. The paper models all keep the stem stride of 2, which timm's feature class has.
    backbone = kwargs.get("features_only") and not ("feature_cfg" in kwargs or "feature_cls" in kwargs)
    if backbone:
        kwargs.pop("features_only")
    model = build_model_with_cfg(
        MobileNetV3Features if backbone else CreamNet, name, pretrained=False, block_args=spec.block_args(arch),
        pretrained_strict=not backbone, kwargs_filter=_HEAD_KWARGS if backbone else None, **kwargs,
    )
    if backbone:
        model.pretrained_cfg = model.default_cfg = pretrained_cfg_for_features(model.pretrained_cfg)
    return model


@register_model
def cream_14(pretrained=False, **kwargs) -> CreamNet:
    return _create("cream_14", pretrained, **kwargs)


@register_model
def cream_43(pretrained=False, **kwargs) -> CreamNet:
    return _create("cream_43", pretrained, **kwargs)


@register_model
def cream_114(pretrained=False, **kwargs) -> CreamNet:
    return _create("cream_114", pretrained, **kwargs)


@register_model
def cream_287(pretrained=False, **kwargs) -> CreamNet:
    return _create("cream_287", pretrained, **kwargs)


@register_model
def cream_481(pretrained=False, **kwargs) -> CreamNet:
    return _create("cream_481", pretrained, **kwargs)


@register_model
def cream_604(pretrained=False, **kwargs) -> CreamNet:
    return _create("cream_604", pretrained, **kwargs)


# timm.create_model("cream_470") builds cream_481 and warns "Mapping deprecated model name cream_470 to current
# cream_481": timm's own way of saying which model an older name stands for.
register_model_deprecations(__name__, README_NAMES)

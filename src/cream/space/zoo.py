"""The paper's six searched architectures, by name, registered in timm (``timm.create_model("cream_287")``)."""

from __future__ import annotations

from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from timm.models import build_model_with_cfg, generate_default_cfgs, register_model

from cream.errors import CreamError
from cream.space.arch import Arch
from cream.space.net import CreamNet, NetSpec

# name: (text form of the architecture, input resolution), from the paper's released models.
PAPER_ARCHS = {
    "cream_14": ("3-33-33-3-3", 64),
    "cream_43": ("3-31-31-333-33", 96),
    "cream_114": ("3-33-33-333-33", 160),
    "cream_287": ("3-33-313-3333-333", 224),
    "cream_481": ("3431-3230-33311-3333-3333", 224),
    "cream_604": ("33233-32323-32323-332233-332333", 224),
}


def paper_arch(name: str) -> tuple[Arch, int]:
    """(architecture, resolution) of a paper model such as ``cream_287``."""
    if name not in PAPER_ARCHS:
        raise CreamError(f"unknown model {name!r}; paper models are {', '.join(PAPER_ARCHS)}")
    text, resolution = PAPER_ARCHS[name]
    return Arch.parse(text), resolution


def resolve_arch(name_or_arch: str) -> tuple[Arch, int | None]:
    """A paper name gives its architecture and resolution; an architecture string gives no resolution."""
    if isinstance(name_or_arch, str) and name_or_arch.strip() in PAPER_ARCHS:
        return paper_arch(name_or_arch.strip())
    return Arch.parse(name_or_arch), None


def _cfg(resolution: int) -> dict:
    return dict(
        num_classes=1000, input_size=(3, resolution, resolution), pool_size=(1, 1), crop_pct=0.875,
        interpolation="bicubic", mean=IMAGENET_DEFAULT_MEAN, std=IMAGENET_DEFAULT_STD,
        first_conv="conv_stem", classifier="classifier", license="mit",
    )


default_cfgs = generate_default_cfgs({name: _cfg(res) for name, (_, res) in PAPER_ARCHS.items()})


def _create(name: str, pretrained: bool = False, **kwargs) -> CreamNet:
    if pretrained:
        raise CreamError(
            f"{name} has no downloadable weights; load a released checkpoint with `cream test --checkpoint PATH`"
        )
    arch, resolution = paper_arch(name)
    spec_keys = ("num_classes", "in_chans", "drop_rate")
    spec = NetSpec(resolution=resolution, **{k: kwargs.pop(k) for k in spec_keys if k in kwargs})
    stem, _ = spec.strides
    return build_model_with_cfg(
        CreamNet, name, pretrained=False, block_args=spec.block_args(arch), stem_stride=stem,
        **{**spec.model_kwargs(), **kwargs},
    )


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

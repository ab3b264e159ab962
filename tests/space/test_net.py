import pytest
import torch

from cream.errors import CreamError
from cream.space import Arch, NetSpec
from cream.space.net import build_child


def test_paper_strides_at_224_and_small_image_strides_below_64():
    assert NetSpec().strides == (2, (2, 2, 2, 1, 2))
    assert NetSpec().feature_size == 7
    small = NetSpec(resolution=28)
    assert small.strides == (2, (1, 2, 2, 1, 2)) and small.feature_size == 2
    assert NetSpec(resolution=32).feature_size == 2


def test_child_net_runs_on_grayscale_28px_with_width_multiplier():
    spec = NetSpec(resolution=28, in_chans=1, num_classes=10, width=0.5)
    model = build_child(Arch.parse("0-12-345-0123-45"), spec)
    assert model(torch.randn(2, 1, 28, 28)).shape == (2, 10)
    assert model.blocks[1][0].conv_pwl.out_channels == 16  # 24 * 0.5 -> multiple of 8


def test_child_state_dict_follows_timm_mobilenetv3_layout():
    keys = build_child(Arch.parse("3-33-313-3333-333"), NetSpec()).state_dict().keys()
    for key in ("conv_stem.weight", "bn1.running_mean", "blocks.0.0.conv_dw.weight", "blocks.0.0.se.conv_reduce.weight",
                "blocks.3.2.conv_pw.weight", "blocks.3.2.bn3.weight", "blocks.6.0.conv.weight",
                "conv_head.weight", "conv_head.bias", "classifier.weight"):
        assert key in keys


@pytest.mark.parametrize("kwargs, message", [
    (dict(resolution=64, stage_strides=(2, 2, 2, 2, 2)), "too small for a total stride of 64"),
    (dict(resolution=0), "resolution must be a positive"),
    (dict(width=0), "width must be"),
    (dict(in_chans=-1), "in_chans must be"),
    (dict(stem_stride=3), "stem_stride must be 1 or 2"),
    (dict(stage_strides=(1, 2)), "stage_strides must be 5 values"),
])
def test_bad_specs_are_clear_errors(kwargs, message):
    with pytest.raises(CreamError, match=message):
        NetSpec(**kwargs)

"""The picked network stage by stage, block by block, as data for the page's drawing (a CSS grid of boxes)."""

from __future__ import annotations

from timm.models._efficientnet_builder import round_channels

from cream.space.arch import OPS, STAGES, Arch
from cream.space.net import HEAD_CHS, LAST_CONV_CHS, STEM_CHS, NetSpec


def network_stages(arch: str, net: dict) -> list[dict]:
    """One entry per stage, stem to head: its name, output channels, stride, feature-map side and blocks (each with
    kernel, expansion and stride), in the layout ``net`` (result.json's "net") gives."""
    spec = NetSpec(resolution=net["resolution"], in_chans=net["in_chans"], num_classes=net["num_classes"],
                   width=net["width"], stem_stride=net.get("stem_stride"),
                   stage_strides=tuple(net["stage_strides"]) if net.get("stage_strides") else None)
    stem_stride, strides = spec.strides
    side = -(-spec.resolution // stem_stride)

    def channels(c):
        return round_channels(c, multiplier=spec.width)

    stages = [{"name": "stem", "channels": channels(STEM_CHS), "stride": stem_stride, "side": side,
               "blocks": [{"label": "conv 3x3", "kernel": 3, "expansion": None, "stride": stem_stride}]},
              {"name": "stage 0", "channels": channels(16), "stride": 1, "side": side,
               "blocks": [{"label": "dw-sep k3", "kernel": 3, "expansion": 1, "stride": 1}]}]
    for s, ops in enumerate(Arch.parse(arch).stages):
        side = -(-side // strides[s])
        blocks = [{"label": f"k{OPS[op].kernel} e{OPS[op].expansion}", "kernel": OPS[op].kernel,
                   "expansion": OPS[op].expansion, "stride": strides[s] if b == 0 else 1} for b, op in enumerate(ops)]
        stages.append({"name": f"stage {s + 1}", "channels": channels(STAGES[s].out_chs), "stride": strides[s],
                       "side": side, "blocks": blocks})
    stages.append({"name": "conv 1x1", "channels": channels(LAST_CONV_CHS), "stride": 1, "side": side,
                   "blocks": [{"label": "conv 1x1", "kernel": 1, "expansion": None, "stride": 1}]})
    stages.append({"name": "head", "channels": HEAD_CHS, "stride": None, "side": 1,
                   "blocks": [{"label": f"pool, fc {spec.num_classes}", "kernel": None, "expansion": None,
                               "stride": None}]})
    return stages

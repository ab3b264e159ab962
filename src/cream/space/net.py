"""The fixed layout around an architecture (resolution, channels, strides) and the child-net builder.

Child nets are timm MobileNetV3 models built from timm's block strings, so their state_dict keys follow
timm's MobileNetV3 layout (``conv_stem``, ``bn1``, ``blocks.i.j.*``, ``conv_head``, ``classifier``), the
layout of the released Cream checkpoints.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial

import torch.nn as nn
from timm.layers import get_act_layer
from timm.layers.activations import HardSigmoid
from timm.models._efficientnet_blocks import SqueezeExcite
from timm.models._efficientnet_builder import decode_arch_def, round_channels
from timm.models.mobilenetv3 import MobileNetV3

from cream.errors import CreamError
from cream.space.arch import OPS, STAGES, Arch

STEM_CHS = 16
STAGE0_BLOCK = "ds_r1_k3_s1_e1_c16_se0.25"  # fixed depthwise-separable block
LAST_CONV_CHS = 320  # fixed 1x1 conv after the searchable stages
HEAD_CHS = 1280
PAPER_STEM_STRIDE = 2
PAPER_STAGE_STRIDES = tuple(stage.stride for stage in STAGES)
SMALL_IMAGE_PX = 64  # below this, the first searchable stage keeps stride 1 (total stride 16, not 32)


def se_layer():
    """MobileNetV3-style squeeze-excite: ReLU inside, hard-sigmoid gate, channels rounded to 8.

    The gate is timm's relu6-based HardSigmoid rather than torch's native one, whose backward has no
    derivative: the meta update differentiates through a gradient (second order).
    """
    return partial(SqueezeExcite, gate_layer=HardSigmoid, force_act_layer=nn.ReLU, rd_round_fn=round_channels)


def block_string(stage: int, block: int, op: int, stride: int) -> str:
    """timm block string of one searchable block, e.g. ``ir_r1_k5_s2_e6_c40_se0.25``."""
    kernel, expansion = OPS[op]
    return f"ir_r1_k{kernel}_s{stride if block == 0 else 1}_e{expansion}_c{STAGES[stage].out_chs}_se0.25"


@dataclass(frozen=True)
class NetSpec:
    """Everything about a network except its architecture. Defaults reproduce the paper at 224 px."""

    resolution: int = 224
    in_chans: int = 3
    num_classes: int = 1000
    width: float = 1.0  # channel width multiplier (channels stay multiples of 8)
    stem_stride: int | None = None  # None: the paper's 2
    stage_strides: tuple[int, ...] | None = None  # None: the paper's, minus the first stride below SMALL_IMAGE_PX
    drop_rate: float = 0.0  # dropout before the classifier

    def __post_init__(self):
        def positive_int(name, value):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise CreamError(f"{name} must be a positive whole number, got {value!r}")

        positive_int("resolution", self.resolution)
        positive_int("in_chans", self.in_chans)
        positive_int("num_classes", self.num_classes)
        if isinstance(self.width, bool) or not isinstance(self.width, (int, float)) or not 0 < self.width <= 4:
            raise CreamError(f"width must be a number in (0, 4], got {self.width!r}")
        if isinstance(self.drop_rate, bool) or not isinstance(self.drop_rate, (int, float)) \
                or not 0 <= self.drop_rate < 1:
            raise CreamError(f"drop_rate must be a number in [0, 1), got {self.drop_rate!r}")
        if self.stem_stride not in (None, 1, 2):
            raise CreamError(f"stem_stride must be 1 or 2, got {self.stem_stride!r}")
        if self.stage_strides is not None:
            strides = self.stage_strides
            if not isinstance(strides, (tuple, list)) or len(strides) != len(STAGES) \
                    or any(s not in (1, 2) for s in strides):
                raise CreamError(f"stage_strides must be {len(STAGES)} values of 1 or 2, got {strides!r}")
            object.__setattr__(self, "stage_strides", tuple(strides))
        last = self.feature_size
        if last < 2:
            raise CreamError(
                f"resolution {self.resolution} is too small for a total stride of {self.total_stride}: the last "
                f"feature map would be {last}x{last}; use a resolution above {self.total_stride} or smaller strides"
            )

    @classmethod
    def from_config(cls, space, resolution: int | None = None) -> NetSpec:
        """The spec described by a ``space`` config section (optionally at another resolution)."""
        return cls(resolution=resolution or space.resolution, in_chans=space.in_chans,
                   num_classes=space.num_classes, width=space.width, stem_stride=space.stem_stride,
                   stage_strides=tuple(space.stage_strides) if space.stage_strides else None,
                   drop_rate=space.drop_rate)

    def to_json(self) -> dict:
        stem, strides = self.strides
        return {"resolution": self.resolution, "in_chans": self.in_chans, "num_classes": self.num_classes,
                "width": self.width, "stem_stride": stem, "stage_strides": list(strides),
                "drop_rate": self.drop_rate}

    @property
    def strides(self) -> tuple[int, tuple[int, ...]]:
        """(stem stride, stride of each searchable stage)."""
        stem = self.stem_stride or PAPER_STEM_STRIDE
        if self.stage_strides is not None:
            return stem, self.stage_strides
        if self.resolution < SMALL_IMAGE_PX:  # a 28 or 32 px input ends at 2x2, not 1x1
            return stem, (1,) + PAPER_STAGE_STRIDES[1:]
        return stem, PAPER_STAGE_STRIDES

    @property
    def total_stride(self) -> int:
        stem, stages = self.strides
        return stem * math.prod(stages)

    @property
    def feature_size(self) -> int:
        """Side of the last feature map: every stride-2 layer rounds up ('same'-style padding)."""
        size = self.resolution
        stem, stages = self.strides
        for stride in (stem, *stages):
            size = -(-size // stride)
        return size

    def arch_def(self, arch: Arch) -> list[list[str]]:
        """timm block strings of the whole trunk for ``arch``."""
        _, strides = self.strides
        searchable = [
            [block_string(s, b, op, strides[s]) for b, op in enumerate(ops)] for s, ops in enumerate(arch.stages)
        ]
        return [[STAGE0_BLOCK], *searchable, [f"cn_r1_k1_s1_c{LAST_CONV_CHS}"]]

    def block_args(self, arch: Arch) -> list:
        """The trunk of ``arch`` decoded into timm block arguments."""
        return decode_arch_def(self.arch_def(arch))

    def model_kwargs(self) -> dict:
        """Keyword arguments shared by the child net and the supernet (timm MobileNetV3 conventions)."""
        return dict(
            num_classes=self.num_classes,
            in_chans=self.in_chans,
            stem_size=STEM_CHS,
            num_features=HEAD_CHS,
            head_bias=True,
            act_layer=get_act_layer("swish"),
            se_layer=se_layer(),
            round_chs_fn=partial(round_channels, multiplier=self.width),
            drop_rate=self.drop_rate,
        )


class CreamNet(MobileNetV3):
    """A standalone child net: timm's MobileNetV3 with a configurable stem stride."""

    def __init__(self, block_args, stem_stride: int = PAPER_STEM_STRIDE, **kwargs):
        super().__init__(block_args, **kwargs)
        # Same weights and padding for stride 1 or 2 with a 3x3 kernel, so only the stride changes.
        self.conv_stem.stride = (stem_stride, stem_stride)


def build_child(arch: Arch, spec: NetSpec, drop_path_rate: float = 0.0) -> CreamNet:
    """Build the standalone child net of ``arch`` (freshly initialised)."""
    stem, _ = spec.strides
    net = CreamNet(spec.block_args(arch), stem_stride=stem, drop_path_rate=drop_path_rate, **spec.model_kwargs())
    net.arch = arch  # for messages about this net
    return net

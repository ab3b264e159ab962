"""The weight-sharing supernet, in two kinds (``space.sharing``).

independent (the paper's): every searchable block holds its six ops as siblings, keys
``blocks.{stage}.{block}.ops.{op}.*``. entangled: every searchable block holds one op, the largest (kernel 7,
expansion 6), keys ``blocks.{stage}.{block}.largest.*``, and each op uses a slice of it: the first channels for
its expansion, the centre of the kernel for its kernel size (Once-for-All's elastic kernel and width, without
the kernel transforms), BatchNorm sliced as its channels. entangled_bn_per_op: the same, but every op other than
the largest keeps its own BatchNorm layers (affine weights and statistics), keys
``blocks.{stage}.{block}.norms.{op}.*``. With ``kernel_transform`` (entangled kinds only), a kernel 5 is a
learned linear map of the 7 x 7 kernel's centre and a kernel 3 of that 5 x 5 kernel's centre, as Once-for-All's
kernel transformation matrices (one 25 x 25 and one 9 x 9 per block, shared by the channels, identity at the
start), keys ``blocks.{stage}.{block}.kernel_transforms.{5,3}``. Either way ``path_state(arch)`` maps a path
to a child net's keys (for entangled blocks, views of the slices, or kernels computed through the transforms), so
extracting a path is a copy.
"""

from __future__ import annotations

import copy
import dataclasses
import re
from pathlib import Path

import torch
import torch.nn as nn
from torch.func import functional_call

from cream.engine.checkpoint import read_search_checkpoint
from cream.errors import CreamError
from cream.space.arch import NUM_OPS, OPS, STAGES, Arch
from cream.space.net import CreamNet, NetSpec, build_child

MAX_DEPTHS = tuple(stage.max_depth for stage in STAGES)
SHARING = ("independent", "entangled", "entangled_bn_per_op")
LARGEST_OP = max(range(NUM_OPS), key=lambda op: (OPS[op].kernel, OPS[op].expansion))
_SEARCHABLE_KEY = re.compile(r"^blocks\.([1-5])\.(\d+)\.(.*)$")


class ChoiceBlock(nn.Module):
    """One searchable block position: the six candidate inverted-residual ops."""

    def __init__(self, ops: list[nn.Module]):
        super().__init__()
        self.ops = nn.ModuleList(ops)

    def forward(self, x: torch.Tensor, op: int) -> torch.Tensor:
        return self.ops[op](x)


def slice_like(tensor: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """The view of ``tensor`` an op of ``shape`` uses: the first channels (dimensions 0 and 1), the centre of the
    kernel (dimensions 2 and 3)."""
    index = [slice(0, n) if d < 2 else slice((full - n) // 2, (full - n) // 2 + n)
             for d, (full, n) in enumerate(zip(tensor.shape, shape))]
    return tensor[tuple(index)]


class EntangledChoiceBlock(nn.Module):
    """One searchable block position whose six ops are slices of the largest one's weights (with ``per_op_bn``,
    BatchNorm excepted: each op keeps its own)."""

    def __init__(self, ops: list[nn.Module], per_op_bn: bool = False, kernel_transform: bool = False):
        super().__init__()
        # Weightless copies (on the meta device, not registered): each op's timm forward, and its tensors' shapes.
        self._templates = tuple(copy.deepcopy(op).to("meta") for op in ops)
        self.shapes = [{name: t.shape for name, t in op.state_dict().items()} for op in ops]
        self.largest = ops[LARGEST_OP]
        self.norms = None
        if per_op_bn:  # the largest op's own BatchNorm layers stay in ``largest``
            self.norms = nn.ModuleList(
                nn.ModuleDict({name: m for name, m in op.named_children() if isinstance(m, nn.BatchNorm2d)})
                if k != LARGEST_OP else nn.ModuleDict() for k, op in enumerate(ops))
        self.kernel_transforms = None
        if kernel_transform:  # kernel 7 -> 5 -> 3, each from the centre of the one before
            self.kernel_transforms = nn.ParameterDict({str(k): nn.Parameter(torch.eye(k * k)) for k in (5, 3)})

    def own_norms(self, op: int) -> set[str]:
        """Names of the BatchNorm layers ``op`` keeps for itself (none unless BatchNorm is per op)."""
        return set() if self.norms is None else set(self.norms[op].keys())

    def transforms_used(self, op: int) -> list[str]:
        """Names (in ``kernel_transforms``) of the transforms ``op``'s kernel goes through."""
        if self.kernel_transforms is None:
            return []
        kernel = self.shapes[op]["conv_dw.weight"][-1]
        return [str(k) for k in (5, 3) if k >= kernel]

    def op_state(self, op: int) -> dict[str, torch.Tensor]:
        """The op's tensors, by the op module's own names: views into the largest op's (its depthwise kernel
        computed through the kernel transforms, when there are any), or its own BatchNorm."""
        shared = self.largest.state_dict(keep_vars=True)
        own = self.norms[op].state_dict(keep_vars=True) if self.norms is not None else {}
        state = {name: own[name] if name in own else slice_like(shared[name], shape)
                 for name, shape in self.shapes[op].items()}
        transforms = self.transforms_used(op)
        if transforms:
            largest = shared["conv_dw.weight"]
            weight = slice_like(largest, state["conv_dw.weight"].shape[:2] + largest.shape[2:])  # whole 7 x 7
            for name in transforms:
                k = int(name)
                centre = slice_like(weight, weight.shape[:2] + (k, k))
                weight = (centre.reshape(-1, k * k) @ self.kernel_transforms[name].T).reshape(centre.shape)
            state["conv_dw.weight"] = weight
        return state

    def train(self, mode: bool = True):
        for template in self._templates:  # not submodules: nn.Module.train would not reach them
            template.train(mode)
        return super().train(mode)

    def forward(self, x: torch.Tensor, op: int) -> torch.Tensor:
        # BatchNorm's running statistics update in place through the views, so in the shared buffers.
        return functional_call(self._templates[op], self.op_state(op), (x,))


class Supernet(nn.Module):
    """All paths of the space at ``depths`` blocks per stage; ``forward(x, arch)`` runs exactly one path."""

    def __init__(self, spec: NetSpec, depths: tuple[int, ...] = MAX_DEPTHS, sharing: str = "independent",
                 kernel_transform: bool = False):
        super().__init__()
        Arch.uniform(depths, 0)  # validates the depths
        if sharing not in SHARING:
            raise CreamError(f"space.sharing={sharing!r} is not one of {', '.join(SHARING)}")
        if kernel_transform and sharing == "independent":
            raise CreamError("space.kernel_transform maps one kernel to the next within shared weights; set "
                             "space.sharing=entangled (or entangled_bn_per_op), or kernel_transform=false")
        self.spec, self.sharing, self.kernel_transform = spec, sharing, kernel_transform
        self.depths = tuple(depths)
        # Build one uniform trunk per op with timm's builder and take its blocks, so every op module is
        # constructed exactly as in a child net.
        stem, _ = spec.strides
        trunks = [
            CreamNet(spec.block_args(Arch.uniform(depths, op)), stem_stride=stem, **spec.model_kwargs())
            for op in range(NUM_OPS)
        ]
        base = trunks[0]

        def choice_block(ops):
            if sharing == "independent":
                return ChoiceBlock(ops)
            return EntangledChoiceBlock(ops, sharing == "entangled_bn_per_op", kernel_transform)

        searchable = [
            nn.ModuleList(choice_block([t.blocks[s + 1][b] for t in trunks]) for b in range(depth))
            for s, depth in enumerate(self.depths)
        ]
        self.conv_stem, self.bn1 = base.conv_stem, base.bn1
        self.blocks = nn.ModuleList([base.blocks[0], *searchable, base.blocks[-1]])
        self.global_pool, self.conv_head = base.global_pool, base.conv_head
        self.norm_head, self.act2, self.flatten = base.norm_head, base.act2, base.flatten
        self.drop_rate, self.classifier = base.drop_rate, base.classifier

    def check(self, arch: Arch) -> None:
        if any(d > m for d, m in zip(arch.depths, self.depths)):
            raise CreamError(f"architecture {arch} is deeper than the supernet's depths {self.depths}")

    def forward_features(self, x: torch.Tensor, arch: Arch) -> torch.Tensor:
        x = self.bn1(self.conv_stem(x))
        x = self.blocks[0](x)
        for stage, ops in zip(self.blocks[1:-1], arch.stages):
            for block, op in zip(stage, ops):
                x = block(x, op)
        return self.blocks[-1](x)

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        x = self.flatten(self.act2(self.norm_head(self.conv_head(self.global_pool(x)))))
        if self.drop_rate > 0:
            x = nn.functional.dropout(x, p=self.drop_rate, training=self.training)
        return self.classifier(x)

    def forward(self, x: torch.Tensor, arch: Arch) -> torch.Tensor:
        return self.forward_head(self.forward_features(x, arch))

    def path_tensors(self, arch: Arch, params_only: bool = False) -> list[tuple[str, str, torch.Tensor]]:
        """(child-net key, supernet name, whole supernet tensor) for every tensor the path ``arch`` uses."""
        self.check(arch)
        items = self.named_parameters() if params_only else self.state_dict(keep_vars=True).items()
        out = []
        for name, tensor in items:
            match = _SEARCHABLE_KEY.match(name)
            if match is None:
                out.append((name, name, tensor))
                continue
            stage, block, rest = int(match[1]), int(match[2]), match[3]
            if block >= arch.depths[stage - 1]:
                continue
            # ops.{op}.* (independent); largest.*, norms.{op}.* or kernel_transforms.{k} (entangled)
            kind, _, tail = rest.partition(".")
            op = arch.stages[stage - 1][block]
            if kind == "kernel_transforms":
                if tail not in self.blocks[stage][block].transforms_used(op):
                    continue
            elif kind in ("ops", "norms"):
                owner, _, tail = tail.partition(".")
                if int(owner) != op:
                    continue
            elif kind == "largest" and tail.partition(".")[0] in self.blocks[stage][block].own_norms(op):
                continue
            out.append((f"blocks.{stage}.{block}.{tail}", name, tensor))
        return out

    def path_parameters(self, arch: Arch) -> list[nn.Parameter]:
        """The parameters one path uses, whole (an entangled block's: all of its largest op)."""
        return [p for _, _, p in self.path_tensors(arch, params_only=True)]

    def path_state(self, arch: Arch, params_only: bool = False) -> list[tuple[str, torch.Tensor]]:
        """(child-net key, supernet tensor) for every tensor of the path ``arch``: in an entangled block, the view
        its op uses (its depthwise kernel computed, with kernel transforms)."""
        out, op_states = [], {}
        for key, name, tensor in self.path_tensors(arch, params_only):
            match = _SEARCHABLE_KEY.match(name)
            if match is not None and self.sharing != "independent":
                if ".kernel_transforms." in name:
                    continue  # already applied to the kernels
                stage, block = int(match[1]), int(match[2])
                if (stage, block) not in op_states:
                    op_states[stage, block] = self.blocks[stage][block].op_state(arch.stages[stage - 1][block])
                tensor = op_states[stage, block][key.split(".", 3)[3]]
            out.append((key, tensor))
        return out

    def extract(self, arch: Arch) -> CreamNet:
        """A standalone child net holding this path's weights and BatchNorm statistics."""
        child = build_child(arch, self.spec)
        child.load_state_dict({k: v.detach().clone() for k, v in self.path_state(arch)})
        return child.to(next(self.parameters()).device)


def load_supernet(checkpoint: str | Path | dict, ema: bool = True, resolution: int | None = None) -> Supernet:
    """The trained supernet of a search checkpoint: a path, or the dict ``read_search_checkpoint`` returned.

    Its EMA weights when it has them and ``ema``, else the plain ones; ``supernet.weights`` says which ("ema" or
    "plain"), ``supernet.spec`` and ``supernet.depths`` its layout (at ``resolution`` when given: the weights do
    not depend on it), and ``supernet.extract(arch)`` gives one path as a child net.
    """
    ckpt = checkpoint if isinstance(checkpoint, dict) else read_search_checkpoint(checkpoint)
    spec = NetSpec(**ckpt["net"])
    if resolution:
        spec = dataclasses.replace(spec, resolution=resolution)
    supernet = Supernet(spec, tuple(ckpt["depths"]), ckpt.get("sharing", "independent"),  # older: independent
                        ckpt.get("kernel_transform", False))
    which = "ema" if ema and ckpt.get("ema") is not None else "plain"
    supernet.load_state_dict(ckpt["ema"] if which == "ema" else ckpt["supernet"])
    supernet.weights = which
    return supernet

"""The search space: architecture values, the network layout, the supernet, child nets and FLOPs."""

from cream.space.arch import NUM_OPS, OPS, STAGES, Arch
from cream.space.net import NetSpec

__all__ = ["NUM_OPS", "OPS", "STAGES", "Arch", "NetSpec"]

"""Can the search's ranking be trusted? End-of-search checks, each a one-line warning with what to change.

Two signs that the supernet is too little trained for its ranking to mean much: its best candidate is near
chance, or it is far below what the same architecture reaches when trained alone for a few hundred steps
(the stand-alone probe, a lower bound on one stand-alone epoch).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from timm.optim import create_optimizer_v2

from cream.engine.context import RunContext
from cream.engine.evaluate import evaluate
from cream.engine.health import near_chance
from cream.space.arch import Arch
from cream.space.net import NetSpec, build_child

NEAR_CHANCE = 0.25  # within this fraction of the way from chance to 100%
BELOW_PROBE = 10.0  # points below the stand-alone probe


def standalone_probe(arch: Arch, spec: NetSpec, data, ctx: RunContext, steps: int, lr: float, cfg) -> float:
    """Search-val top-1 of ``arch`` trained from scratch for ``steps`` SGD steps (lr decaying linearly to 0)."""
    torch.manual_seed(0)
    net = ctx.prepare_model(build_child(arch, spec)).train()
    optimizer = create_optimizer_v2(net, "sgd", lr=lr, weight_decay=cfg.weight_decay, momentum=cfg.momentum)
    done, epoch = 0, 0
    while done < steps:
        for x, y in data.train.batches(epoch=20_000 + epoch):
            for group in optimizer.param_groups:
                group["lr"] = lr * (1 - done / steps)
            with ctx.autocast():
                loss = F.cross_entropy(net(ctx.to_device(x)).float(), y.to(ctx.device),
                                       label_smoothing=cfg.label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            done += 1
            if done == steps:
                break
        epoch += 1
    net.eval()
    return evaluate(net, data.val, ctx, max_images=cfg.val_images)["top1"]


def ranking_warnings(best_val_top1: float, num_classes: int, probe_val_top1: float | None, epochs: int) -> list[str]:
    """The warnings for a search whose best candidate reached ``best_val_top1`` (%) on search-val."""
    chance, line = near_chance(num_classes, NEAR_CHANCE)
    longer = f"train the supernet longer (search.epochs={2 * epochs} or more)"
    warnings = []
    if best_val_top1 < line:
        warnings.append(f"the supernet's best candidate reaches {best_val_top1:.1f}% search-val, near chance "
                        f"({chance:.1f}%): its ranking of architectures cannot be trusted; {longer}")
    elif probe_val_top1 is not None and best_val_top1 < probe_val_top1 - BELOW_PROBE:
        warnings.append(f"the supernet's best candidate reaches {best_val_top1:.1f}% search-val, far below the "
                        f"{probe_val_top1:.1f}% of the same architecture trained alone briefly: the supernet is "
                        f"undertrained and its ranking is doubtful; {longer}")
    return warnings

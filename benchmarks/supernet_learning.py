"""How fast the Fashion-MNIST supernet learns when paths change every step, and which blocks make it slow.

Trains a fresh supernet of the default search preset for a fixed number of steps (same data, seed and SGD
as the search, no distillation) under different path-sampling rules, and prints the training accuracy of
the last 20 steps for each:
  - one fixed path (what a child net of that path learns in as many steps);
  - op 1 or 3 at random only in blocks with a residual connection, op 1 elsewhere;
  - op 1 or 3 at random only in the first block of each stage (no residual), op 1 elsewhere;
  - every block drawn with the search's fixed per-op probabilities (the search's own sampling).

    .venv/bin/python benchmarks/supernet_learning.py [--steps 100] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import random

import torch
import torch.nn.functional as F
from timm.optim import create_optimizer_v2

from cream.config import SearchRun, load_config, preset_path
from cream.data import build_data
from cream.space.arch import Arch
from cream.space.budget import plan_space
from cream.space.net import NetSpec
from cream.space.supernet import Supernet


def train_accuracy(plan, data, cfg, choose, steps: int, seed: int = 0) -> float:
    """Mean training accuracy (%) over the last 20 of ``steps`` steps, paths from ``choose(rng, stage, block)``."""
    torch.manual_seed(seed)
    rng = random.Random(seed)
    net = Supernet(plan.spec, plan.depths).to(memory_format=torch.channels_last).train()
    lr = cfg.search.lr * cfg.data.batch_size / cfg.search.lr_batch
    optimizer = create_optimizer_v2(net, "sgd", lr=lr, weight_decay=cfg.search.weight_decay,
                                    momentum=cfg.search.momentum)
    correct = []
    epoch = 0
    while len(correct) < steps:
        for x, y in data.train.batches(epoch):
            arch = Arch(tuple(tuple(choose(rng, s, b) for b in range(d)) for s, d in enumerate(plan.depths)))
            logits = net(x.contiguous(memory_format=torch.channels_last), arch)
            loss = F.cross_entropy(logits, y, label_smoothing=cfg.search.label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), cfg.search.clip_grad)
            optimizer.step()
            correct.append((logits.argmax(1) == y).float().mean().item())
            if len(correct) == steps:
                break
        epoch += 1
    return 100 * sum(correct[-20:]) / 20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cfg = load_config(SearchRun, preset_path("search", "fashion_mnist"), [])
    plan = plan_space(NetSpec.from_config(cfg.space), cfg.space.flops_min, cfg.space.flops_max)
    data = build_data(cfg.data, plan.spec.resolution, cfg.space.in_chans, "search", seed=0)
    probs = cfg.search.op_probs
    rules = {
        "one fixed path (op 1 everywhere)": lambda r, s, b: 1,
        "op 1/3 at random in residual blocks only": lambda r, s, b: r.choice((1, 3)) if b > 0 else 1,
        "op 1/3 at random in stage-first blocks only": lambda r, s, b: r.choice((1, 3)) if b == 0 else 1,
        "every block from the search's op probabilities": lambda r, s, b: r.choices(range(6), probs)[0],
    }
    report = {"steps": args.steps, "batch": cfg.data.batch_size, "depths": list(plan.depths), "accuracy": {}}
    for name, rule in rules.items():
        report["accuracy"][name] = train_accuracy(plan, data, cfg, rule, args.steps)
        print(f"{name:50s} train top-1 over steps {args.steps - 19}-{args.steps}: "
              f"{report['accuracy'][name]:.1f}%", flush=True)
    print(json.dumps(report))


if __name__ == "__main__":
    main()

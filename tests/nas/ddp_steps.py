"""Cream search steps driven by hand, for comparing a run on several processes with one on a single process.

``torchrun --nproc_per_node=2 -m tests.nas.ddp_steps SPEC.json`` (from the repository root) runs both parts of
tests/nas/test_distributed.py's comparison in every process and writes ``rank{R}.pt`` into the spec's ``out``:

- ``steps_on_shares``: search steps on given full batches, each process taking its share (rank r the r-th of
  ``world`` equal parts), so that the test can run the same full batches in one process and compare;
- ``meta_gradients``: the meta network's gradients before and after they are averaged over the processes, in one
  ordinary step with a meta update.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

from cream.assemble import make_config
from cream.config import SearchRun
from cream.engine.context import setup_context
from cream.engine.rundir import RunDir
from cream.nas import trainer
from cream.nas.prioritized import Cream
from cream.nas.selection import select_final


def start_search(overrides: list[str], strategy=None) -> trainer.SupernetSearch:
    cfg = make_config(SearchRun, None, overrides)
    Path(cfg.run.out_dir).mkdir(parents=True, exist_ok=True)
    return trainer.SupernetSearch(cfg, setup_context(cfg.run), RunDir(cfg.run.out_dir, trainer.OUTPUTS),
                                  strategy=strategy)


class RecordingCream(Cream):
    """Cream that records the paths it trains, the teachers it shares, and the meta gradients before and after
    they are averaged over processes."""

    def __init__(self, search):
        super().__init__(search)
        self.sampled, self.teachers, self.computed, self.averaged = [], [], [], []

    def shared(self, choice):
        self.teachers.append(super().shared(choice))  # (board index, m)
        return self.teachers[-1]

    def after_update(self, epoch, x, out, accuracy):
        self.sampled.append(out.arch)
        super().after_update(epoch, x, out, accuracy)

    def average_grad(self, grad):
        self.computed.append(grad.clone())
        super().average_grad(grad)
        self.averaged.append(grad.clone())


def steps_on_shares(overrides: list[str], batches: list[tuple[torch.Tensor, torch.Tensor]]) -> dict:
    """Train on this process's share of each full batch; return what the process sampled, chose and holds.

    BatchNorm runs on its running statistics (the supernet in eval mode), so each image's output depends on that
    image alone: in training mode every process normalises with its own share's statistics, and no split of a
    batch over processes can then equal the whole batch in one.
    """
    search = start_search(overrides, RecordingCream)
    search.supernet.eval()
    ctx, cream = search.ctx, search.strategy
    for x, y in batches:
        share = len(x) // ctx.world
        search.train_step(0, x[ctx.rank * share:(ctx.rank + 1) * share], y[ctx.rank * share:(ctx.rank + 1) * share])
    ranked = select_final(search.supernet, [e.arch for e in cream.board.entries], search.plan, search.data, ctx,
                          bn_batches=0, val_images=search.cfg.search.val_images, log=lambda line: None)
    search.log.close()
    return {"rank": ctx.rank, "sampled": [str(a) for a in cream.sampled], "teachers": cream.teachers,
            "board": cream.board.state_dict(), "supernet": search.supernet.state_dict(), "ranked": ranked}


def meta_gradients(overrides: list[str]) -> dict:
    """Steps from the run's own data until one meta update; its gradients as computed here, then as averaged."""
    search = start_search(overrides, RecordingCream)
    for x, y in search.data.train.batches(0):
        search.train_step(0, x, y)
        if search.counters["meta_updates"]:
            break
    search.log.close()
    cream = search.strategy
    return {"computed": cream.computed, "averaged": cream.averaged,
            "meta_net": {k: v.clone() for k, v in cream.meta_net.state_dict().items()}}


def main(spec_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    shares = steps_on_shares(spec["shares"], torch.load(spec["batches"]))
    record = {"shares": shares, "meta": meta_gradients(spec["meta"])}
    torch.save(record, Path(spec["out"]) / f"rank{shares['rank']}.pt")
    if torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1])

"""Search strategies: a new training rule is one class, and the built-in multi-path rules train what they claim."""

import copy

import pytest
import torch
import torch.nn.functional as F

from cream.engine.context import setup_context
from cream.engine.rundir import RunDir
from cream.nas import trainer
from cream.nas.strategy import SearchStrategy, StepLoss
from cream.space.arch import NUM_OPS, Arch
from cream.space.net import NetSpec
from cream.space.supernet import Supernet
from tests.nas.test_trainer import record_forwards, run_search, tiny_config


class FirstOpsOnly(SearchStrategy):
    """A toy rule: every step trains the path whose blocks all run op 0; it counts its steps (kept on resume)."""

    name = "first_ops_only"

    def __init__(self, search):
        super().__init__(search)
        self.steps = 0

    def path(self) -> Arch:
        return Arch.uniform(self.search.plan.depths, 0)

    def loss(self, epoch, x, y):
        arch = self.path()
        logits = self.search.model(x, arch)
        ce = F.cross_entropy(logits, y)
        return StepLoss(loss=ce, ce=ce, logits=logits, labels=y, arch=arch)

    def after_update(self, epoch, x, out, accuracy):
        self.steps += 1

    def state_dict(self):
        return {"toy_steps": self.steps}

    def load_state_dict(self, state):
        self.steps = state["toy_steps"]


def test_a_toy_strategy_is_one_class_and_trains_only_its_own_ops(tiny_fashion_mnist, tmp_path):
    out = tmp_path / "toy"
    result = run_search(tiny_config(tiny_fashion_mnist, out, "search.epochs=1", "search.warmup_epochs=0",
                                    "search.ema_decay=0"), strategy=FirstOpsOnly)
    assert result["algorithm"] == "first_ops_only" and len(result["candidates"]) == 3 and result["board"] == []
    ckpt = torch.load(out / "last.pth", weights_only=False)
    assert ckpt["toy_steps"] == ckpt["step"] > 0  # its own state, kept in the search's checkpoint
    torch.manual_seed(0)  # the search's seed: the same initial weights
    fresh = Supernet(NetSpec(**ckpt["net"]), tuple(ckpt["depths"])).state_dict()
    moved = {name for name, value in ckpt["supernet"].items() if not torch.equal(value, fresh[name])}
    choice_blocks = [name for name in fresh if ".ops." in name]
    assert choice_blocks and moved  # the toy's ops trained ...
    assert all(".ops.0." in name for name in moved if ".ops." in name)  # ... and no other op of any choice block


def one_step(tiny_fashion_mnist, tmp_path, algorithm, *overrides):
    """A search of ``algorithm`` (unclipped), its forwards and the gradients its first update applied."""
    cfg = tiny_config(tiny_fashion_mnist, tmp_path / algorithm, f"search.algorithm={algorithm}", "search.clip_grad=0",
                      *overrides)
    (tmp_path / algorithm).mkdir()
    search = trainer.SupernetSearch(cfg, setup_context(cfg.run), RunDir(cfg.run.out_dir, trainer.OUTPUTS))
    before = copy.deepcopy(search.supernet)
    grads = {}
    real_step = search.optimizer.step

    def spy_update(*args, **kwargs):
        grads.update({n: p.grad.clone() for n, p in search.supernet.named_parameters() if p.grad is not None})
        return real_step(*args, **kwargs)

    search.optimizer.step = spy_update
    calls = record_forwards(search.supernet)
    x, y = next(search.data.train.batches(0))
    search.train_step(0, x, y)
    search.log.close()
    return search, before, calls, grads, x, y


def assert_same_gradients(net, loss, grads):
    params = dict(net.named_parameters())
    expected = torch.autograd.grad(loss, list(params.values()), allow_unused=True)
    assert grads.keys() == {n for n, g in zip(params, expected) if g is not None}
    for n, g in zip(params, expected):
        if g is not None:
            # Relative to the whole tensor: summing several paths' gradients reorders float additions.
            assert (grads[n] - g).norm() <= 1e-4 * g.norm() + 1e-5, n  # some are ~1e-6: float noise


def test_fairnas_runs_every_op_of_every_block_once_per_update_with_the_summed_gradients(tiny_fashion_mnist,
                                                                                           tmp_path):
    search, before, calls, grads, x, y = one_step(tiny_fashion_mnist, tmp_path, "fairnas")
    archs = [c.arch for c in calls]
    assert len(archs) == NUM_OPS and all(c.grad for c in calls)
    for stage in range(len(search.plan.depths)):
        for block in range(search.plan.depths[stage]):
            assert sorted(a.stages[stage][block] for a in archs) == list(range(NUM_OPS))
    smoothing = search.cfg.search.label_smoothing
    loss = sum(F.cross_entropy(before(x, a), y, label_smoothing=smoothing) for a in archs)
    assert_same_gradients(before, loss, grads)
    assert search.meter.sums["images"] == NUM_OPS * len(y)


def test_sandwich_trains_the_largest_path_on_labels_and_distils_it_into_the_smallest_and_two_random(
        tiny_fashion_mnist, tmp_path):
    search, before, calls, grads, x, y = one_step(tiny_fashion_mnist, tmp_path, "sandwich")
    depths = search.plan.depths
    largest, smallest, *randoms = [c.arch for c in calls]
    assert largest == Arch.uniform(depths, NUM_OPS - 1) and smallest == Arch.uniform(depths, 0)
    assert len(randoms) == 2 and randoms[0] != randoms[1] and all(search.plan.in_budget(a) for a in randoms)
    teacher = before(x, largest)
    soft = F.softmax(teacher.detach(), dim=1)
    loss = F.cross_entropy(teacher, y, label_smoothing=search.cfg.search.label_smoothing)
    for arch in (smallest, *randoms):
        loss = loss - (soft * F.log_softmax(before(x, arch), dim=1)).sum(dim=1).mean()
    assert_same_gradients(before, loss, grads)


def test_with_elastic_depth_the_sandwichs_smallest_path_has_one_block_per_stage(tiny_fashion_mnist, tmp_path):
    search, *_, calls, _, _, _ = one_step(tiny_fashion_mnist, tmp_path, "sandwich", "space.elastic_depth=true")
    largest, smallest, *_ = [c.arch for c in calls]
    assert largest == Arch.uniform(search.plan.depths, NUM_OPS - 1) and smallest == Arch.uniform((1,) * 5, 0)


@pytest.mark.parametrize("algorithm", ["fairnas", "sandwich"])
def test_multi_path_rules_run_a_whole_search(tiny_fashion_mnist, tmp_path, algorithm):
    result = run_search(tiny_config(tiny_fashion_mnist, tmp_path / algorithm, f"search.algorithm={algorithm}",
                                    "search.epochs=1", "search.warmup_epochs=0"))
    assert result["algorithm"] == algorithm and result["board"] == [] and len(result["candidates"]) == 3
    assert 0 <= result["flops"] <= 8


class AlternatingOps(FirstOpsOnly):
    """The toy rule with another path: the first step trains all op 0, the next one all op 1."""

    name = "alternating_ops"

    def path(self) -> Arch:
        return Arch.uniform(self.search.plan.depths, self.steps)


@pytest.mark.parametrize("mode", ["sparse", "dense"])
def test_ops_off_the_path_keep_still_unless_off_path_updates_are_dense(tiny_fashion_mnist, tmp_path, mode):
    # dense is the paper's code under torch 1.2: zero-filled gradients let momentum and weight decay move old ops
    cfg = tiny_config(tiny_fashion_mnist, tmp_path / mode, f"search.off_path_updates={mode}")
    (tmp_path / mode).mkdir()
    search = trainer.SupernetSearch(cfg, setup_context(cfg.run), RunDir(cfg.run.out_dir, trainer.OUTPUTS),
                                    strategy=AlternatingOps)
    batches = search.data.train.batches(0)
    search.train_step(0, *next(batches))  # op 0 trains
    op0 = {n: p.detach().clone() for n, p in search.supernet.named_parameters() if ".ops.0." in n}
    search.train_step(0, *next(batches))  # op 1 trains; op 0 is off the path
    search.log.close()
    params = dict(search.supernet.named_parameters())
    moved = [n for n in op0 if not torch.equal(params[n], op0[n])]
    assert op0 and all(p.grad is None for n, p in params.items() if ".ops.2." in n)  # never used: still in both
    assert moved == ([] if mode == "sparse" else list(op0))

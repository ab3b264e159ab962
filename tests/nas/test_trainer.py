import copy
import json
import os
import signal
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

from cream.analysis import plots as plots_module
from cream.analysis.plots import plot_search_run
from cream.assemble import make_config
from cream.config import SearchRun
from cream.engine.context import setup_context
from cream.engine.rundir import RunDir
from cream.errors import CreamError, RunInterrupted
from cream.nas import prioritized, trainer
from cream.nas.prioritized import Cream
from cream.nas.trainer import SupernetSearch, run_search
from cream.space.arch import Arch
from tests.latency_tables import write_table
from tests.nas.test_paper_meta import paper_select_teacher


def tiny_overrides(root, out, *overrides):
    return [
        f"data.root={root}", f"run.out_dir={out}", "data.batch_size=32", "data.eval_batch_size=64",
        "data.val_fraction=0.2", "space.flops_max=8", "search.epochs=3", "search.warmup_epochs=1",
        "search.board_size=3", "search.meta_update_every=2", "search.meta_slice=8", "search.val_images=60",
        "search.bn_batches=1", "search.candidates=3", "search.probe_steps=5", "run.quiet=true",
        "run.ckpt_every_steps=0", "run.threads=1",
        *overrides]


def tiny_config(root, out, *overrides):
    return make_config(SearchRun, None, tiny_overrides(root, out, *overrides))


def comparable(result):
    """What must match between an interrupted-and-resumed run and an unbroken one."""
    history = [{k: v for k, v in row.items() if k not in ("images_per_s", "elapsed_s")} for row in result["history"]]
    return result["arch"], result["candidates"], result["board"], result["counters"], history


def test_cream_search_end_to_end_writes_readable_results(tiny_fashion_mnist, tmp_path):
    out = tmp_path / "run"
    result = run_search(tiny_config(tiny_fashion_mnist, out))
    assert set(result) >= {"arch", "flops", "params", "val_top1", "board", "config", "versions", "elapsed_s"}
    assert 0 <= result["flops"] <= 8 and len(result["board"]) == 3
    assert result["counters"]["meta_updates"] > 0
    assert result["history"][-1]["distill_fraction"] > 0.5 and result["history"][0]["distill_fraction"] == 0
    for name in ("result.json", "summary.csv", "search.log", "config.yaml", "last.pth"):
        assert (out / name).is_file(), name
    assert not (out / "search.png").exists()  # drawn above the trainer, by cream.search, from what the run keeps
    plot_search_run(out, result)
    assert (out / "search.png").stat().st_size > 10_000
    assert list((out / "tensorboard").iterdir())
    assert json.loads((out / "result.json").read_text())["arch"] == result["arch"]
    again = run_search(tiny_config(tiny_fashion_mnist, out))  # a finished run is reported, not redone
    assert again["already_finished"] and again["arch"] == result["arch"]


def test_spos_baseline_uses_no_board_and_picks_among_random_paths(tiny_fashion_mnist, tmp_path):
    result = run_search(tiny_config(tiny_fashion_mnist, tmp_path / "spos", "search.algorithm=spos"))
    assert result["board"] == [] and len(result["candidates"]) == 3
    assert all("distill_fraction" not in row and "board_size" not in row for row in result["history"])  # Cream's


def cream_interrupted_at(step: int | None):
    """Cream that sends itself SIGINT after update ``step`` (None: the first epoch's last)."""

    class InterruptedCream(Cream):
        def after_update(self, epoch, x, out, accuracy):
            super().after_update(epoch, x, out, accuracy)
            if self.search.step == (step or self.search.steps_per_epoch):
                os.kill(os.getpid(), signal.SIGINT)

    return InterruptedCream


@pytest.mark.parametrize("stop_at, keys", [("mid_epoch", []), ("epoch_end", []),
                                           ("mid_epoch", ["search.fidelity=paper_code"]),
                                           ("mid_epoch", ["space.sharing=entangled"]),
                                           ("mid_epoch", ["space.sharing=entangled", "space.elastic_depth=true"])],
                         ids=["mid_epoch", "epoch_end", "paper_code", "entangled", "entangled_elastic_depth"])
def test_interrupted_and_resumed_run_equals_an_unbroken_one(tiny_fashion_mnist, tmp_path, stop_at, keys):
    unbroken = run_search(tiny_config(tiny_fashion_mnist, tmp_path / "a", *keys))
    # mid-epoch: after warm-up, with a board and meta updates; epoch end: before epoch 1's evaluation
    interrupted = cream_interrupted_at(11 if stop_at == "mid_epoch" else None)
    with pytest.raises(RunInterrupted, match="resume by running the same command again"):
        run_search(tiny_config(tiny_fashion_mnist, tmp_path / "b", *keys), strategy=interrupted)
    resumed = run_search(tiny_config(tiny_fashion_mnist, tmp_path / "b", *keys))
    assert comparable(resumed) == comparable(unbroken)
    for name in ("paths.csv", "board.csv"):  # rewritten from the checkpoint's records, as if never stopped
        assert (tmp_path / "b" / name).read_text() == (tmp_path / "a" / name).read_text()
    assert unbroken["counters"]["meta_updates"] > 0


@pytest.fixture
def make_search(tiny_fashion_mnist, tmp_path):
    """A ``SupernetSearch`` on the tiny data without warm-up (board and distillation from the first step), to
    drive step by step (``search.train_step(epoch, x, y)``)."""
    searches = []

    def make(*overrides, strategy=None):
        cfg = tiny_config(tiny_fashion_mnist, tmp_path / "s", "search.warmup_epochs=0", *overrides)
        (tmp_path / "s").mkdir()
        searches.append(SupernetSearch(cfg, setup_context(cfg.run), RunDir(cfg.run.out_dir, trainer.OUTPUTS),
                                       strategy=strategy))
        return searches[-1]

    yield make
    for search in searches:
        search.log.close()


def test_the_supernets_kind_reaches_the_search_and_its_checkpoint_rebuilds_it(make_search):
    from cream.train.weights import load_supernet

    search = make_search("space.sharing=entangled_bn_per_op", "space.kernel_transform=true")
    assert (search.supernet.sharing, search.supernet.kernel_transform) == ("entangled_bn_per_op", True)
    x, y = next(search.data.train.batches(0))
    search.train_step(0, x, y)  # the transforms leave the identity
    loaded = load_supernet(search.state_dict())
    assert (loaded.sharing, loaded.kernel_transform) == ("entangled_bn_per_op", True)
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), search.supernet.state_dict().values()))


def record_forwards(supernet):
    """Every later supernet forward as (arch, images, logits, whether autograd recorded it), in call order."""
    calls = []

    def hook(module, args, logits):
        calls.append(SimpleNamespace(arch=args[1], x=args[0], logits=logits.detach().clone(),
                                     grad=torch.is_grad_enabled()))

    supernet.register_forward_hook(hook)
    return calls


def fill_board(search, batches, size):
    while len(search.strategy.board) < size:
        search.train_step(0, *next(batches))


def teacher_and_student(calls, x):
    """The step's two forwards over its batch: the student's (trained), then the teacher's (no autograd)."""
    student, teacher = [c for c in calls if len(c.x) == len(x)]
    assert student.grad and not teacher.grad
    assert torch.equal(teacher.x, x) and torch.equal(student.x, x)
    return teacher, student


@pytest.mark.parametrize("mode, chosen", [("meta", (1, 0.3)), ("meta", (2, 0.9)), ("top1", None)])
def test_the_chosen_board_entry_teaches_with_its_weight_m(make_search, monkeypatch, mode, chosen):
    pinned = {}

    class PinnedTeacher(Cream):  # the meta network's choice, pinned: this test is about what the step does with it
        def choose_teacher(self, arch):
            return tuple(pinned["choice"]) if "choice" in pinned else super().choose_teacher(arch)

    search = make_search(f"search.teacher={mode}", "search.meta_update_every=0",
                         "search.clip_grad=0",  # unclipped, the gradients the step leaves are the loss's own
                         strategy=PinnedTeacher)
    batches = search.data.train.batches(0)
    fill_board(search, batches, 3)
    if chosen:
        pinned["choice"] = chosen
    index, m = chosen or (0, 0.5)  # top1: the most accurate entry, m = 0.5
    teacher_arch = search.strategy.board.entries[index].arch
    calls, at_update, real_update = record_forwards(search.supernet), {}, search.optimizer.step

    def spy_update(*args, **kwargs):
        at_update["net"] = copy.deepcopy(search.supernet)
        at_update["grads"] = {n: p.grad.clone() for n, p in search.supernet.named_parameters() if p.grad is not None}
        return real_update(*args, **kwargs)

    monkeypatch.setattr(search.optimizer, "step", spy_update)
    before, before_rule = dict(search.meter.sums), dict(search.strategy.figures.sums)
    x, y = next(batches)
    search.train_step(0, x, y)

    teacher, student = teacher_and_student(calls, x)
    assert teacher.arch == teacher_arch
    teacher_probs = F.softmax(teacher.logits, dim=1)

    def cream_loss(logits):  # (m·KD + (2−m)·CE) / 2, written out
        kd = -(teacher_probs * F.log_softmax(logits, dim=1)).sum(dim=1).mean()
        ce = F.cross_entropy(logits, y, label_smoothing=search.cfg.search.label_smoothing)
        return (m * kd + (2 - m) * ce) / 2, kd

    loss, kd = cream_loss(student.logits)
    assert search.meter.sums["loss"] - before["loss"] == pytest.approx(float(loss), rel=1e-5)
    rule_figures = search.strategy.figures.sums  # Cream's own figures of the epoch
    assert rule_figures["kd"] - before_rule["kd"] == pytest.approx(float(kd), rel=1e-5)
    assert rule_figures["m"] - before_rule["m"] == pytest.approx(m)
    # What the step trained on: the same loss's gradients, from the student's weights before the update.
    net = at_update["net"]
    params = dict(net.named_parameters())
    expected = torch.autograd.grad(cream_loss(net(x, student.arch))[0], list(params.values()), allow_unused=True)
    assert at_update["grads"].keys() == {n for n, g in zip(params, expected) if g is not None}
    for n, g in zip(params, expected):
        if g is not None:
            assert torch.allclose(at_update["grads"][n], g, rtol=1e-4, atol=1e-7), n


def test_a_paper_code_step_equals_the_papers_step_rewritten_in_plain_torch(make_search):
    # tools/train.py's train_epoch after its warm-up, at a batch without a meta update (that one: test_paper_meta.py)
    search = make_search("search.fidelity=paper_code", "search.meta_update_every=0", "search.board_size=4")
    s, strategy = search.cfg.search, search.strategy
    batches = search.data.train.batches(0)
    fill_board(search, batches, 3)  # and the steps since the first entry distilled, moving the meta layer too
    net, opt = copy.deepcopy((search.supernet, search.optimizer))
    layer, meta_opt = copy.deepcopy((strategy.meta_net, strategy.meta_optimizer))
    for ours, theirs in zip([*search.supernet.parameters(), *strategy.meta_net.parameters()],
                            [*net.parameters(), *layer.parameters()]):
        theirs.grad = None if ours.grad is None else ours.grad.clone()  # every tensor trained so far has one
    entries = copy.deepcopy(strategy.board.entries)
    snapshot = {n: p.detach().clone() for n, p in search.supernet.named_parameters()}
    calls, before = record_forwards(search.supernet), {**search.meter.sums, **search.strategy.figures.sums}
    x, y = next(batches)
    search.train_step(0, x, y)
    student = next(c for c in calls if c.grad and len(c.x) == len(x))
    arch, x = student.arch, student.x  # the path the sampler drew; the batch as the net saw it

    index, m = paper_select_teacher(net, layer, SimpleNamespace(entries=entries), arch)
    output = net(x, arch)
    valid_loss = F.cross_entropy(output, y, label_smoothing=s.label_smoothing)
    with torch.no_grad():
        soft_label = F.softmax(net(x, entries[index].arch), dim=1)
    kd = torch.mean(torch.sum(-soft_label * F.log_softmax(output, dim=1), 1))
    loss = (m * kd + (2 - m) * valid_loss) / 2
    for group in meta_opt.param_groups:  # the meta layer's group: META_LR under the schedule's factor
        group["lr"] = s.meta_lr * opt.param_groups[0]["lr"] / search.base_lr
    opt.zero_grad(set_to_none=False)  # torch 1.2: zero-filled gradients
    meta_opt.zero_grad(set_to_none=False)
    loss.backward()  # no clipping
    opt.step()
    meta_opt.step()

    sums = {**search.meter.sums, **search.strategy.figures.sums}  # the search's and Cream's own figures
    assert sums["loss"] - before["loss"] == pytest.approx(loss.item(), rel=1e-5)
    assert sums["kd"] - before["kd"] == pytest.approx(kd.item(), rel=1e-5)
    assert sums["m"] - before["m"] == pytest.approx(m.item(), rel=1e-5)
    ours, theirs = search.supernet.state_dict(), net.state_dict()
    for name, tensor in ours.items():
        assert torch.allclose(tensor.float(), theirs[name].float(), rtol=1e-4, atol=1e-6), name
    moved = {n for n, p in search.supernet.named_parameters() if not torch.equal(p, snapshot[n])}
    assert moved == {n for n, p in net.named_parameters() if not torch.equal(p, snapshot[n])}
    assert moved - {n for n, _ in search.supernet.path_state(arch)}  # ops off the path moved too (dense)
    for p, q in zip(strategy.meta_net.parameters(), layer.parameters()):
        assert torch.allclose(p, q, rtol=1e-5, atol=1e-8)
    # the board (PrioritizedBoard.update_prioritized_board, with room): the path enters with the teacher's labels,
    # sorted by (accuracy, FLOPs) from the highest
    prec1 = 100 * int((output.argmax(1) == y).sum()) / len(y)
    flops = search.plan.cost(arch)
    expected = sorted([(e.accuracy, e.cost, str(e.arch)) for e in entries] + [(prec1, flops, str(arch))], reverse=True)
    assert [(e.accuracy, e.cost, str(e.arch)) for e in strategy.board.entries] == expected
    new = next(e for e in strategy.board.entries if (e.accuracy, e.arch) == (prec1, arch))
    assert torch.equal(new.images, x[:s.slice_size])
    assert torch.allclose(new.soft_labels, soft_label[:s.slice_size], rtol=1e-5, atol=1e-7)


def test_the_paper_codes_meta_update_runs_every_n_batches_of_an_epoch_but_its_first(make_search, monkeypatch):
    # MetaMatchingNetwork.isUpdate: batch_idx > 0 and batch_idx % UPDATE_ITER == 0, batch_idx counted per epoch
    search = make_search("search.fidelity=paper_code", "search.meta_update_every=3")
    shared = []  # and its optimizers step as one (tests/nas/test_paper_meta.py holds that equal to the paper's)
    real_update = prioritized.paper_meta_update
    monkeypatch.setattr(prioritized, "paper_meta_update",
                        lambda *args, **kwargs: shared.append(kwargs["shared"]) or real_update(*args, **kwargs))
    batches = search.data.train.batches(0)
    fill_board(search, batches, 1)
    epoch_steps, updated = search.steps_per_epoch, []
    assert epoch_steps % 3  # so that counting steps from the run's start would choose other steps
    for step in (epoch_steps, epoch_steps + 2, epoch_steps + 3, 3 * epoch_steps):
        search._step = step
        before = search.counters["meta_updates"]
        search.train_step(1, *next(batches))
        updated.append(search.counters["meta_updates"] - before)
    assert updated == [0, 0, 1, 0] and shared == [True]


@pytest.mark.parametrize("labels", ["own", "teacher"])
def test_board_entries_store_the_students_own_outputs_of_that_step_or_the_teachers(make_search, labels):
    # Pins defect (b) of the paper's code: entries stored the teacher's outputs instead of the student's
    # (search.board_labels=teacher keeps that behaviour, for fidelity).
    search = make_search("search.meta_update_every=0", f"search.board_labels={labels}")
    batches = search.data.train.batches(0)
    fill_board(search, batches, 1)
    calls = record_forwards(search.supernet)
    x, y = next(batches)
    search.train_step(0, x, y)

    teacher, student = teacher_and_student(calls, x)
    assert teacher.arch != student.arch  # this step's path is a new one, and it enters the board (it has room)
    entry = next(e for e in search.strategy.board.entries if e.arch == student.arch)
    n = search.cfg.search.slice_size
    assert torch.equal(entry.images, x[:n])
    stored, other = (student, teacher) if labels == "own" else (teacher, student)
    assert torch.allclose(entry.soft_labels, F.softmax(stored.logits[:n], dim=1), rtol=0, atol=1e-6)
    assert (entry.soft_labels - F.softmax(other.logits[:n], dim=1)).abs().max() > 1e-3


@pytest.mark.parametrize("meta_data", ["val", "batch"])
def test_the_meta_update_distils_on_the_batch_and_judges_on_the_configured_data(make_search, meta_data):
    # Pins defect (e) of the paper's code: the meta update was judged on the training batch (meta_data=val).
    slices = []

    class RecordingCream(Cream):
        def meta_batches(self, *args):
            slices.append(super().meta_batches(*args))  # (kd images, teacher probs), (ce images, labels)
            return slices[-1]

    search = make_search(f"search.meta_data={meta_data}", "search.meta_update_every=1", strategy=RecordingCream)
    batches = search.data.train.batches(0)
    fill_board(search, batches, 1)
    calls = record_forwards(search.supernet)
    x, y = next(batches)
    search.train_step(0, x, y)

    assert len(slices) == 1 and search.counters["meta_updates"] == 1
    (x_kd, teacher_probs), (x_ce, y_ce) = slices[0]
    n = 8  # search.meta_slice=8, at most half the batch of 32
    teacher, _ = teacher_and_student(calls, x)
    assert torch.equal(x_kd, x[:n]) and torch.allclose(teacher_probs, F.softmax(teacher.logits[:n], dim=1))
    assert len(x_ce) == len(y_ce) == n
    if meta_data == "batch":
        assert torch.equal(x_ce, x[n:2 * n]) and torch.equal(y_ce, y[n:2 * n])
    else:
        val = search.data.val
        val_images = val.prepare(val.images, None, augment=False).flatten(1)
        for image, label in zip(x_ce, y_ce):
            matches = (val_images == image.flatten()).all(dim=1).nonzero().flatten()
            assert len(matches) and (val.labels[matches] == label).all()


@pytest.mark.parametrize("meta_clip", [1e-9, 0.0])
def test_the_meta_gradient_is_clipped_by_its_own_key_whatever_the_supernets_clip(make_search, meta_clip):
    # the paper's code clips the meta step at 1 and never the supernet step: search.clip_grad=0 keeps the meta clip
    search = make_search("search.clip_grad=0", f"search.meta_clip_grad={meta_clip}", "search.meta_update_every=1")
    batches = search.data.train.batches(0)
    fill_board(search, batches, 1)
    before = [p.detach().clone() for p in search.strategy.meta_net.parameters()]
    search.train_step(0, *next(batches))
    assert search.counters["meta_updates"] == 1
    change = max(float((p.detach() - b).abs().max()) for p, b in zip(search.strategy.meta_net.parameters(), before))
    # clipped to norm 1e-9, an SGD step of lr 1e-4 (momentum buffer = gradient on the first step) moves < 1e-12
    assert (change < 1e-12) if meta_clip else (change > 1e-12)


@pytest.mark.parametrize("paper", [False, True])
def test_the_paper_codes_board_and_budget_rules_reach_the_search(make_search, paper):
    keys = ["search.board_rule=paper", "search.out_of_budget=keep"] if paper else []
    search = make_search("space.flops_min=6", *keys)
    assert search.strategy.board.paper_rule == paper
    paths = [search.strategy.sampler.sample(step) for step in range(100)]
    assert any(not search.plan.in_budget(a) for a in paths) == paper


def test_learned_sampling_draws_ops_in_proportion_to_the_boards_op_counts(make_search, monkeypatch):
    search = make_search("search.sampling=learned", "search.meta_update_every=0")
    drawn, real_random = [], Arch.random

    def spy_random(depths, rng, probs=None):
        drawn.append(probs)
        return real_random(depths, rng, probs)

    monkeypatch.setattr(Arch, "random", staticmethod(spy_random))
    batches = search.data.train.batches(0)
    search.train_step(0, *next(batches))
    assert set(drawn) == {None}  # an empty board: uniform
    fill_board(search, batches, 2)
    for _ in range(2):
        digits = "".join(str(e.arch).replace("-", "") for e in search.strategy.board.entries)
        counts = [1 + digits.count(str(op)) for op in range(6)]  # every op one more, so none is unreachable
        drawn.clear()
        search.train_step(0, *next(batches))
        assert drawn and all(p == pytest.approx([c / sum(counts) for c in counts]) for p in drawn)


def test_the_ema_follows_every_step_survives_a_resume_and_is_what_final_selection_evaluates(
        tiny_fashion_mnist, tmp_path, monkeypatch):
    decay, out = 0.9, tmp_path / "ema"
    config = ("search.epochs=1", "search.warmup_epochs=0", f"search.ema_decay={decay}")
    states, evaluated = [], []
    real_select = trainer.select_final

    class RecordingCream(Cream):
        def after_update(self, epoch, x, step_loss, accuracy):
            super().after_update(epoch, x, step_loss, accuracy)
            states.append({k: v.clone() for k, v in self.search.supernet.state_dict().items()})
            if len(states) == 4:  # stop mid-epoch: the resumed run must carry on from the saved EMA
                os.kill(os.getpid(), signal.SIGINT)

    def spy_select(net, *args, **kwargs):
        evaluated.append({k: v.clone() for k, v in net.state_dict().items()})
        return real_select(net, *args, **kwargs)

    monkeypatch.setattr(trainer, "select_final", spy_select)
    with pytest.raises(RunInterrupted):
        run_search(tiny_config(tiny_fashion_mnist, out, *config), strategy=RecordingCream)
    run_search(tiny_config(tiny_fashion_mnist, out, *config), strategy=RecordingCream)

    assert len(states) == 7 and len(evaluated) == 1  # 240 images in batches of 32: 7 steps
    # The EMA by hand (timm's ModelEmaV3 copies the weights at step 1, then moves by 1 - decay every step),
    # over parameters and BatchNorm statistics alike; integer counters are copied.
    ema = dict(states[0])
    for state in states[1:]:
        ema = {k: decay * ema[k] + (1 - decay) * v if v.is_floating_point() else v for k, v in state.items()}
    for k, v in evaluated[0].items():
        assert torch.allclose(v, ema[k], rtol=1e-4, atol=1e-6), k
    assert any(not torch.allclose(v, states[-1][k]) for k, v in evaluated[0].items())  # not the supernet itself


def test_cream_steps_forward_a_fixed_set_of_input_shapes_while_the_board_grows(tiny_fashion_mnist, tmp_path):
    # A new input shape makes cuDNN plan (and with benchmark on, autotune) again for every op it meets:
    # board forwards must not grow with the board (1, 2, 3 entries -> 4, 8, 12 images).
    cfg = tiny_config(tiny_fashion_mnist, tmp_path / "s", "search.warmup_epochs=0", "search.meta_slice=6",
                      "space.in_chans=3")  # three channels: with one, both memory formats look alike
    (tmp_path / "s").mkdir()
    search = SupernetSearch(cfg, setup_context(cfg.run), RunDir(cfg.run.out_dir, trainer.OUTPUTS))
    inputs = []
    search.supernet.register_forward_pre_hook(lambda module, args: inputs.append(args[0]))
    board_sizes = []
    for x, y in search.data.train.batches(0):
        search.train_step(0, x, y)
        board_sizes.append(len(search.strategy.board))
    assert board_sizes[0] == 1 and board_sizes[-1] == 3 and search.counters["meta_updates"] > 0
    assert {len(x) for x in inputs} == {32, 3 * 4, 6}  # batch, board size x slice, meta slice
    assert all(x.is_contiguous(memory_format=torch.channels_last) for x in inputs)
    search.log.close()


@pytest.mark.parametrize("overrides, message", [
    (["data.root=/nonexistent/fmnist"], "does not exist"),
    (["space.flops_max=0.5"], "impossible"),
    (["space.num_classes=7"], "set space.num_classes=10"),
    (["space.flops_min=7.9", "space.flops_max=8"], "too narrow"),
    (["space.flops_min=7.6", "space.flops_max=8", "search.max_redraws=5"], "no path within"),
])
def test_bad_input_is_a_clear_error(tiny_fashion_mnist, tmp_path, overrides, message):
    with pytest.raises(CreamError, match=message):
        run_search(tiny_config(tiny_fashion_mnist, tmp_path / "bad", *overrides))


def test_a_latency_budget_bounds_the_search_its_board_and_its_pick(tiny_fashion_mnist, tmp_path, monkeypatch):
    # Op 5 takes 3 ms, the others 1 ms, fixed parts 1 ms: 8 blocks with f fives take 9 + 2f ms, in [13, 19] for 2..5.
    table = write_table(tmp_path / "t.json", block_ms=lambda s, b, op: 3.0 if op == 5 else 1.0, fixed=(0.25,) * 4)
    out = tmp_path / "lat"
    result = run_search(tiny_config(tiny_fashion_mnist, out, f"space.latency_table={table}", "space.latency_min=13",
                                    "space.latency_max=19", "space.depths=[1,1,2,2,2]", "search.max_redraws=200"))
    for row in result["candidates"]:
        assert row["latency_ms"] == 9 + 2 * row["arch"].count("5") and 13 <= row["latency_ms"] <= 19
    assert result["latency_ms"] == 9 + 2 * result["arch"].count("5")
    assert result["latency_range"] == [13, 19] and result["flops_range"] == [0, 8]
    assert result["latency_table"]["file"] == "latency_table.json" and result["latency_table"]["batch"] == 1
    assert (out / "latency_table.json").read_bytes() == table.read_bytes()
    ckpt = torch.load(out / "last.pth", weights_only=False)
    board = ckpt["board"]["entries"]
    assert board and all(e["cost"] == 9 + 2 * e["arch"].count("5") for e in board)  # ties break on latency
    paths = ckpt["records"]["paths"]
    assert paths and all(latency == 9 + 2 * arch.count("5") for _, _, arch, _, latency, _ in paths)
    plots = []
    monkeypatch.setattr(plots_module, "plot_search", lambda *args: plots.append(args))
    plots_module.plot_search_run(out, result)  # search.png, as cream.search draws it after the run
    (_, cloud, board_rows, chosen, _, title, x_key, x_label), = plots
    assert x_key == "latency_ms" and x_label.startswith("predicted latency (ms, cpu")
    assert chosen["arch"] == result["arch"] and board_rows == result["board"]
    assert cloud == [[latency, top1] for _, _, _, _, latency, top1 in paths]
    assert f"({result['latency_ms']:.3g} ms, search-val" in title


def test_a_latency_table_for_another_device_or_changed_under_a_run_is_refused(tiny_fashion_mnist, tmp_path):
    other = write_table(tmp_path / "other.json", device_name="Imaginary CPU 9000")
    with pytest.raises(CreamError, match=r"latency table .*other.json was made for another device, cpu 'Imaginary"):
        run_search(tiny_config(tiny_fashion_mnist, tmp_path / "a", f"space.latency_table={other}"))
    table = write_table(tmp_path / "t.json")
    cfg = tiny_config(tiny_fashion_mnist, tmp_path / "b", f"space.latency_table={table}")
    (tmp_path / "b").mkdir()
    SupernetSearch(cfg, setup_context(cfg.run), RunDir(cfg.run.out_dir, trainer.OUTPUTS)).log.close()
    write_table(table, fixed=(2, 2, 3, 4))
    with pytest.raises(CreamError, match=r"latency table .*t.json changed since this run began \(its copy is .*"
                                         r"latency_table.json\); put the copy back, or start afresh with --force$"):
        SupernetSearch(cfg, setup_context(cfg.run), RunDir(cfg.run.out_dir, trainer.OUTPUTS))


def test_a_run_dir_in_use_or_with_another_config_is_refused(tiny_fashion_mnist, tmp_path):
    out = tmp_path / "d"
    run_search(tiny_config(tiny_fashion_mnist, out, "search.epochs=1", "search.warmup_epochs=0"))
    with pytest.raises(CreamError, match="search.board_size=3, not 4"):
        run_search(tiny_config(tiny_fashion_mnist, out, "search.epochs=1", "search.warmup_epochs=0",
                               "search.board_size=4"))
    with pytest.raises(CreamError, match="finished search; use --force"):
        run_search(tiny_config(tiny_fashion_mnist, out, "search.epochs=1", "search.warmup_epochs=0",
                               "run.resume=never"))
    holder = trainer.RunDir(out, trainer.OUTPUTS)
    holder.acquire()
    try:
        with pytest.raises(CreamError, match="in use by pid"):
            run_search(tiny_config(tiny_fashion_mnist, out))
    finally:
        holder.release()


def poison_training_forward(monkeypatch, cls, at_call):
    """Make the ``at_call``-th training forward of ``cls`` return NaN logits."""
    original, calls = cls.forward, []

    def forward(self, *args):
        out = original(self, *args)
        if self.training and torch.is_grad_enabled():
            calls.append(1)
            if len(calls) == at_call:
                return out * float("nan")
        return out

    monkeypatch.setattr(cls, "forward", forward)


def test_a_non_finite_loss_stops_naming_step_and_path_or_is_skipped_and_counted(tiny_fashion_mnist, tmp_path,
                                                                                  monkeypatch):
    from cream.space.supernet import Supernet

    plain = ("search.warmup_epochs=3", "run.ckpt_every_steps=2")
    poison_training_forward(monkeypatch, Supernet, at_call=4)
    with pytest.raises(CreamError, match=r"non-finite loss at step 3 on path \d+-\d+-\d+-\d+-\d+; the last good"):
        run_search(tiny_config(tiny_fashion_mnist, tmp_path / "stop", *plain))
    assert (tmp_path / "stop" / "last.pth").exists()

    poison_training_forward(monkeypatch, Supernet, at_call=4)
    result = run_search(tiny_config(tiny_fashion_mnist, tmp_path / "skip", *plain, "run.nonfinite=skip"))
    assert result["counters"]["skipped_steps"] == 1 and result["history"][0]["skipped_steps"] == 1

import json
import os
import signal

import pytest
import torch
import torch.nn.functional as F

from cream.config import SearchRun, load_config
from cream.engine.context import setup_context
from cream.engine.rundir import RunDir
from cream.engine.signals import RunInterrupted
from cream.errors import CreamError
from cream.search import trainer
from cream.search.trainer import SupernetSearch, run_search


def tiny_config(root, out, *overrides):
    return load_config(SearchRun, None, [
        f"data.root={root}", f"run.out_dir={out}", "data.batch_size=32", "data.eval_batch_size=64",
        "data.val_fraction=0.2", "space.flops_max=8", "search.epochs=3", "search.warmup_epochs=1",
        "search.board_size=3", "search.meta_update_every=2", "search.meta_slice=8", "search.val_images=60",
        "search.bn_batches=1", "search.candidates=3", "run.quiet=true", "run.ckpt_every_steps=0", "run.threads=1",
        *overrides])


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
    for name in ("result.json", "summary.csv", "search.png", "search.log", "config.yaml", "last.pth"):
        assert (out / name).is_file(), name
    assert list((out / "tensorboard").iterdir())
    assert json.loads((out / "result.json").read_text())["arch"] == result["arch"]
    again = run_search(tiny_config(tiny_fashion_mnist, out))  # a finished run is reported, not redone
    assert again["already_finished"] and again["arch"] == result["arch"]


def test_spos_baseline_uses_no_board_and_picks_among_random_paths(tiny_fashion_mnist, tmp_path):
    result = run_search(tiny_config(tiny_fashion_mnist, tmp_path / "spos", "search.algorithm=spos"))
    assert result["board"] == [] and len(result["candidates"]) == 3
    assert all(row["distill_fraction"] == 0 for row in result["history"])


@pytest.mark.parametrize("stop_at", ["mid_epoch", "epoch_end"])
def test_interrupted_and_resumed_run_equals_an_unbroken_one(tiny_fashion_mnist, tmp_path, monkeypatch, stop_at):
    unbroken = run_search(tiny_config(tiny_fashion_mnist, tmp_path / "a"))

    original = SupernetSearch.train_step

    def interrupting_step(self, epoch, x, y):
        original(self, epoch, x, y)
        # mid-epoch: after warm-up, with a board and meta updates; epoch end: before epoch 1's evaluation
        if self.step == (11 if stop_at == "mid_epoch" else self.steps_per_epoch):
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(SupernetSearch, "train_step", interrupting_step)
    with pytest.raises(RunInterrupted, match="resume by running the same command again"):
        run_search(tiny_config(tiny_fashion_mnist, tmp_path / "b"))
    monkeypatch.setattr(SupernetSearch, "train_step", original)
    resumed = run_search(tiny_config(tiny_fashion_mnist, tmp_path / "b"))
    assert comparable(resumed) == comparable(unbroken)


def test_board_entries_store_the_students_own_outputs_and_meta_learns_on_val(tiny_fashion_mnist, tmp_path,
                                                                             monkeypatch):
    # Pins defects (b) (entries stored the teacher's outputs) and (e) (meta data from the training batch).
    cfg = tiny_config(tiny_fashion_mnist, tmp_path / "c", "search.warmup_epochs=0")
    (tmp_path / "c").mkdir()
    search = SupernetSearch(cfg, setup_context(cfg.run), RunDir(cfg.run.out_dir, trainer.OUTPUTS))
    seen, meta_slices = {}, []
    real_consider, real_meta = search.board.consider, trainer.meta_update

    def spy_consider(arch, accuracy, flops, images, soft_labels):
        seen["soft"], seen["images"] = soft_labels.clone(), images.clone()
        return real_consider(arch, accuracy, flops, images, soft_labels)

    def spy_meta(*args, **kwargs):
        meta_slices.append(args[6][0].clone())
        return real_meta(*args, **kwargs)

    monkeypatch.setattr(search.board, "consider", spy_consider)
    monkeypatch.setattr(trainer, "meta_update", spy_meta)
    batches = search.data.train.batches(0)
    for _ in range(4):
        x, y = next(batches)
        search.train_step(0, x, y)
    assert len(search.board) > 0 and meta_slices
    with torch.no_grad():
        teacher_probs = F.softmax(search.supernet(seen["images"], search.board.entries[0].arch), dim=1)
    assert not torch.allclose(seen["soft"], teacher_probs)
    val_images = search.data.val.prepare(search.data.val.images, None, augment=False)
    for x_ce in meta_slices:
        for image in x_ce:
            assert (val_images == image).flatten(1).all(dim=1).any()
    search.log.close()


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
        board_sizes.append(len(search.board))
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

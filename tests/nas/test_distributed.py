import itertools
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.nas.ddp_steps import start_search, steps_on_shares
from tests.nas.test_trainer import tiny_overrides
from tests.torchrun import run_two_processes


@pytest.mark.slow
@pytest.mark.parametrize("fidelity", ["ours", "paper_code"])
def test_two_process_gloo_search_runs_end_to_end(tiny_fashion_mnist, tmp_path, fidelity):
    out = tmp_path / "ddp"
    torchrun = Path(sys.executable).with_name("torchrun")
    command = [
        str(torchrun), "--standalone", "--nproc_per_node=2", "-m", "cream.cli", "search", "fashion_mnist",
        f"data.root={tiny_fashion_mnist}", f"run.out_dir={out}", "data.batch_size=16", "data.eval_batch_size=32",
        "data.val_fraction=0.2", "data.train_per_class=null", "search.epochs=2", "search.warmup_epochs=1",
        "search.board_size=3",
        "search.meta_update_every=2", "search.meta_slice=4", "search.val_images=60", "search.bn_batches=1",
        "run.threads=1", "run.ckpt_every_steps=3", f"search.fidelity={fidelity}", "--quiet",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("chosen architecture") == 1  # only rank 0 reports
    result = json.loads((out / "result.json").read_text())
    assert len(result["board"]) == 3 and result["counters"]["meta_updates"] > 0
    assert result["history"][0]["images_per_s"] > 0
    # 240 search-train images, 16 per process per step, 2 processes: 7 steps per epoch
    assert "7 steps per epoch, batch 16x2" in (out / "search.log").read_text()


@pytest.mark.slow
def test_two_processes_of_16_images_step_like_one_process_of_32(tiny_fashion_mnist, tmp_path):
    """Two gloo processes, each on its half of a batch, against one process on the whole batch, step by step.

    The supernet runs with BatchNorm on its running statistics (eval mode) in both: in training mode each process
    normalises with its own half's batch statistics (there is no SyncBatchNorm on CPUs, nor in our search), so no
    run split over processes can equal one on the whole batch. The full run differs for two more reasons, both
    intended: a process's share of an epoch is a contiguous part of the shuffled order (not the halves of the
    one-process batches), and each process draws its own augmentation and search-val slice for the meta update.
    What must hold, and is checked: the same paths sampled, the same teachers with the same m, the same board
    (paths, batch accuracies over both halves, rank 0's images and soft labels), supernet weights that match
    (gradients averaged, the learning rate scaled to the total batch) and the same final ranking; and every meta
    update's gradient is the mean of the gradients the processes computed, so both meta networks stay equal.
    """
    def steps(out, batch_size):
        return tiny_overrides(tiny_fashion_mnist, out, f"data.batch_size={batch_size}", "search.warmup_epochs=0",
                              "search.meta_update_every=0", "search.bn_batches=0")

    source = start_search(steps(tmp_path / "source", 32))
    batches = list(itertools.islice(source.data.train.batches(0), 4))
    source.log.close()
    torch.save(batches, tmp_path / "batches.pt")
    spec = {"batches": str(tmp_path / "batches.pt"), "out": str(tmp_path), "shares": steps(tmp_path / "two", 16),
            "meta": tiny_overrides(tiny_fashion_mnist, tmp_path / "meta", "data.batch_size=16",
                                   "search.warmup_epochs=0", "search.meta_update_every=1", "search.meta_data=val")}
    run_two_processes("tests.nas.ddp_steps", spec, tmp_path)
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1)]
    one = steps_on_shares(steps(tmp_path / "one", 32), batches)

    assert len(one["board"]["entries"]) == 3 and one["teachers"]  # the steps distilled from a full board
    for rank in ranks:
        two = rank["shares"]
        assert two["sampled"] == one["sampled"]
        assert [i for i, _ in two["teachers"]] == [i for i, _ in one["teachers"]]
        assert [m for _, m in two["teachers"]] == pytest.approx([m for _, m in one["teachers"]], rel=1e-5)
        for a, b in zip(two["board"]["entries"], one["board"]["entries"], strict=True):
            assert (a["arch"], a["accuracy"], a["cost"]) == (b["arch"], b["accuracy"], b["cost"])
            assert torch.equal(a["images"], b["images"])
            assert torch.allclose(a["soft_labels"], b["soft_labels"], rtol=1e-4, atol=1e-6)
        for k, v in two["supernet"].items():
            assert torch.allclose(v, one["supernet"][k], rtol=1e-4, atol=1e-6), k
        assert [(r["arch"], r["val_top1"]) for r in two["ranked"]] == [(r["arch"], r["val_top1"])
                                                                        for r in one["ranked"]]
        assert [r["val_loss"] for r in two["ranked"]] == pytest.approx([r["val_loss"] for r in one["ranked"]],
                                                                       rel=1e-4)  # over both halves of val
    for k, v in ranks[0]["shares"]["supernet"].items():
        assert torch.equal(v, ranks[1]["shares"]["supernet"][k]), k  # DDP keeps the processes identical

    meta = [rank["meta"] for rank in ranks]
    assert len(meta[0]["computed"]) == 2  # the meta network's weight and bias
    for c0, c1, a0, a1 in zip(meta[0]["computed"], meta[1]["computed"], meta[0]["averaged"], meta[1]["averaged"]):
        assert not torch.allclose(c0, c1)  # each process judged its own search-val slice
        assert torch.allclose(a0, (c0 + c1) / 2) and torch.equal(a0, a1)
    for k, v in meta[0]["meta_net"].items():
        assert torch.equal(v, meta[1]["meta_net"][k]), k

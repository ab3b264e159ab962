"""The search's figure files: paths.csv (every path the rule evaluated) and board.csv (every change of its board)."""

import csv

import torch

from cream.engine.context import setup_context
from cream.engine.rundir import RunDir
from cream.nas import trainer
from cream.nas.records import SearchRecords
from cream.nas.strategy import StepLoss
from cream.nas.trainer import SupernetSearch, run_search
from cream.space.arch import Arch
from tests.nas.test_trainer import tiny_config


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.reader(f))


def test_the_files_have_the_shared_columns_and_an_empty_latency_without_a_table(tmp_path):
    records = SearchRecords()
    records.add_path(7, 2, "0-1-2-3-4", 5.5, None, 62.5)
    records.add_path(8, 2, "0-1-2-3-5", 6.0, 1.25, 50.0)
    records.add_board_event(7, 2, "enter", "0-1-2-3-4", 5.5, 62.5)
    records.write(tmp_path)
    assert read_csv(tmp_path / "paths.csv") == [["step", "epoch", "arch", "flops", "latency_ms", "top1"],
                                               ["7", "2", "0-1-2-3-4", "5.5", "", "62.5"],
                                               ["8", "2", "0-1-2-3-5", "6.0", "1.25", "50.0"]]
    assert read_csv(tmp_path / "board.csv") == [["step", "epoch", "event", "arch", "flops", "top1"],
                                               ["7", "2", "enter", "0-1-2-3-4", "5.5", "62.5"]]
    again = SearchRecords()
    again.load_state_dict(records.state_dict())
    assert (again.paths, again.board) == (records.paths, records.board)
    assert not list(tmp_path.glob("*.tmp"))  # written through a temporary file and a rename


def test_a_board_fed_known_accuracies_records_the_known_enter_and_leave_events(tiny_fashion_mnist, tmp_path):
    cfg = tiny_config(tiny_fashion_mnist, tmp_path / "s", "search.warmup_epochs=1", "search.board_margin=0")
    (tmp_path / "s").mkdir()
    search = SupernetSearch(cfg, setup_context(cfg.run), RunDir(cfg.run.out_dir, trainer.OUTPUTS))
    cream, table = search.strategy, search.plan.table
    depths = search.plan.depths
    a, b, c, d, e, f = (Arch.uniform(depths, op) for op in range(6))
    x = torch.zeros(8, 1, 28, 28)
    # Board of 3 with no margin: A, B, C fill it; D (70) beats the worst (C, 40); E (45) does not beat A (50); F (80)
    # evicts A; B seen again at 30 is refreshed in place: its old entry leaves, its new one enters. During the
    # warm-up (epoch index 0) nothing is recorded.
    feed = [(0, a, 99.0), (1, a, 50.0), (1, b, 60.0), (1, c, 40.0), (1, d, 70.0), (1, e, 45.0), (1, f, 80.0),
            (1, b, 30.0)]
    for step, (epoch, arch, top1) in enumerate(feed, start=1):
        search._step = step
        out = StepLoss(loss=torch.zeros(()), ce=torch.zeros(()), logits=torch.randn(8, 10), labels=torch.zeros(8),
                       arch=arch)
        cream.after_update(epoch, x, out, top1)
    search.strategy.records.write(tmp_path)
    macs = {str(arch): str(table.macs(arch)) for arch in (a, b, c, d, e, f)}
    expected = [("enter", 2, a, 50.0), ("enter", 3, b, 60.0), ("enter", 4, c, 40.0), ("leave", 5, c, 40.0),
                ("enter", 5, d, 70.0), ("leave", 7, a, 50.0), ("enter", 7, f, 80.0), ("leave", 8, b, 60.0),
                ("enter", 8, b, 30.0)]
    assert read_csv(tmp_path / "board.csv")[1:] == [[str(step), "2", event, str(arch), macs[str(arch)], str(top1)]
                                                    for event, step, arch, top1 in expected]
    assert read_csv(tmp_path / "paths.csv")[1:] == [[str(step), "2", str(arch), macs[str(arch)], "", str(top1)]
                                                    for step, (epoch, arch, top1) in enumerate(feed, start=1)
                                                    if epoch == 1]
    search.log.close()


def replay(board_rows):
    """The board a sequence of enter/leave events leaves: a multiset of (arch, top1)."""
    board = []
    for _, _, event, arch, _, top1 in board_rows:
        if event == "enter":
            board.append((arch, float(top1)))
        else:
            board.remove((arch, float(top1)))
    return sorted(board)


def test_a_search_writes_the_files_after_every_epoch_and_its_board_replays_to_the_final_board(
        tiny_fashion_mnist, tmp_path, monkeypatch):
    out, seen = tmp_path / "run", []
    original = SupernetSearch.on_epoch_row

    def after_epoch_row(self, row):
        original(self, row)
        seen.append((row["epoch"], read_csv(out / "paths.csv"), read_csv(out / "board.csv")))

    monkeypatch.setattr(SupernetSearch, "on_epoch_row", after_epoch_row)
    result = run_search(tiny_config(tiny_fashion_mnist, out))  # 3 epochs, the first one warm-up
    ckpt = torch.load(out / "last.pth", weights_only=False)
    steps = 240 // 32  # per epoch: 80% of 300 images in batches of 32
    assert [epoch for epoch, _, _ in seen] == [1, 2, 3]
    assert [len(paths) - 1 for _, paths, _ in seen] == [0, steps, 2 * steps]  # every step after the warm-up
    paths = seen[-1][1][1:]
    assert [int(row[0]) for row in paths] == list(range(steps + 1, 3 * steps + 1))
    assert [row[1] for row in paths] == ["2"] * steps + ["3"] * steps
    assert read_csv(out / "paths.csv") == seen[-1][1] and read_csv(out / "board.csv") == seen[-1][2]
    history = result["history"]  # Cream's own figures: it distils once the board has a path, from epoch 2 on
    assert history[0]["distill_fraction"] == history[0]["kd_loss"] == 0 and history[2]["distill_fraction"] == 1
    assert all(row["kd_loss"] > 0 and 0 < row["mean_m"] < 1 for row in history[1:])
    assert replay(seen[-1][2][1:]) == sorted((e["arch"], e["accuracy"]) for e in ckpt["board"]["entries"])
    assert sorted(r["arch"] for r in result["board"]) == sorted(e["arch"] for e in ckpt["board"]["entries"])

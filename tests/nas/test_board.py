import pytest
import torch

from cream.nas.board import PrioritizedBoard
from cream.space import Arch


def offer(board, text, accuracy, cost):
    return board.consider(Arch.parse(text), accuracy, cost, torch.zeros(2, 1, 4, 4), torch.full((2, 3), accuracy))


# (board before as (arch, acc, cost), offered path, enters?, board after by arch) with size 3, margin 5
CASES = [
    ("room on the board", [("0-0-0-0-0", 50, 5)], ("1-1-1-1-1", 10, 9), True, ["0-0-0-0-0", "1-1-1-1-1"]),
    ("beats worst by margin", [("0-0-0-0-0", 50, 5), ("1-1-1-1-1", 40, 5), ("2-2-2-2-2", 30, 5)],
     ("3-3-3-3-3", 35.5, 9), True, ["0-0-0-0-0", "1-1-1-1-1", "3-3-3-3-3"]),
    ("exactly the margin above the worst, more FLOPs", [("0-0-0-0-0", 50, 5), ("1-1-1-1-1", 40, 5),
                                                        ("2-2-2-2-2", 30, 5)],
     ("3-3-3-3-3", 35, 9), False, ["0-0-0-0-0", "1-1-1-1-1", "2-2-2-2-2"]),
    ("better but within margin, more FLOPs", [("0-0-0-0-0", 50, 5), ("1-1-1-1-1", 40, 5), ("2-2-2-2-2", 30, 5)],
     ("3-3-3-3-3", 34, 9), False, ["0-0-0-0-0", "1-1-1-1-1", "2-2-2-2-2"]),
    ("better within margin with fewer FLOPs", [("0-0-0-0-0", 50, 5), ("1-1-1-1-1", 40, 5), ("2-2-2-2-2", 30, 5)],
     ("3-3-3-3-3", 31, 4), True, ["0-0-0-0-0", "1-1-1-1-1", "3-3-3-3-3"]),
    ("better within margin with the same FLOPs", [("0-0-0-0-0", 50, 5), ("1-1-1-1-1", 40, 5), ("2-2-2-2-2", 30, 5)],
     ("3-3-3-3-3", 31, 5), False, ["0-0-0-0-0", "1-1-1-1-1", "2-2-2-2-2"]),
    ("fewer FLOPs but not more accurate", [("0-0-0-0-0", 50, 5), ("1-1-1-1-1", 40, 5), ("2-2-2-2-2", 30, 5)],
     ("3-3-3-3-3", 30, 1), False, ["0-0-0-0-0", "1-1-1-1-1", "2-2-2-2-2"]),
    ("new best goes first", [("0-0-0-0-0", 50, 5), ("1-1-1-1-1", 40, 5), ("2-2-2-2-2", 30, 5)],
     ("3-3-3-3-3", 90, 9), True, ["3-3-3-3-3", "0-0-0-0-0", "1-1-1-1-1"]),
    ("accuracy ties break on fewer FLOPs", [("0-0-0-0-0", 50, 5)], ("1-1-1-1-1", 50, 4), True,
     ["1-1-1-1-1", "0-0-0-0-0"]),
    ("a path already on the board is refreshed, never doubled", [("0-0-0-0-0", 50, 5), ("1-1-1-1-1", 40, 5)],
     ("1-1-1-1-1", 60, 5), True, ["1-1-1-1-1", "0-0-0-0-0"]),
]


@pytest.mark.parametrize("name, before, offered, enters, after", CASES, ids=[c[0] for c in CASES])
def test_board_update_rules(name, before, offered, enters, after):
    board = PrioritizedBoard(size=3, margin=5.0)
    for text, acc, cost in before:
        offer(board, text, acc, cost)
    assert offer(board, *offered) == enters
    assert [str(e.arch) for e in board.entries] == after


def test_board_sorts_on_plain_numbers_with_tensors_stored_and_round_trips():
    board = PrioritizedBoard(size=4, margin=0.0)
    for i, acc in enumerate([30.0, 70.0, 70.0, 50.0]):
        offer(board, f"{i}-0-0-0-0", acc, 10 - i)
    assert [e.accuracy for e in board.entries] == [70.0, 70.0, 50.0, 30.0]
    copy = PrioritizedBoard()
    assert (copy.size, copy.margin) == (10, 5.0)  # the defaults of search.board_size and search.board_margin
    copy.load_state_dict(board.state_dict())
    assert (copy.size, copy.margin) == (4, 0.0)
    assert [(str(e.arch), e.accuracy, e.cost) for e in copy.entries] == \
        [(str(e.arch), e.accuracy, e.cost) for e in board.entries]
    assert torch.equal(copy.entries[0].soft_labels, board.entries[0].soft_labels)


def test_the_batch_fills_every_slot_repeating_entries_in_turn_and_follows_the_board():
    board = PrioritizedBoard(size=3, margin=0.0)
    assert board.worst is None
    with pytest.raises(ValueError, match="^the board is empty$"):
        board.batch()
    first, second = torch.full((2, 1, 4, 4), 1.0), torch.full((2, 1, 4, 4), 2.0)
    board.consider(Arch.parse("0-0-0-0-0"), 60.0, 5, first, torch.full((2, 3), 0.6))
    board.consider(Arch.parse("1-1-1-1-1"), 50.0, 5, second, torch.full((2, 3), 0.5))
    images, soft = board.batch()
    assert torch.equal(images, torch.cat([first, second, first]))  # the empty third slot repeats the best entry
    assert torch.equal(soft, torch.stack([torch.full((2, 3), v) for v in (0.6, 0.5, 0.6)]))

    board.consider(Arch.parse("2-2-2-2-2"), 70.0, 5, torch.full((2, 1, 4, 4), 3.0), torch.full((2, 3), 0.7))
    assert board.batch()[0][:, 0, 0, 0].tolist() == [3.0, 3.0, 1.0, 1.0, 2.0, 2.0]  # rebuilt, best first

    other = PrioritizedBoard(size=3, margin=0.0)
    other.consider(Arch.parse("3-3-3-3-3"), 10.0, 5, torch.full((2, 1, 4, 4), 4.0), torch.full((2, 3), 0.1))
    board.load_state_dict(other.state_dict())
    assert board.batch()[0][:, 0, 0, 0].tolist() == [4.0] * 6  # rebuilt after a load too


def test_a_loaded_board_puts_its_images_and_soft_labels_on_the_given_device():
    board = PrioritizedBoard(size=2, margin=0.0)
    offer(board, "0-0-0-0-0", 50.0, 5)
    copy = PrioritizedBoard()
    copy.load_state_dict(board.state_dict(), device="meta")  # a device every machine has
    assert copy.entries[0].images.device.type == "meta" and copy.entries[0].soft_labels.device.type == "meta"


def test_the_paper_rule_ranks_ties_by_higher_cost_first_and_lets_a_path_enter_twice():
    ours, paper = PrioritizedBoard(size=3, margin=0.0), PrioritizedBoard(size=3, margin=0.0, paper_rule=True)
    for board in (ours, paper):
        for text, acc, cost in [("0-0-0-0-0", 50, 5), ("1-1-1-1-1", 50, 9), ("0-0-0-0-0", 50, 5)]:
            offer(board, text, acc, cost)
    assert [(str(e.arch), e.cost) for e in ours.entries] == [("0-0-0-0-0", 5), ("1-1-1-1-1", 9)]
    assert [(str(e.arch), e.cost) for e in paper.entries] == [("1-1-1-1-1", 9), ("0-0-0-0-0", 5), ("0-0-0-0-0", 5)]
    for board in (ours, paper):
        offer(board, "2-2-2-2-2", 60, 1)
    assert [str(e.arch) for e in ours.entries] == ["2-2-2-2-2", "0-0-0-0-0", "1-1-1-1-1"]
    assert [str(e.arch) for e in paper.entries] == ["2-2-2-2-2", "1-1-1-1-1", "0-0-0-0-0"]  # a low-cost tie left

import io
import sys

import pytest

from cream.engine.logs import RunLog


class Stream(io.StringIO):
    def __init__(self, tty: bool):
        super().__init__()
        self.tty = tty

    def isatty(self):
        return self.tty


@pytest.mark.parametrize("tty", [False, True])
def test_a_progress_bar_is_drawn_only_on_a_terminal(tmp_path, monkeypatch, tty):
    stream = Stream(tty)
    monkeypatch.setattr(sys, "stderr", stream)
    log = RunLog(tmp_path, "run")
    bar = log.progress(5, 0, "epoch 1/1")
    for _ in range(5):
        bar.update(1)
    bar.close()
    log.info("epoch 1/1  loss 1.000")
    log.close()
    assert ("\repoch 1/1:   0%|" in stream.getvalue()) == tty
    assert (tmp_path / "run.log").read_text().endswith(" epoch 1/1  loss 1.000\n")

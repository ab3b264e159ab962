import os
import pickle
import signal

import pytest
import torch

from cream.engine.checkpoint import load_checkpoint, load_latest, previous, save_atomic
from cream.errors import CreamError


def test_save_keeps_the_previous_checkpoint_and_leaves_no_temporary_file(tmp_path):
    path = tmp_path / "last.pth"
    save_atomic({"step": 1, "w": torch.ones(3)}, path)
    save_atomic({"step": 2, "w": torch.ones(3)}, path)
    assert load_checkpoint(path)["step"] == 2 and load_checkpoint(previous(path))["step"] == 1
    assert not path.with_name("last.pth.tmp").exists()


def test_a_truncated_checkpoint_falls_back_to_the_previous_good_one(tmp_path):
    path = tmp_path / "last.pth"
    save_atomic({"step": 1}, path)
    save_atomic({"step": 2}, path)
    path.write_bytes(path.read_bytes()[:50])
    messages = []
    assert load_latest(path, log=messages.append)["step"] == 1
    assert "truncated or corrupt" in messages[0] and "previous good checkpoint" in messages[1]
    previous(path).write_bytes(b"garbage")
    with pytest.raises(CreamError, match="no loadable checkpoint.*--force"):
        load_latest(path, log=messages.append)
    assert load_latest(tmp_path / "absent.pth") is None


class RunsCode:
    """A pickle payload that would create a marker file when unpickled."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_checkpoint_that_would_run_code_is_refused_and_the_code_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    with open(path, "wb") as f:
        torch.save({"state_dict": {"w": torch.ones(1)}, "payload": RunsCode(marker)}, f, pickle_module=pickle)
    with pytest.raises(CreamError, match="could run code; refusing"):
        load_checkpoint(path)
    assert not marker.exists()


def test_the_run_lock_is_exclusive_and_dies_with_its_process(tmp_path):
    import subprocess
    import sys
    import time

    from cream.engine.rundir import RunDir

    holder = subprocess.Popen([sys.executable, "-c", (
        "import time; from cream.engine.rundir import RunDir; "
        f"d = RunDir({str(tmp_path)!r}, ()); d.acquire(); print('locked', flush=True); time.sleep(60)")],
        stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    with pytest.raises(CreamError, match=f"in use by pid {holder.pid}"):
        RunDir(tmp_path, ()).acquire()
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    time.sleep(0.1)
    mine = RunDir(tmp_path, ())
    mine.acquire()
    mine.release()


def test_force_clears_only_the_commands_own_outputs(tmp_path):
    from cream.engine.rundir import RunDir

    (tmp_path / "result.json").write_text("{}")
    (tmp_path / "tensorboard").mkdir()
    (tmp_path / "tensorboard" / "events").write_text("x")
    (tmp_path / "notes.txt").write_text("the user's")
    RunDir(tmp_path, ("result.json", "tensorboard")).clear()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_first_signal_sets_a_flag_and_the_step_can_finish():
    from cream.engine.signals import StopRequest

    with StopRequest() as stop:
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.requested == "SIGTERM"

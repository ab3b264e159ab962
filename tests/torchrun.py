"""Run a test module's worker in two gloo processes with torchrun."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def run_two_processes(module: str, spec: dict, folder: Path) -> None:
    """Write ``spec`` to folder/spec.json and run ``python -m module spec.json`` as two torchrun processes."""
    (folder / "spec.json").write_text(json.dumps(spec))
    torchrun = Path(sys.executable).with_name("torchrun")
    done = subprocess.run([str(torchrun), "--standalone", "--nproc_per_node=2", "-m", module,
                           str(folder / "spec.json")], capture_output=True, text=True, timeout=600,
                          cwd=Path(__file__).parents[1])
    assert done.returncode == 0, done.stderr[-3000:]

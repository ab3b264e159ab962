import importlib.util
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

SCRIPT = Path(__file__).parents[1] / "benchmarks" / "step_speed.py"


@pytest.mark.slow
def test_the_step_benchmark_prints_json_lines_and_stops_itself_within_its_time_limit():
    # On the CPU the 28 px rows take far longer than the limit allows, so most must be skipped, not waited for.
    start = time.monotonic()
    done = subprocess.run([sys.executable, str(SCRIPT), "--device", "cpu", "--paths", "random", "--data", "synthetic",
                           "--threads", "1", "--scales", "28", "--steps", "2", "--first-cream-steps", "3",
                           "--time-limit", "40", "--profile"],
                          capture_output=True, text=True, timeout=180)
    seconds = time.monotonic() - start
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert rows[0]["row"] == "machine" and rows[-1]["row"] == "end"
    assert any(r.get("skipped") == "time limit reached" for r in rows)
    measured = [r for r in rows if "ms_per_step" in r]
    assert measured and all(r["gflops_per_step"] > 0 for r in measured)
    assert seconds < 40 + 60  # the limit, plus imports and the step that was running when it ran out


def test_flops_of_a_depthwise_convolution_step_are_three_forwards():
    # PyTorch's own backward formula counts a grouped weight gradient as dense (32x too many here).
    spec = importlib.util.spec_from_file_location("step_speed", SCRIPT)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    conv = torch.nn.Conv2d(32, 32, 3, padding=1, groups=32, bias=False)
    x = torch.randn(4, 32, 8, 8, requires_grad=True)
    forward = 2 * 4 * 32 * 8 * 8 * 3 * 3  # multiply-adds per output element x outputs, 2 FLOPs each
    counter = FlopCounterMode(display=False, custom_mapping={torch.ops.aten.convolution_backward:
                                                             bench.conv_backward_flops})
    with counter:
        conv(x).sum().backward()
    assert counter.get_total_flops() == 3 * forward

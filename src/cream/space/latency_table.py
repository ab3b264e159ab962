"""Predicted latency: milliseconds per (block position, op) and of the fixed parts, measured on one device.

``cream latency-table`` times every op of every block position on its real input shape, and the fixed parts
(stem, stage 0, last conv, head), each the median of repeats after a warm-up, with the batch, threads, memory
format and bf16 autocast the table records. A path's predicted latency is the sum of its ops and the fixed
parts: a plain sum over floats, like the FLOPs table's. A table describes one device and one network layout,
and is refused with one line where either differs from the run that uses it.
"""

from __future__ import annotations

import json
import platform
import statistics
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch

from cream.engine.context import RunContext
from cream.engine.latency import cpu_threads, median_ms, timed_call
from cream.errors import CreamError
from cream.space.arch import NUM_OPS, Arch
from cream.space.net import NetSpec
from cream.space.supernet import MAX_DEPTHS, Supernet

KIND = "cream-latency-table"
FIXED_PARTS = ("stem", "stage0", "last_conv", "head")
NET_KEYS = ("resolution", "in_chans", "num_classes", "width", "stem_stride", "stage_strides")


@dataclass(frozen=True)
class LatencyTable:
    """Milliseconds per forward of ``batch`` images: fixed parts plus one entry per block position and op."""

    device: str  # cpu or cuda
    device_name: str  # the CPU model or GPU name
    torch: str
    threads: int
    batch: int
    channels_last: bool
    bf16: bool
    net: dict  # NET_KEYS of the NetSpec it was measured for
    repeats: int
    warmup: int
    fixed_ms: dict  # FIXED_PARTS -> ms
    block_ms: tuple[tuple[tuple[float, ...], ...], ...]  # [stage][block][op]

    @property
    def resolution(self) -> int:
        return self.net["resolution"]

    def ms(self, arch: Arch) -> float:
        """Predicted milliseconds of the whole network ``arch``."""
        total = sum(self.fixed_ms.values())
        for stage, ops in zip(self.block_ms, arch.stages):
            for block, op in zip(stage, ops):
                total += block[op]
        return total

    def fastest(self, depths) -> Arch:
        """The path of least predicted latency at these depths (the quickest op at every position)."""
        return self._extreme(depths, min)

    def slowest(self, depths) -> Arch:
        return self._extreme(depths, max)

    def _extreme(self, depths, pick) -> Arch:
        return Arch(tuple(tuple(pick(range(len(b)), key=b.__getitem__) for b in stage[:d])
                          for stage, d in zip(self.block_ms, depths)))

    def describe(self) -> str:
        return (f"{self.device} ({self.device_name}), batch {self.batch}, {self.threads} thread(s), "
                f"{self.resolution} px")

    def to_json(self) -> dict:
        return {"kind": KIND, **asdict(self)}


def net_identity(spec: NetSpec) -> dict:
    full = spec.to_json()
    return {k: full[k] for k in NET_KEYS}


def device_name(device: torch.device) -> str:
    """What identifies the device a table is for: the GPU's name, or the CPU's model name."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device) if torch.cuda.is_available() else "no GPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


@torch.no_grad()
def measure_latency_table(spec: NetSpec, device: str, batch: int, threads: int | None, channels_last: bool = True,
                          bf16: bool = False, repeats: int = 20, warmup: int = 5, clock=time.perf_counter,
                          log=None) -> LatencyTable:
    """Time every part of the supernet at ``spec`` inside whole forward passes on ``device`` (with ``threads``
    CPU threads; None = PyTorch's default).

    Each pass runs one path of the deepest supernet, timing every part it calls; the op at each position
    turns over from pass to pass, so ``NUM_OPS`` passes time every op once. Timed in passes rather than alone,
    an op meets the caches a whole network leaves it (alone, its weights stay hot and it looks faster).
    """
    if device not in ("cpu", "cuda"):
        raise CreamError(f"--device must be cpu or cuda, got {device!r}")
    if bf16 and device != "cuda":
        raise CreamError("--bf16 is for --device cuda: bf16 autocast runs on GPUs only")
    if device == "cuda" and not torch.cuda.is_available():
        raise CreamError("--device cuda but no CUDA GPU is visible; make the table on the machine with the GPU")
    ctx = RunContext(torch.device(device), bf16=bf16, channels_last=channels_last)
    threads = threads or torch.get_num_threads()
    times = defaultdict(list)

    def run(key, forward, x):
        out, ms = timed_call(forward, x, ctx, clock)
        times[key].append(ms)
        return out

    with cpu_threads(threads):
        net = ctx.prepare_model(Supernet(spec, MAX_DEPTHS)).eval()
        images = ctx.to_device(torch.randn(batch, spec.in_chans, spec.resolution, spec.resolution))
        positions = [(s, b, choice) for s, stage in enumerate(net.blocks[1:-1]) for b, choice in enumerate(stage)]
        passes = NUM_OPS * (warmup + repeats)
        for k in range(passes):
            x = run("stem", lambda t: net.bn1(net.conv_stem(t)), images)
            x = run("stage0", net.blocks[0], x)
            for p, (s, b, choice) in enumerate(positions):
                op = (k + p) % NUM_OPS
                x = run((s, b, op), choice.ops[op], x)
            x = run("last_conv", net.blocks[-1], x)
            run("head", net.forward_head, x)
            if log and (k + 1) % (passes // 5 or 1) == 0:
                log(f"{k + 1}/{passes} passes")

    def median(key, skip):
        return round(statistics.median(times[key][skip:]), 4)

    fixed = {part: median(part, NUM_OPS * warmup) for part in FIXED_PARTS}
    blocks = tuple(tuple(tuple(median((s, b, op), warmup) for op in range(NUM_OPS)) for b in range(depth))
                   for s, depth in enumerate(MAX_DEPTHS))
    return LatencyTable(device, device_name(ctx.device), torch.__version__, threads, batch, channels_last, bf16,
                        net_identity(spec), repeats, warmup, fixed, blocks)


def measured_ms(table: LatencyTable, net: torch.nn.Module, clock=time.perf_counter) -> float:
    """Whole-network milliseconds of ``net`` measured as the table was: device, threads, batch, format, repeats."""
    ctx = RunContext(torch.device(table.device), bf16=table.bf16, channels_last=table.channels_last)
    with cpu_threads(table.threads):
        net = ctx.prepare_model(net).eval()
        x = ctx.to_device(torch.randn(table.batch, table.net["in_chans"], table.resolution, table.resolution))
        return median_ms(net, x, ctx, table.repeats, table.warmup, clock)


def make_command(spec: NetSpec, device: str, batch: int = 1, threads: int = 1, channels_last: bool = True,
                 bf16: bool = False) -> str:
    """The ``cream latency-table`` command that makes a table for this network and device."""
    parts = [f"cream latency-table --device {device} --resolution {spec.resolution} --in-chans {spec.in_chans} "
             f"--num-classes {spec.num_classes} --width {spec.width:g}"]
    if spec.stem_stride is not None:
        parts.append(f"--stem-stride {spec.stem_stride}")
    if spec.stage_strides is not None:
        parts.append("--stage-strides " + ",".join(map(str, spec.stage_strides)))
    parts.append(f"--batch {batch} --threads {threads}")
    if not channels_last:
        parts.append("--no-channels-last")
    if bf16:
        parts.append("--bf16")
    return " ".join(parts + ["--out FILE"])


def write_latency_table(table: LatencyTable, path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(table.to_json(), indent=1) + "\n")


def parse_latency_table(data) -> LatencyTable:
    """A table from its JSON content; ValueError naming what is wrong."""
    if not isinstance(data, dict) or data.get("kind") != KIND:
        raise ValueError(f"its 'kind' is not {KIND!r}")
    names = [f.name for f in fields(LatencyTable)]
    missing = [n for n in names if n not in data]
    if missing:
        raise ValueError(f"it has no {', '.join(missing)}")
    values = {n: data[n] for n in names}
    if not isinstance(values["net"], dict) or any(k not in values["net"] for k in NET_KEYS):
        raise ValueError(f"its 'net' lacks one of {', '.join(NET_KEYS)}")
    if not isinstance(values["fixed_ms"], dict) or sorted(values["fixed_ms"]) != sorted(FIXED_PARTS):
        raise ValueError(f"its 'fixed_ms' must time exactly {', '.join(FIXED_PARTS)}")
    blocks = values["block_ms"]
    shape = [[len(ops) for ops in stage] for stage in blocks] if isinstance(blocks, (list, tuple)) else None
    if shape != [[NUM_OPS] * depth for depth in MAX_DEPTHS]:
        raise ValueError(f"its 'block_ms' is not {NUM_OPS} ops at each of {list(MAX_DEPTHS)} positions per stage")
    values["block_ms"] = tuple(tuple(tuple(_ms(v) for v in ops) for ops in stage) for stage in blocks)
    values["fixed_ms"] = {k: _ms(v) for k, v in values["fixed_ms"].items()}
    return LatencyTable(**values)


def _ms(value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < float("inf"):
        raise ValueError(f"{value!r} is not a number of milliseconds")
    return float(value)


def load_latency_table(path, spec: NetSpec, device: torch.device | None = None, channels_last: bool | None = None,
                       bf16: bool | None = None) -> LatencyTable:
    """Read the table at ``path`` and check it was made for ``spec`` (and, where given, this device and format).

    Any difference is a one-line error that names it and gives the command that makes the right table.
    """
    table = _read_table(Path(path), spec, device, channels_last, bf16)
    _check_table(table, Path(path), spec, device, channels_last, bf16)
    return table


def load_to_measure(path, spec: NetSpec) -> LatencyTable:
    """A table for ``spec`` made on this machine, to measure a net beside its prediction (``cream arch``)."""
    table = _read_table(Path(path), spec)
    _check_table(table, Path(path), spec)
    _check_table(table, Path(path), spec, torch.device(table.device))
    return table


def _read_table(path: Path, spec: NetSpec, device: torch.device | None = None, channels_last: bool | None = None,
                bf16: bool | None = None) -> LatencyTable:
    make = make_command(spec, device.type if device is not None else "cpu", channels_last=channels_last is not False,
                        bf16=bool(bf16))
    if not path.is_file():
        raise CreamError(f"latency table {path} does not exist; make it with: {make}")
    try:
        return parse_latency_table(json.loads(path.read_text()))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, ValueError, TypeError) as e:
        reason = e.msg if isinstance(e, json.JSONDecodeError) else str(e)
        raise CreamError(f"latency table {path} is not readable ({reason}); make it again with: {make}") from None


def _check_table(table: LatencyTable, path: Path, spec: NetSpec, device: torch.device | None = None,
                 channels_last: bool | None = None, bf16: bool | None = None) -> None:
    ours, found = net_identity(spec), []
    for k in NET_KEYS:
        if table.net[k] != ours[k]:
            found.append(f"{k} {table.net[k]} (this run: {ours[k]})")
    if device is not None and (table.device, table.device_name) != (device.type, device_name(device)):
        found.append(f"another device, {table.device} '{table.device_name}' (this run: {device.type} "
                     f"'{device_name(device)}')")
    for name, value in (("channels_last", channels_last), ("bf16", bf16)):
        if value is not None and getattr(table, name) != value:
            found.append(f"{name}={getattr(table, name)} (this run: {value})")
    if found:
        kind = device.type if device is not None else "cpu"
        make = make_command(spec, kind, table.batch, table.threads, table.channels_last if channels_last is None
                            else channels_last, table.bf16 if bf16 is None else bf16)
        raise CreamError(f"latency table {path} was made for {'; '.join(found)}; make one for this run with: {make}")

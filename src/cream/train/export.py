"""``cream export``: a child net (from a checkpoint, or one path of a trained supernet) as ONNX, TorchScript
and safetensors, each checked against PyTorch on a fixed batch before it is reported as written.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import warnings
from pathlib import Path

import numpy as np
import onnxruntime
import torch

from cream.config import ExportRun
from cream.data import build_data
from cream.engine.context import RunContext, setup_context, teardown_context
from cream.engine.evaluate import recalibrate_bn
from cream.errors import CreamError
from cream.space.arch import Arch
from cream.space.net import NetSpec, build_child
from cream.space.zoo import resolve_arch
from cream.train.weights import Weights, load_into, load_supernet, net_for, read_weights, write_safetensors

SUFFIXES = {"onnx": ".onnx", "torchscript": ".torchscript.pt", "safetensors": ".safetensors"}


def export_model(cfg: ExportRun, source: dict | Weights) -> dict:
    """Export as ``cfg.export`` says: ``source`` is the search checkpoint ``export.supernet`` (its dict) or the
    weights of ``export.checkpoint``."""
    ctx = setup_context(cfg.run)
    try:
        if cfg.export.supernet:
            net, arch, spec, which = supernet_path(source, cfg, ctx)
        else:
            arch, spec = net_for(source, cfg.export.arch, cfg.export.resolution)
            which, state = source.preferred(cfg.export.plain)
            net = build_child(arch, spec)
            load_into(net, state, f"{source.path} ({which} weights)",
                      "give the architecture the weights were trained with (--arch)")
        return write_formats(net, arch, spec, which, cfg)
    finally:
        teardown_context(ctx)


def supernet_path(ckpt: dict, cfg: ExportRun, ctx: RunContext) -> tuple[torch.nn.Module, Arch, NetSpec, str]:
    """One path of a search checkpoint as a child net, with BatchNorm re-estimated on training batches."""
    e = cfg.export
    if not e.arch:
        raise CreamError("--supernet needs --arch ARCH (e.g. the \"arch\" of the search's result.json)")
    supernet = load_supernet(ckpt, ema=not e.plain, resolution=e.resolution)
    spec = supernet.spec
    arch = resolve_arch(e.arch)[0]
    child = ctx.prepare_model(supernet.extract(arch))
    data = build_data(cfg.data, spec.resolution, spec.in_chans, "search", seed=cfg.run.seed)
    if data.num_classes != spec.num_classes:
        raise CreamError(f"the supernet has {spec.num_classes} classes but the data has {data.num_classes}; point "
                         "--data at the dataset it was trained on")
    recalibrate_bn(child, child, itertools.islice(data.train.batches(0), e.bn_batches), ctx)
    return child, arch, spec, supernet.weights


def output_stem(cfg: ExportRun, arch: Arch) -> Path:
    """``export.out``, or beside the input: ``best.pth`` -> ``best``, a supernet -> ``path-<arch>``."""
    e = cfg.export
    if e.out:
        return Path(e.out)
    if e.supernet:
        return Path(e.supernet).parent / f"path-{arch}"
    source = Path(e.checkpoint)
    name = source.name
    for suffix in (".pth.tar", ".safetensors", ".pth", ".pt", ".tar"):
        name = name.removesuffix(suffix)
    return source.with_name(name)


def write_formats(net: torch.nn.Module, arch: Arch, spec: NetSpec, which: str, cfg: ExportRun) -> dict:
    """Write every format of ``cfg.export.formats``, each checked on a fixed batch and on a single image.

    The check allows ``export.atol`` times the largest |logit| of the batch, with no absolute floor: float32
    outputs of the same graph computed in another order differ by about 1e-6 of their size, whatever that size,
    while a floor of 1 would pass a halved output on a net with small logits (a fresh one's are about 1e-4).
    """
    e = cfg.export
    net = net.cpu().to(memory_format=torch.contiguous_format).eval()
    x = torch.randn(e.check_batch, spec.in_chans, spec.resolution, spec.resolution,
                    generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        scale = float(net(x).abs().max())
    stem = output_stem(cfg, arch)
    stem.parent.mkdir(parents=True, exist_ok=True)
    inputs = {Path(p).resolve() for p in (e.checkpoint, e.supernet) if p}
    files = {}
    for fmt in e.formats:
        path = stem.with_name(stem.name + SUFFIXES[fmt])
        if path.resolve() in inputs:
            raise CreamError(f"exporting to {path} would overwrite the input; choose another name with --out")
        if fmt == "onnx":
            run = write_onnx(net, x, path)
        elif fmt == "torchscript":
            run = write_torchscript(net, x, path)
        else:
            run = write_safetensors_checked(net, path, arch, spec, which)
        diff = max_abs_diff(run, net, [x, x[:1]])
        if not diff <= e.atol * scale:  # written so that a NaN difference fails too
            raise CreamError(f"the {fmt} export {path} differs from PyTorch by {diff:.2e}, more than export.atol="
                             f"{e.atol:g} x {scale:.3g} (the largest |logit|); report it with the architecture {arch}")
        files[fmt] = {"path": str(path), "max_abs_diff": diff, "logit_scale": scale}
    return {"arch": str(arch), "net": spec.to_json(), "weights": which, "files": files}


def max_abs_diff(run, net: torch.nn.Module, batches: list[torch.Tensor]) -> float:
    """Largest difference between ``run(batch)`` (an exported model) and ``net(batch)`` over ``batches``."""
    with torch.no_grad():  # not a decorator: mutmut skips decorated functions, and this one is the export check
        return max(float(np.abs(np.asarray(run(batch)) - net(batch).numpy()).max()) for batch in batches)


def write_onnx(net: torch.nn.Module, x: torch.Tensor, path: Path):
    """ONNX with a dynamic batch axis (input ``images``, output ``logits``); runs in onnxruntime."""
    with contextlib.redirect_stdout(io.StringIO()):  # the exporter prints its progress
        torch.onnx.export(net, (x,), str(path), input_names=["images"], output_names=["logits"],
                          dynamic_shapes=({0: torch.export.Dim("batch")},), dynamo=True, external_data=False)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return lambda batch: session.run(None, {"images": batch.numpy()})[0]


def write_torchscript(net: torch.nn.Module, x: torch.Tensor, path: Path):
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*torch\.jit\..* is deprecated")  # still the TorchScript API
        torch.jit.trace(net, x).save(str(path))
        loaded = torch.jit.load(str(path))
    return lambda batch: loaded(batch).numpy()


def write_safetensors_checked(net: torch.nn.Module, path: Path, arch: Arch, spec: NetSpec, which: str):
    """Weights plus architecture and layout in the metadata, read back the way ``cream test`` reads them."""
    write_safetensors(path, net.state_dict(), arch, spec, which)
    weights = read_weights(path)
    back = build_child(*net_for(weights))
    load_into(back, weights.preferred()[1], str(path), "the file was just written; report it")
    back.eval()
    return lambda batch: back(batch).numpy()

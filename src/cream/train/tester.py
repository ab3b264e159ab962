"""``cream test``: accuracy of a checkpoint on the test data, its size and its measured latency, in test.json."""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from cream.config import EvalRun, to_dict
from cream.data import build_data
from cream.engine.context import setup_context, teardown_context
from cream.engine.evaluate import evaluate
from cream.engine.latency import measure_latency
from cream.engine.logs import versions, write_text_atomic
from cream.errors import CreamError
from cream.space.latency_table import load_latency_table, measured_ms
from cream.space.net import build_child
from cream.train.mistakes import Mistakes
from cream.train.trainer import net_size
from cream.train.weights import Weights, load_into, net_for


def run_test(cfg: EvalRun, weights: Weights) -> dict:
    """Test ``weights`` (read from ``cfg.test.checkpoint``) as ``cfg`` says; returns test.json's content."""
    t = cfg.test
    ctx = setup_context(cfg.run)
    try:
        arch, spec = net_for(weights, t.arch, t.resolution)
        table = None
        if t.latency_table:
            table = load_latency_table(t.latency_table, spec, ctx.device, ctx.channels_last, ctx.uses_bf16)
        data = build_data(cfg.data, spec.resolution, spec.in_chans, "test")
        if data.num_classes != spec.num_classes:
            raise CreamError(f"{weights.path} has {spec.num_classes} classes but the test data has "
                             f"{data.num_classes}; point --data at the dataset it was trained on")
        headline = weights.preferred()[0]
        names = list(weights.sets) if t.plain else [headline]
        results, mistakes = {}, Mistakes(spec.num_classes)
        for name in names:
            net = build_child(arch, spec)
            load_into(net, weights.sets[name], f"{weights.path} ({name} weights)",
                      "give the architecture the weights were trained with (--arch) and check the file")
            net = ctx.prepare_model(net).eval()
            if cfg.run.compile:
                net = torch.compile(net)
            results[name] = evaluate(net, data.val, ctx, observe=mistakes.observe if name == headline else None)
        macs, params = net_size(arch, spec)
        shape = (spec.in_chans, spec.resolution, spec.resolution)
        latency = [measure_latency(net, shape, batch, ctx, t.latency_repeats, t.latency_warmup)
                   for batch in (1, t.latency_batch)]
        predicted = None
        if table is not None:
            predicted = {"file": t.latency_table, "batch": table.batch, "threads": table.threads,
                         "predicted_ms": table.ms(arch), "measured_ms": measured_ms(table, net)}
        report = {
            "checkpoint": str(weights.path), "arch": str(arch), "net": spec.to_json(), "weights": headline,
            **{k: results[headline][k] for k in ("top1", "top5", "loss")}, "results": results,
            "data": {"dataset": cfg.data.dataset, "root": cfg.data.root, "split": data.split, "classes": data.classes,
                     "images": results[headline]["images"]},
            "params": params, "macs": macs, "latency": latency, "latency_table": predicted, "device": str(ctx.device),
            "threads": torch.get_num_threads(), "cpu_count": os.cpu_count(), "config": to_dict(cfg),
            "versions": versions(),
        }
        out = Path(t.out) if t.out else weights.path.parent / "test.json"
        # For the report page (headline weights): accuracy per class, the confusion matrix (rows: true class), and
        # the most confident mistakes' thumbnails in a file beside test.json.
        mistakes_file = out.with_name(f"{out.stem}_mistakes.npz")
        report.update(per_class=mistakes.per_class(data.classes), confusion=mistakes.confusion.tolist(),
                      mistakes=mistakes_file.name)
        if ctx.is_main:
            out.parent.mkdir(parents=True, exist_ok=True)
            mistakes.save(mistakes_file)
            write_text_atomic(out, json.dumps(report, indent=2))
        report["written_to"] = str(out)
        return report
    finally:
        teardown_context(ctx)

"""``cream rankcorr``: does the supernet rank paths the way stand-alone training does?

Reading order: ``cream.assemble.study_config`` (defaults, the supernet's data section, overrides) -> ``run_study``
(the paths; for each path of this shard its weight-sharing and stand-alone accuracy, one JSON line as soon as
it is known) -> ``finish`` (Kendall tau and Spearman rho; rankcorr.json, rankcorr.csv, rankcorr.png).

A study folder holds ``study.json`` (what is measured), ``paths.txt`` and one ``results-I-of-N.jsonl`` per
shard. A rerun skips the paths that have a line in any results file, so an interrupted study resumes, and
shards run anywhere can be copied into one folder and merged (``merge_study``).
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import hashlib
import io
import json
import os
import time
from dataclasses import replace
from pathlib import Path
from statistics import mean

from scipy.stats import rankdata

from cream.analysis.plots import plot_rank_correlation
from cream.analysis.stats import bootstrap_tau, fmt, rank_correlation, seed_noise
from cream.config import RankCorrRun, to_dict
from cream.data import build_data
from cream.engine.checkpoint import read_search_checkpoint
from cream.engine.context import setup_context
from cream.engine.logs import json_number, versions, write_text_atomic
from cream.engine.rundir import RESUMABLE_CHANGES, check_same_config
from cream.errors import CreamError
from cream.nas.sampler import PathSampler
from cream.nas.selection import evaluate_path
from cream.space.arch import Arch
from cream.space.budget import plan_space
from cream.space.supernet import Supernet
from cream.train.trainer import train_from_scratch
from cream.train.weights import load_supernet

STUDY, PATHS, REPORT = "study.json", "paths.txt", "rankcorr.json"
RESULTS_GLOB = "results-*-of-*.jsonl"
OUTPUTS = (STUDY, PATHS, RESULTS_GLOB, REPORT, "rankcorr.csv", "rankcorr.png")
# Where things are and how fast they run, not what is measured: shards and resumes may differ in these (a run's
# resumable changes, and the study's own places).
LOCATION_KEYS = RESUMABLE_CHANGES | {"run.out_dir", "study.supernet", "study.paths_file", "study.reuse"}
# What decides a path's stand-alone result besides the path itself (see ``study.reuse``).
STANDALONE_KEYS = ("data", "retrain", "run.seed", "run.bf16", "run.channels_last", "study.seeds")
CSV_FIELDS = ("index", "arch", "flops", "params", "ws_top1", "sa_top1", "ws_rank", "sa_rank", "ws_top5", "sa_top5",
              "ws_loss", "sa_loss", "sa_train_loss", "sa_seconds", "standalone_from")


# ---------------------------------------------------------------- configuration and inputs


def read_paths_file(path: str | Path) -> list[Arch]:
    """Architectures, one per line (text or JSON form); blank lines and '#' comments are skipped."""
    try:
        lines = Path(path).read_text().splitlines()
    except OSError as e:
        raise CreamError(f"cannot read the paths file {path} ({e.strerror}); pass a text file with one "
                         "architecture per line") from None
    archs = []
    for number, line in enumerate(lines, 1):
        text = line.split("#", 1)[0].strip()
        if text:
            try:
                archs.append(Arch.parse(text))
            except CreamError as e:
                raise CreamError(f"{path} line {number}: {e}") from None
    if len(archs) != len(set(archs)):
        raise CreamError(f"{path} lists a path more than once; list each path once")
    return archs


def study_paths(cfg: RankCorrRun, plan) -> list[Arch]:
    """The study's paths: from ``study.paths_file``, or ``study.paths`` distinct in-budget ones drawn with run.seed."""
    s = cfg.study
    if s.paths_file is not None:
        archs = read_paths_file(s.paths_file)
        if len(archs) < 3:
            raise CreamError(f"{s.paths_file} holds {len(archs)} paths; rank correlation needs at least 3")
        deep = [a for a in archs if any(d > m for d, m in zip(a.depths, plan.depths))]
        if deep:
            raise CreamError(f"path {deep[0]} of {s.paths_file} is deeper than the supernet's depths "
                             f"{list(plan.depths)}; list paths of this space")
        return archs
    if s.strata > 1:
        return stratified_paths(plan, s.paths, s.strata, cfg.run.seed)
    archs = PathSampler(plan, max_redraws=1000, seed=cfg.run.seed).distinct(s.paths, seed=0)
    if len(archs) < s.paths:
        raise CreamError(f"only {len(archs)} distinct paths lie in [{plan.flops_min:g}, {plan.flops_max:g}] M "
                         f"multiply-adds, fewer than the {s.paths} asked for; lower --paths or widen the range")
    return archs


def stratified_paths(plan, count: int, strata: int, seed: int) -> list[Arch]:
    """``count`` distinct paths, as evenly as possible from ``strata`` equal-width FLOPs bins spanning the paths
    that exist in the range (smallest to largest), smallest bin first."""
    low = max(plan.flops_min, plan.table.macs(plan.smallest))
    high = min(plan.flops_max, plan.table.macs(plan.largest))
    width = (high - low) / strata
    archs: list[Arch] = []
    for i in range(strata):
        want = count // strata + (i < count % strata)
        edges = (low + i * width, high if i == strata - 1 else low + (i + 1) * width)
        stratum = replace(plan, flops_min=edges[0], flops_max=edges[1])
        found = [a for a in PathSampler(stratum, max_redraws=2000, seed=seed).distinct(want, seed=100 + i)
                 if a not in archs]
        if len(found) < want:
            raise CreamError(f"only {len(found)} distinct paths found in the FLOPs stratum [{edges[0]:.3g}, "
                             f"{edges[1]:.3g}] M, fewer than the {want} asked for; use fewer study.strata or paths")
        archs += found
    return archs


def _file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _flat(config: dict) -> dict[str, object]:
    return {f"{section}.{name}": value for section, keys in config.items() for name, value in keys.items()}


def _measured(config: dict) -> dict:
    """The config without LOCATION_KEYS, as nested sections."""
    out: dict[str, dict] = {}
    for dotted, value in _flat(config).items():
        if dotted not in LOCATION_KEYS:
            section, _, name = dotted.partition(".")
            out.setdefault(section, {})[name] = value
    return out


def standalone_settings(header: dict) -> dict:
    """What, besides the path, decides a stand-alone result of the study described by ``header``."""
    flat = _flat(_measured(header["config"]))
    settings = {k: v for k, v in flat.items() if k in STANDALONE_KEYS or k.partition(".")[0] in STANDALONE_KEYS}
    return {**settings, "net": header["net"]}


# ---------------------------------------------------------------- the study folder


class StudyFolder:
    """study.json (what is measured), paths.txt, one results JSONL per shard, and the report."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def header(self) -> dict:
        file = self.path / STUDY
        if not file.is_file():
            raise CreamError(f"{self.path} holds no study ({STUDY} is missing); pass a folder written by "
                             "`cream rankcorr`")
        return json.loads(file.read_text())

    def begin(self, header: dict, force: bool, resume: str) -> None:
        """Start the study here, or check that the one already here measures the same thing."""
        self.path.mkdir(parents=True, exist_ok=True)
        if force:
            for name in OUTPUTS:
                for target in self.path.glob(name):
                    target.unlink()
        if (self.path / STUDY).exists():
            saved = self.header()
            if resume == "never":
                raise CreamError(f"{self.path} holds a study; resume it (run.resume=auto), pass --force to start "
                                 "afresh, or choose another --out")
            if saved["supernet_sha256"] != header["supernet_sha256"]:
                raise CreamError(f"{self.path} holds a study of another supernet ({saved['supernet']}); choose "
                                 "another --out, or pass --force to start afresh")
            if saved["paths"] != header["paths"]:
                raise CreamError(f"{self.path} holds a study of other paths; use the same --paths/--paths-file and "
                                 "--seed, choose another --out, or pass --force to start afresh")
            check_same_config(_measured(saved["config"]), _measured(header["config"]), self.path)
            return
        write_text_atomic(self.path / PATHS, "".join(f"{arch}\n" for arch in header["paths"]))
        write_text_atomic(self.path / STUDY, json.dumps(header, indent=2))

    def results(self, paths: list[str]) -> dict[str, dict]:
        """arch -> its result, from every results file here; a last line cut short by a kill is ignored."""
        known, found = set(paths), {}
        for file in sorted(self.path.glob(RESULTS_GLOB)):
            lines = file.read_text().split("\n")[:-1]  # the part after the last newline is unfinished
            for number, line in enumerate(lines, 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    raise CreamError(f"{file} line {number} is not valid JSON; delete that line to measure its "
                                     "path again") from None
                if record.get("arch") not in known:
                    raise CreamError(f"{file} line {number} holds path {record.get('arch')}, which is not in this "
                                     f"study's {PATHS}; it belongs to another study, so move that file away")
                found.setdefault(record["arch"], record)
        return found

    @contextlib.contextmanager
    def shard_writer(self, index: int, count: int, log=print):
        """Lock this shard's results file and yield ``append(record)``, which writes one line and fsyncs it."""
        file = self.path / f"results-{index}-of-{count}.jsonl"
        f = open(file, "a+b")
        try:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise CreamError(f"shard {index}/{count} of {self.path} is being run by another process; wait for "
                                 "it, or run another shard") from None
            f.seek(0)
            data = f.read()
            if data and not data.endswith(b"\n"):  # killed while writing: drop the unfinished line
                f.truncate(data.rfind(b"\n") + 1)
                log(f"dropped an unfinished last line of {file}")

            def append(record: dict) -> None:
                f.write((json.dumps(record) + "\n").encode())
                f.flush()
                os.fsync(f.fileno())

            yield append
        finally:
            f.close()  # also releases the lock


# ---------------------------------------------------------------- running a study


def run_study(cfg: RankCorrRun, shard: tuple[int, int] = (1, 1), force: bool = False, log=print) -> dict | None:
    """Measure this shard's paths that have no result yet; the report once every path of the study has one."""
    index, count = shard
    if not 1 <= index <= count:
        raise CreamError(f"shard {index}/{count} does not exist; use i/n with 1 <= i <= n, e.g. --shard 1/2")
    s = cfg.study
    ckpt = read_search_checkpoint(s.supernet, "pass --supernet RUN/last.pth of a `cream search` run")
    supernet = load_supernet(ckpt, ema=s.ema)
    spec, space = supernet.spec, ckpt["config"]["space"]
    plan = plan_space(spec, space["flops_min"] if s.flops_min is None else s.flops_min,
                      space["flops_max"] if s.flops_max is None else s.flops_max, supernet.depths,
                      elastic_depth=space.get("elastic_depth", False))
    archs = study_paths(cfg, plan)
    s.paths = len(archs)
    ctx = setup_context(cfg.run)
    if ctx.distributed:
        raise CreamError("a study runs one process per shard; split it with --shard i/n instead of torchrun")
    weights = supernet.weights
    supernet = ctx.prepare_model(supernet)
    data = build_data(cfg.data, spec.resolution, spec.in_chans, "retrain", seed=cfg.run.seed)
    if data.num_classes != spec.num_classes:
        raise CreamError(f"the data has {data.num_classes} classes but the supernet {spec.num_classes}; study it "
                         "on data with the classes it was searched on (see data.classes)")

    header = {"kind": "cream-rankcorr", "supernet": str(s.supernet), "supernet_sha256": _file_sha256(s.supernet),
              "algorithm": ckpt["config"]["search"]["algorithm"], "weights": weights,
              "net": spec.to_json(), "depths": list(plan.depths),
              "flops_range": [plan.flops_min, json_number(plan.flops_max)], "paths": [str(a) for a in archs],
              "config": to_dict(cfg), "versions": versions()}
    folder = StudyFolder(cfg.run.out_dir)
    folder.begin(header, force, cfg.run.resume)
    reused = _reusable(header, s.reuse) if s.reuse else {}
    quiet_log = None if cfg.run.quiet else log
    with folder.shard_writer(index, count, log) as append:
        done = folder.results(header["paths"])
        mine = [(k, a) for k, a in enumerate(archs) if k % count == index - 1 and str(a) not in done]
        if done:
            log(f"resuming {folder.path}: {len(done)} of {len(archs)} paths have results")
        for k, arch in mine:
            record = measure_path(k, arch, supernet, plan, data, cfg, ctx, reused.get(str(arch)), quiet_log)
            append(record)
            log(f"path {k + 1}/{len(archs)} {arch}  {record['flops']:.2f} M  weight-sharing top-1 "
                f"{record['ws_top1']:.2f}%  stand-alone top-1 {record['sa_top1']:.2f}%"
                + (f"  (from {s.reuse})" if record["standalone_from"] else f"  ({record['sa_seconds']:.0f} s)"))
    missing = len(archs) - len(folder.results(header["paths"]))
    if missing:
        log(f"shard {index}/{count} is done; {missing} of {len(archs)} paths await other shards. When those are "
            f"done (their results-*.jsonl copied into {folder.path}), run `cream rankcorr --merge {folder.path}`")
        return None
    return finish(folder)


def measure_path(k: int, arch: Arch, supernet: Supernet, plan, data, cfg: RankCorrRun, ctx, reused: dict | None,
                 log) -> dict:
    """One path: its accuracy inside the supernet (BatchNorm recalibrated) and when trained alone."""
    tick = time.perf_counter()
    ws = evaluate_path(supernet, arch, data, ctx, cfg.study.bn_batches, data.val.num_images, seed=cfg.run.seed)
    ws_seconds = time.perf_counter() - tick
    if reused is None:
        runs = [train_from_scratch(arch, plan.spec, data, cfg.retrain, ctx, seed=cfg.run.seed + i, log=log)
                for i in range(cfg.study.seeds)]
        standalone = {f"sa_{name}": mean(r[key] for r in runs) for name, key in (
            ("top1", "val_top1"), ("top5", "val_top5"), ("loss", "val_loss"), ("train_loss", "train_loss"))}
        standalone.update(sa_seconds=sum(r["seconds"] for r in runs), sa_top1_seeds=[r["val_top1"] for r in runs],
                          standalone_from=None)
    else:
        standalone = {key: reused[key] for key in ("sa_top1", "sa_top5", "sa_loss", "sa_train_loss", "sa_seconds")}
        standalone["sa_top1_seeds"] = reused.get("sa_top1_seeds", [reused["sa_top1"]])  # older studies: one seed
        standalone["standalone_from"] = cfg.study.reuse
    return {"index": k, "arch": str(arch), "flops": plan.table.macs(arch), "params": plan.table.params(arch),
            "ws_top1": ws["top1"], "ws_top5": ws["top5"], "ws_loss": ws["loss"], "ws_seconds": ws_seconds,
            **standalone}


def _reusable(header: dict, other_dir: str) -> dict[str, dict]:
    """Stand-alone results of another study with the same stand-alone settings, by arch."""
    other = StudyFolder(other_dir)
    theirs, ours = standalone_settings(other.header()), standalone_settings(header)
    for name in sorted(set(ours) | set(theirs)):
        if ours.get(name) != theirs.get(name):
            raise CreamError(f"study.reuse: {other_dir} trained its paths with {name}={theirs.get(name)!r}, not "
                             f"{ours.get(name)!r}; use the same data, recipe and seed, or drop study.reuse")
    return {arch: r for arch, r in other.results(other.header()["paths"]).items() if r["standalone_from"] is None}


# ---------------------------------------------------------------- the report


def merge_study(path: str | Path) -> dict:
    """The report of a study whose shards have all finished (their results files copied into ``path``)."""
    return finish(StudyFolder(path))


def finish(folder: StudyFolder) -> dict:
    """Kendall tau and Spearman rho over every path; writes rankcorr.json, rankcorr.csv and rankcorr.png."""
    header = folder.header()
    results = folder.results(header["paths"])
    missing = [arch for arch in header["paths"] if arch not in results]
    if missing:
        raise CreamError(f"{folder.path} has results for {len(results)} of {len(header['paths'])} paths (e.g. not "
                         f"{missing[0]}); run the missing shards (--shard i/n) or copy their results-*.jsonl here")
    rows = sorted(results.values(), key=lambda r: r["index"])
    ws, sa = [r["ws_top1"] for r in rows], [r["sa_top1"] for r in rows]
    for row, ws_rank, sa_rank in zip(rows, rankdata([-v for v in ws]), rankdata([-v for v in sa])):
        row["ws_rank"], row["sa_rank"] = float(ws_rank), float(sa_rank)
    report = {"kind": "cream-rankcorr-report", **rank_correlation(ws, sa), "kendall_tau_ci": bootstrap_tau(ws, sa),
              "noise": seed_noise([r.get("sa_top1_seeds", [r["sa_top1"]]) for r in rows]),
              **{k: header[k] for k in ("supernet", "supernet_sha256", "algorithm", "weights", "net", "depths",
                                        "flops_range", "config", "versions")},
              "standalone_seconds": sum(r["sa_seconds"] for r in rows if r["standalone_from"] is None),
              "paths": rows}
    write_text_atomic(folder.path / REPORT, json.dumps(report, indent=2))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_FIELDS, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    write_text_atomic(folder.path / "rankcorr.csv", out.getvalue())
    panel = {**report, "label": f"{header['algorithm']} supernet", "ws": ws, "sa": sa,
             "flops": [r["flops"] for r in rows]}
    epochs = header["config"]["retrain"]["epochs"]
    plot_rank_correlation(folder.path / "rankcorr.png", [panel], f"weight-sharing vs stand-alone accuracy\n"
                          f"(stand-alone: {epochs} epoch{'s' * (epochs != 1)} from scratch)")
    return report


def report_text(report: dict) -> str:
    ci, noise = report["kendall_tau_ci"], report["noise"]
    text = (f"Kendall tau {fmt(report['kendall_tau'])} (95% bootstrap interval {fmt(ci['low'])} to "
            f"{fmt(ci['high'])}; p {fmt(report['kendall_p'])}), Spearman rho {fmt(report['spearman_rho'])} "
            f"(p {fmt(report['spearman_p'])}) over {report['n']} paths of the {report['algorithm']} supernet")
    if noise["seed_sd"] is not None:
        ratio = noise["noise_to_spread"]
        text += (f"; stand-alone seed noise {noise['seed_sd']:.2f} points (sd over {noise['seeds']} seeds) against "
                 f"a spread of {fmt(noise['path_sd'])} between paths (ratio {fmt(ratio)}"
                 + (", above the 1/3 a ranking needs)" if ratio is None or ratio > 1 / 3 else ")"))
    else:
        text += "; one stand-alone seed per path, so its noise is unknown (study.seeds=2 or more measures it)"
    return text


def load_report(path: str | Path) -> dict:
    """rankcorr.json of a finished study folder."""
    file = Path(path) / REPORT
    if not file.is_file():
        raise CreamError(f"{path} holds no {REPORT}; finish the study there (or `cream rankcorr --merge {path}`)")
    return json.loads(file.read_text())

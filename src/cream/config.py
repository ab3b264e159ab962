"""Run configuration: every key, its default and its meaning are defined here, and only here.

Presets under ``configs/`` are plain YAML that override these defaults section by section; the command
line overrides any key as ``section.key=value`` (or ``key=value`` when the name is unambiguous).
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import importlib
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from cream.errors import CreamError

PRESET_DIR = Path(__file__).parent / "configs"
RUNS_DIR = "runs"  # every run folder lies under it, named by run_folder


def run_folder(command: str, data_name: str | None = None) -> str:
    """Where a run of ``command`` (search, retrain, rankcorr) writes: runs/<command>, or runs/<command>/<data name>
    when the data names it (the data folder's name, or fashion_mnist)."""
    return f"{RUNS_DIR}/{command}" + (f"/{data_name}" if data_name else "")

# What keys left null ("from the data") become; cream/settings_from_data.py applies these rules and logs the outcome.
AUTO_MAX_RESOLUTION = 224    # space.resolution: the median short side of the training images, at most this
AUTO_BATCH = (16, 128)       # data.batch_size: the largest power of two in this range ...
AUTO_EPOCH_STEPS = 25        # ... that still leaves an epoch of at least this many steps
AUTO_INSPECT = 1000          # images (a seeded draw) whose headers decide channels and resolution


def key(default, doc: str, *, low=None, high=None, positive=False, check=None):
    """A config key with its documentation and bounds (checked on load); ``check``: a function of the value that
    raises CreamError when it is wrong."""
    meta = {"doc": doc, "low": low, "high": high, "positive": positive, "check": check}
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class RunConfig:
    out_dir: str | None = key(run_folder("search"), "directory for checkpoints, logs and results; null = "
                                             "runs/<command>/<data name> (the data folder's name, or fashion_mnist)")
    seed: int = key(0, "random seed for sampling, data order and initialisation")
    device: str = key("auto", "auto (cuda when available, else cpu), cpu, cuda or cuda:N")
    bf16: bool = key(False, "bf16 autocast on GPU")
    channels_last: bool = key(True, "channels_last memory format (faster on CPU and GPU)")
    compile: bool = key(False, "torch.compile the child net (retrain, test)")
    cudnn_benchmark: bool = key(True, "let cuDNN time its algorithms for every new input shape and op (GPU); off by "
                                      "default in search, where random paths keep meeting new ones")
    threads: int = key(0, "CPU threads per process; 0 = all cores divided among local processes", low=0)
    resume: Literal["auto", "never"] = key(
        "auto", "auto: continue from the newest good checkpoint in out_dir; never: start afresh")
    ckpt_every_steps: int = key(200, "also checkpoint every N optimizer steps (0 = only per epoch)", low=0)
    nonfinite: Literal["stop", "skip"] = key(
        "stop", "on a non-finite loss: stop (keeping the last good checkpoint) or skip the step and count it")
    quiet: bool = key(False, "no progress bar (there is one only when stderr is a terminal anyway)")


@dataclass
class DataConfig:
    dataset: Literal["fashion_mnist", "imagefolder", "memory"] = key(
        "fashion_mnist", "which data source to read (memory: data passed from Python, cream.search(data=..., "
                         "name=...))")
    root: str = key("/usr/share/datasets/fashion-mnist",
                    "Fashion-MNIST: dir with the four IDX .gz files; imagefolder: dir with train/CLASS/ images "
                    "and optionally val/CLASS/ (else val_fraction of train/ validates) and test/CLASS/ (cream test; "
                    "else val/); memory: the name given with the data (read as an image folder's splits)")
    class_names: list[str] | None = key(None, "memory: the class names in label order, kept in the run config so "
                                              "that a checkpoint names its classes without its data; null = from "
                                              "the data (dataset.classes, else 0 .. C-1)")
    val_fraction: float = key(0.1, "part of the training set held out for validation (never the test set)",
                              low=0.0, high=0.5)
    split_seed: int = key(0, "seed of the train/val split (keep it fixed across runs you compare)")
    classes: list[int] | None = key(None, "keep only these class indices (a subset study); null = all")
    train_per_class: int | None = key(None, "keep at most this many training images per class (a cap: smaller "
                                            "classes keep all theirs)", low=1)
    val_per_class: int | None = key(None, "keep at most this many validation (or test) images per class", low=1)
    batch_size: int | None = key(128, "training images per process per step; null = from the data: the largest "
                                      "power of two in AUTO_BATCH (16..128) that leaves an epoch of at least "
                                      "AUTO_EPOCH_STEPS (25) steps, and at most the number of images", positive=True)
    eval_batch_size: int = key(512, "images per evaluation step", positive=True)
    workers: int | None = key(None, "DataLoader processes for image folders (they persist across epochs); null = "
                                    "the cores this process gets, at most 8", low=0)
    cache_mb: float = key(1024.0, "image folders: decode once and keep in memory (as Fashion-MNIST is) when the "
                                  "images at the training resolution take at most this many MiB (0 = read from "
                                  "disk every epoch)", low=0.0)
    crop_padding: int | None = key(2, "in-memory data (Fashion-MNIST, image folders kept in memory): random crops "
                                      "of the image zero-padded by this many pixels (0 = no crop; null = an eighth "
                                      "of the resolution)", low=0)
    hflip: bool = key(True, "random horizontal flip")
    crop_pct: float = key(0.875, "image folders: centre-crop fraction of evaluation images and of images kept in "
                                 "memory", low=0.1, high=1.0)
    interpolation: str = key("bicubic", "image folders: resize interpolation (timm names; 'random' for training)")
    auto_augment: str | None = key(None, "image folders read from disk, training: timm auto-augment policy, e.g. "
                                         "rand-m9-mstd0.5")
    color_jitter: float = key(0.0, "image folders read from disk, training: colour jitter strength", low=0.0)
    reprob: float = key(0.0, "image folders read from disk: random-erasing probability (pixel mode)",
                        low=0.0, high=1.0)


@dataclass
class SpaceConfig:
    resolution: int | None = key(28, "input side in pixels (may be lowered to fit flops_max); null = from the data: "
                                     "the median short side of the training images, at most AUTO_MAX_RESOLUTION "
                                     "(224)", positive=True)
    in_chans: int | None = key(1, "input channels (1 grayscale, 3 colour; images are converted to match); null = "
                                  "from the data: 1 when every image inspected is grayscale, else 3", positive=True)
    num_classes: int | None = key(10, "classifier outputs; null = the data's number of classes", positive=True)
    width: float = key(0.5, "channel width multiplier (1.0 = paper)", positive=True, high=4.0)
    stem_stride: int | None = key(None, "stem stride; null = 2 (paper)")
    stage_strides: list[int] | None = key(
        None, "stride of each searchable stage; null = paper's (24:2 40:2 80:2 96:1 192:2), first one 1 below 64 px")
    flops_min: float = key(0.0, "smallest path to search, million multiply-adds", low=0.0)
    flops_max: float | None = key(8.0, "largest path to search, million multiply-adds; null = no multiply-add limit "
                                       "(a latency budget alone)", low=0.0)
    latency_table: str | None = key(None, "a table from `cream latency-table` (JSON) made on this run's device for "
                                          "this net: predicted latency then bounds the search (latency_min/max), "
                                          "breaks accuracy ties and is reported; copied into the run folder")
    latency_min: float = key(0.0, "fastest path to search, milliseconds predicted by latency_table", low=0.0)
    latency_max: float | None = key(None, "slowest path to search, milliseconds predicted by latency_table; "
                                          "null = no latency limit", low=0.0)
    latency_any_device: bool = key(False, "accept a latency_table made on another device (searching here for a "
                                          "deploy target elsewhere)")
    depths: list[int] | None = key(None, "blocks per searchable stage; null = grown from flops_max by depth_rule")
    depth_rule: Literal["greedy", "paper"] = key(
        "greedy", "how depths grow from flops_max: greedy: every stage in turn while the whole largest net fits, up "
                  "to 5/5/5/6/6 blocks, a stage that does not fit skipped; paper: the paper's code (stages filled "
                  "one at a time in the order 2,3,4,1,0 to 3,3,3,2,2 then 4 each, counting the searchable blocks "
                  "only, stopping at the first block that does not fit)")
    elastic_depth: bool = key(False, "paths may be shallower than depths: each stage uses its first 1..depth blocks, "
                                     "drawn uniformly per stage (Once-for-All's elastic depth), so one search "
                                     "covers shallower nets too; multiply-adds and latency are counted per path")
    drop_rate: float = key(0.0, "dropout before the classifier", low=0.0, high=0.99)
    sharing: Literal["independent", "entangled", "entangled_bn_per_op"] = key(
        "independent", "the supernet's weights: independent: six ops per block, each its own (the paper's); "
                       "entangled: one set per block at the largest op (kernel 7, expansion 6), each op using its "
                       "first channels and the centre of its kernel (Once-for-All), BatchNorm sliced alike; "
                       "entangled_bn_per_op: the same, but each op keeps its own BatchNorm layers")
    kernel_transform: bool = key(False, "entangled supernets only: a kernel 5 is a learned linear map of the 7 x 7 "
                                        "kernel's centre, a kernel 3 of the 5 x 5's (Once-for-All's kernel "
                                        "transformation matrices, identity at the start) instead of the centre itself")


# The search's training rules, by name: the dataclass of each one's own keys (None: it has none). Filled by
# ``cream.nas.strategy.register_rule`` as rule modules are imported (``cream`` imports the built-in ones).
RULE_KEYS: dict[str, type | None] = {}


def add_rule_keys(rule: str, keys: type | None) -> None:
    """Make ``rule`` a choice of search.algorithm and its ``keys`` (a dataclass of ``key`` fields) keys of the search
    section, written ``search.KEY`` as the shared ones. Two rules may share a key only with one type and default."""
    section = _search_keys(tuple((name, k) for name, k in RULE_KEYS.items() if name != rule))  # others' and shared
    taken, taken_hints = {f.name: f for f in dataclasses.fields(section)}, typing.get_type_hints(section)
    hints = typing.get_type_hints(keys) if keys is not None else {}
    for f in dataclasses.fields(keys) if keys is not None else ():
        other = taken.get(f.name)
        if other is not None and (taken_hints[f.name], other.default, other.default_factory) != \
                (hints[f.name], f.default, f.default_factory):
            raise CreamError(f"rule {rule!r} declares the key search.{f.name}, which the search section already has; "
                             "give the rule's key another name")
    RULE_KEYS[rule] = keys


def search_keys() -> type:
    """The search section's type: ``SearchConfig`` with every registered rule's keys (their docs name the rule)."""
    return _search_keys(tuple(RULE_KEYS.items()))


@functools.cache
def _search_keys(rules: tuple) -> type:
    fields, names = [], {f.name for f in dataclasses.fields(SearchConfig)}
    for rule, keys in rules:
        hints = typing.get_type_hints(keys) if keys is not None else {}
        for f in dataclasses.fields(keys) if keys is not None else ():
            if f.name not in names:
                names.add(f.name)
                fields.append((f.name, hints[f.name], field(default=f.default, default_factory=f.default_factory,
                                                            metadata={**f.metadata, "rule": rule})))
    section = dataclasses.make_dataclass("SearchConfig", fields, bases=(SearchConfig,))
    section.__module__ = __name__
    return section


def _check_rule(name: str) -> None:
    if name not in RULE_KEYS:
        raise CreamError(f"search.algorithm must be one of {', '.join(sorted(RULE_KEYS))}, got {name!r} (a rule of "
                         "your own is registered when its module is imported: set search.rule_module=MODULE)")


@dataclass
class SearchConfig:
    """The search's keys every rule shares; each rule's own keys are added by ``search_keys`` (the section's type)."""

    algorithm: str = key(
        "cream", "the supernet's training rule, by the name it registered (cream.nas.strategy.RULES): cream: "
                 "prioritized paths + distillation; spos: uniform single-path baseline; fairnas: every op of every "
                 "block once per update (strict fairness); sandwich: largest, smallest and two random paths per "
                 "update, the largest teaching the others (in-place distillation); a rule's own keys join this "
                 "section, marked with its name", check=_check_rule)
    epochs: int = key(120, "supernet training epochs", positive=True)
    warmup_epochs: int = key(20, "epochs of plain training before the board and distillation start", low=0)
    min_steps: int = key(0, "train at least this many optimizer steps: epochs (and warmup_epochs in proportion) "
                            "grow until they hold them, so a small dataset still trains enough (0 = no floor)", low=0)
    max_redraws: int = key(1000, "re-draws allowed to find a path inside the FLOPs range", positive=True)
    out_of_budget: Literal["redraw", "keep"] = key(
        "redraw", "a training path drawn outside [flops_min, flops_max] (and the latency range): redraw it, or keep "
                  "it as the paper's code does (its budget only sets the depths); candidates and the pick stay in "
                  "budget either way")
    lr: float = key(1.0, "SGD learning rate at a total batch of lr_batch (scaled linearly; decays to 0)",
                    positive=True)
    lr_batch: int = key(1024, "total batch size at which lr applies", positive=True)
    momentum: float = key(0.9, "SGD Nesterov momentum", low=0.0, high=0.999)
    weight_decay: float = key(1e-4, "weight decay, not applied to BatchNorm and biases", low=0.0)
    label_smoothing: float = key(0.1, "label smoothing of the cross-entropy loss", low=0.0, high=0.99)
    clip_grad: float = key(1.0, "clip the supernet's gradients to this norm on every step (0 = off; the paper's code "
                                "has none)", low=0.0)
    off_path_updates: Literal["sparse", "dense"] = key(
        "sparse", "ops off the step's path: sparse: they keep still (gradients set to None); dense: as the paper's "
                  "code under torch 1.2 (gradients zero-filled), every op used once is moved by momentum and weight "
                  "decay on every later step")
    fidelity: Literal["ours", "paper_code"] = key(
        "ours", "paper_code: every key of PAPER_CODE (config.py) that no file or override sets takes the paper "
                "code's value: its depth rule, no clipping of the main step, dense off-path updates, teacher board "
                "labels, its board rule, out-of-budget paths kept, its meta network, m and meta update")
    ema_decay: float = key(0.0, "EMA of supernet weights (0 = off, e.g. 0.9998)", low=0.0, high=0.99999999)
    val_images: int = key(2000, "search-val images per path evaluation (reference path, final selection)",
                          positive=True)
    bn_batches: int = key(4, "training batches to recalibrate BatchNorm per path at final selection", low=0)
    candidates: int = key(20, "random in-budget paths evaluated at the end (spos, or when the board is empty)",
                          positive=True)
    final: Literal["board", "evolution", "random"] | None = key(
        None, "how the search picks at its end: board: rank the prioritized board's paths (Cream's rule); random: "
              "rank `candidates` random in-budget paths; evolution: SPOS's evolutionary search over the trained "
              "supernet, sized by the evolution section; null = the rule's own (board for cream, else random)")
    probe_steps: int = key(100, "at the end, train the chosen path alone for this many steps and warn when the "
                                "supernet's accuracy is far below it (0 = no probe)", low=0)
    rule_module: str | None = key(None, "a Python module to import before the config is checked (on the Python path, "
                                        "e.g. PYTHONPATH=.): it registers a training rule of your own and its keys "
                                        "(cream.nas.strategy.register_rule), named then by search.algorithm")


@dataclass
class EvolutionConfig:
    """SPOS's evolutionary search over a trained supernet (cream.nas.evolution): `cream select`, and
    search.final=evolution. The defaults are sized for a CPU (32 paths scored per budget); SPOS's own are given
    in each key's text (50 x 20 = 1,000 paths)."""

    population: int = key(8, "paths scored per generation (SPOS: 50)", positive=True)
    top_k: int = key(3, "best paths so far that breed the next generation (SPOS: 10)", positive=True)
    mutations: int = key(4, "mutants per generation (SPOS: 25); the rest of the population beyond mutations and "
                            "crossovers is drawn at random", low=0)
    crossovers: int = key(4, "crossovers per generation (SPOS: 25)", low=0)
    generations: int = key(4, "generations, the first one random (SPOS: 20)", positive=True)
    mutation_prob: float = key(0.1, "probability that a mutant redraws each op (and, with elastic depth, each "
                                    "stage's depth) (SPOS: 0.1)", low=0.0, high=1.0)


@dataclass
class RetrainConfig:
    arch: str | None = key(None, "architecture: a search's result.json, a paper name (cream_287) or a string "
                                 "3-33-...; null = the search of the same data, runs/search/<data name>/result.json")
    epochs: int = key(10, "training epochs", positive=True)
    min_steps: int = key(0, "train at least this many optimizer steps: epochs (and warmup_epochs in proportion) "
                            "grow until they hold them, so a small dataset still trains enough (0 = no floor)", low=0)
    opt: str = key("rmsproptf", "timm optimizer name (create_optimizer_v2)")
    opt_eps: float = key(1e-3, "optimizer epsilon", positive=True)
    momentum: float = key(0.9, "optimizer momentum", low=0.0, high=0.999)
    lr: float = key(0.064, "learning rate at a total batch of lr_batch (scaled linearly)", positive=True)
    lr_batch: int = key(1024, "total batch size at which lr applies", positive=True)
    weight_decay: float = key(1e-5, "weight decay", low=0.0)
    sched: Literal["cosine", "step"] = key(
        "cosine", "timm scheduler (create_scheduler_v2): cosine to min_lr, or step decay by decay_rate")
    sched_per: Literal["epoch", "step"] = key(
        "epoch", "update the lr once per epoch (timm's train.py, the paper) or after every optimizer step")
    warmup_epochs: float = key(3.0, "linear warm-up epochs", low=0.0)
    warmup_lr: float = key(1e-6, "learning rate at the start of warm-up", low=0.0)
    min_lr: float = key(1e-5, "floor of the cosine schedule", low=0.0)
    decay_epochs: float = key(2.4, "step schedule: epochs between decays", positive=True)
    decay_rate: float = key(0.973, "step schedule: factor per decay", positive=True)
    drop_path: float = key(0.0, "stochastic depth rate", low=0.0, high=0.99)
    label_smoothing: float = key(0.1, "label smoothing", low=0.0, high=0.99)
    mixup: float = key(0.0, "mixup alpha (0 = off; timm Mixup with soft-target loss)", low=0.0)
    cutmix: float = key(0.0, "cutmix alpha (0 = off)", low=0.0)
    ema_decay: float = key(0.9999, "model EMA decay (0 = off); the EMA is what best.pth is chosen by and tested",
                           low=0.0, high=0.99999999)
    clip_grad: float = key(0.0, "clip gradients to this norm (0 = off)", low=0.0)
    init: str | None = key(None, "start from these weights (our checkpoint or a released one; a different class "
                                 "count gets a fresh classifier)")


@dataclass
class SearchRun:
    """``cream search``: run + data + space + search."""

    run: RunConfig = field(default_factory=lambda: RunConfig(cudnn_benchmark=False))
    data: DataConfig = field(default_factory=DataConfig)
    space: SpaceConfig = field(default_factory=SpaceConfig)
    search: SearchConfig = field(default_factory=lambda: search_keys()())  # with the rules' own keys
    evolution: EvolutionConfig = field(default_factory=EvolutionConfig)  # for search.final=evolution


@dataclass
class RetrainRun:
    """``cream retrain``: run + data + space + retrain."""

    run: RunConfig = field(default_factory=lambda: RunConfig(out_dir=run_folder("retrain")))
    data: DataConfig = field(default_factory=DataConfig)
    space: SpaceConfig = field(default_factory=SpaceConfig)
    retrain: RetrainConfig = field(default_factory=RetrainConfig)


@dataclass
class EvalConfig:
    checkpoint: str = key("", "weights to test: our .pth, a released .pth.tar or an exported .safetensors")
    arch: str | None = key(None, "architecture when the file holds none: a paper name (cream_287) or a string")
    resolution: int | None = key(None, "test resolution; null = the checkpoint's, the paper model's, or 224",
                                 positive=True)
    plain: bool = key(False, "also test the plain weights when the checkpoint has EMA weights")
    latency_batch: int = key(256, "the large batch of the latency measurement (the other is 1)", positive=True)
    latency_repeats: int = key(20, "timed forward passes per batch size (the median is reported)", positive=True)
    latency_warmup: int = key(5, "untimed forward passes before timing", low=0)
    latency_table: str | None = key(None, "a table from `cream latency-table` made on this device for this net: "
                                          "report the latency it predicts beside one measured as the table was "
                                          "(its batch, threads, repeats)")
    out: str | None = key(None, "where to write test.json; null = beside the checkpoint")


@dataclass
class EvalRun:
    """``cream test``: run + data + test."""

    run: RunConfig = field(default_factory=RunConfig)
    data: DataConfig = field(default_factory=DataConfig)
    test: EvalConfig = field(default_factory=EvalConfig)


@dataclass
class ExportConfig:
    checkpoint: str | None = key(None, "weights to export: our .pth, a released .pth.tar or a .safetensors")
    supernet: str | None = key(None, "or a search checkpoint (last.pth) to extract the path `arch` from")
    arch: str | None = key(None, "architecture: needed with supernet, or for checkpoints that hold none")
    resolution: int | None = key(None, "input side of the exported model; null = the checkpoint's", positive=True)
    formats: list[Literal["onnx", "torchscript", "safetensors"]] = key(
        ["onnx", "torchscript", "safetensors"], "formats to write")
    out: str | None = key(None, "output path without suffix; null = beside the input, named after it (or the arch)")
    plain: bool = key(False, "export the plain weights even when the checkpoint has EMA weights")
    bn_batches: int = key(20, "supernet: training batches to recalibrate BatchNorm on", positive=True)
    check_batch: int = key(4, "images in the fixed batch the exported model is checked on", positive=True)
    atol: float = key(1e-4, "largest allowed difference between exported and PyTorch outputs, per unit of the "
                            "largest |logit| of the check batch", positive=True)


@dataclass
class ExportRun:
    """``cream export``: run + data (for BatchNorm recalibration of a supernet path) + export."""

    run: RunConfig = field(default_factory=RunConfig)
    data: DataConfig = field(default_factory=DataConfig)
    export: ExportConfig = field(default_factory=ExportConfig)


@dataclass
class StudyConfig:
    supernet: str = key("", "the search checkpoint (a search run's last.pth) whose ranking of paths is studied")
    paths: int = key(30, "distinct in-budget paths to sample with run.seed (with paths_file: how many it holds)",
                     low=3)
    paths_file: str | None = key(None, "read the paths from this file, one architecture per line (e.g. another "
                                       "study's paths.txt), instead of sampling them")
    flops_min: float | None = key(None, "smallest path to sample, million multiply-adds; null = the supernet's",
                                  low=0.0)
    flops_max: float | None = key(None, "largest path to sample, million multiply-adds; null = the supernet's",
                                  low=0.0)
    strata: int = key(1, "sample the paths in this many equal-width FLOPs bins of [flops_min, flops_max], the same "
                         "number from each (paths of more different sizes, hence more different accuracies)", low=1)
    seeds: int = key(1, "stand-alone trainings per path (seeds run.seed, run.seed+1, ...): their mean is the path's "
                        "stand-alone accuracy, their spread the noise the report compares with the paths' spread",
                     low=1)
    bn_batches: int = key(8, "training batches that recalibrate each path's BatchNorm before its weight-sharing "
                             "evaluation", low=0)
    ema: bool = key(True, "evaluate paths with the supernet's EMA weights when it has them (as the search does)")
    reuse: str | None = key(None, "another study's folder: take its stand-alone results for the paths both have "
                                  "(same data, recipe, seed and net), so two supernets face one set of trainings")


@dataclass
class RankCorrRun:
    """``cream rankcorr``: run + data (default: the supernet's own) + study + retrain (the short fixed recipe)."""

    run: RunConfig = field(default_factory=lambda: RunConfig(out_dir=run_folder("rankcorr")))
    data: DataConfig = field(default_factory=DataConfig)
    study: StudyConfig = field(default_factory=StudyConfig)
    # A few epochs from scratch: no EMA (it would still be near the initial weights) and a short warm-up.
    retrain: RetrainConfig = field(default_factory=lambda: RetrainConfig(epochs=5, warmup_epochs=1.0, ema_decay=0.0))


@dataclass
class SelectConfig:
    supernet: str = key("", "the search checkpoint (a search run's last.pth) to pick paths from")
    flops_min: float = key(0.0, "smallest path of every budget, million multiply-adds", low=0.0)
    flops_max: list[float] | None = key(None, "one budget per value: largest path, million multiply-adds; null = "
                                              "the search's own flops_max (no limit when it had none)")
    latency_table: str | None = key(None, "a table from `cream latency-table` for the supernet's net, made on the "
                                          "device to deploy on (any device): for latency budgets and the front")
    latency_min: float = key(0.0, "fastest path of every budget, milliseconds predicted by latency_table", low=0.0)
    latency_max: list[float] | None = key(None, "one budget per value: slowest path, milliseconds predicted by "
                                                "latency_table; null = no latency limit")
    method: Literal["evolution", "random"] = key(
        "evolution", "evolution: SPOS's evolutionary search (the evolution section); random: as many distinct "
                     "random in-budget paths as evolution scores at most (population x generations)")
    val_images: int = key(2000, "search-val images per path evaluation (the search's default is the same)",
                          positive=True)
    bn_batches: int | None = key(None, "training batches that recalibrate each path's BatchNorm; null = the "
                                       "search's search.bn_batches", low=0)
    ema: bool = key(True, "score paths with the supernet's EMA weights when it has them (as the search does)")


@dataclass
class SelectRun:
    """``cream select``: run + data (the supernet's own) + select + evolution."""

    run: RunConfig = field(default_factory=lambda: RunConfig(out_dir=None))
    data: DataConfig = field(default_factory=DataConfig)
    select: SelectConfig = field(default_factory=SelectConfig)
    evolution: EvolutionConfig = field(default_factory=EvolutionConfig)


# What search.fidelity=paper_code sets, each key as the paper's code behaves (README: "Differences from the
# paper's search code"); a key a file or an override gives keeps that value.
PAPER_CODE = {
    "space": {"depth_rule": "paper"},
    "search": {"clip_grad": 0.0, "meta_clip_grad": 1.0, "off_path_updates": "dense", "board_labels": "teacher",
               "board_rule": "paper", "out_of_budget": "keep", "meta_net": "paper", "meta_weight": "paper",
               "meta_update": "paper"},
}


# ---------------------------------------------------------------- loading and checking


def preset_path(kind: str, name_or_path: str) -> Path:
    """A YAML path, or a preset name such as ``fashion_mnist`` under ``configs/<kind>/``."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml"):
        if not path.is_file():
            raise CreamError(f"config file {path} does not exist")
        return path
    preset = PRESET_DIR / kind / f"{name_or_path}.yaml"
    if not preset.is_file():
        names = sorted(p.stem for p in (PRESET_DIR / kind).glob("*.yaml"))
        raise CreamError(f"no {kind} preset named {name_or_path!r}; choose one of {', '.join(names)} or a .yaml path")
    return preset


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key given twice in one mapping (PyYAML would silently keep the last)."""

    def construct_mapping(self, node, deep=False):
        first_line = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            line = key_node.start_mark.line + 1
            if key in first_line:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} is given twice (lines {first_line[key]} and {line}); keep one")
            first_line[key] = line
        return super().construct_mapping(node, deep)


def fidelity_values(values: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """With ``search.fidelity=paper_code`` in ``values``: PAPER_CODE's keys that ``values`` does not set."""
    if values.get("search", {}).get("fidelity") != "paper_code":
        return {}
    return {section: {name: v for name, v in body.items() if name not in values.get(section, {})}
            for section, body in PAPER_CODE.items()}


def read_sections(cls, source: str | Path | dict | None) -> dict[str, dict[str, Any]]:
    """The sections of ``source``, a YAML file (a preset) or a mapping of sections, as nested values."""
    if isinstance(source, dict):
        return {section: dict(body) for section, body in source.items()}
    values: dict[str, dict[str, Any]] = {}
    if source is None:
        return values
    try:
        loaded = yaml.load(Path(source).read_text(), Loader=_UniqueKeyLoader)
    except yaml.YAMLError as e:
        raise CreamError(f"config {source} is not valid YAML: {str(e).splitlines()[0]}") from None
    if loaded is not None and not isinstance(loaded, dict):
        raise CreamError(f"config {source} must be a mapping of sections, got {type(loaded).__name__}")
    for section, body in (loaded or {}).items():
        _section_type(cls, section)
        if not isinstance(body, dict):
            raise CreamError(f"config section {section!r} must be a mapping of keys")
        for name, value in body.items():
            values.setdefault(section, {})[name] = value
    return values


def build(cls, values: dict[str, dict[str, Any]]):
    """Instantiate ``cls`` from nested values, checking every key's name, type and bounds (after importing
    ``search.rule_module``, whose rule and keys the values may name)."""
    import_rule_module(values.get("search", {}).get("rule_module"))
    defaults = cls()
    sections = {}
    for section, body in values.items():
        section_cls = _section_type(cls, section)
        hints = typing.get_type_hints(section_cls)
        fields = {f.name: f for f in dataclasses.fields(section_cls)}
        checked = {}
        for name, value in body.items():
            if name not in fields:
                raise CreamError(f"unknown config key {section}.{name}{_suggest(name, fields)}")
            checked[name] = _check(f"{section}.{name}", value, hints[name], fields[name].metadata)
        # Keys not given keep the defaults ``cls`` sets for this section (e.g. RetrainRun's run.out_dir).
        sections[section] = dataclasses.replace(getattr(defaults, section), **checked)
    return cls(**sections)


def import_rule_module(name) -> None:
    """Import ``search.rule_module``: the module registers its rule (``cream.nas.strategy.register_rule``)."""
    if name is None:
        return
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*", name):
        raise CreamError(f"search.rule_module must be a module name like my_rules.toy, got {name!r}")
    try:
        importlib.import_module(name)
    except ImportError as e:
        raise CreamError(f"search.rule_module={name} cannot be imported ({e}); give a module on the Python path "
                         "(e.g. PYTHONPATH=.) that registers a rule") from None
    except Exception as e:  # the module itself is broken: its own error, in one line
        raise CreamError(f"search.rule_module={name} failed while being imported: {type(e).__name__}: {e}") from None


def to_dict(config) -> dict:
    return dataclasses.asdict(config)


def parse_override(cls, item: str) -> tuple[str, str, Any]:
    if "=" not in item:
        raise CreamError(f"override {item!r} must look like key=value (e.g. search.epochs=3)")
    dotted, _, text = item.partition("=")
    try:
        value = yaml.safe_load(text) if text.strip() else None
    except yaml.YAMLError:
        value = text
    return (*resolve_key(cls, dotted.strip()), value)


def resolve_key(cls, dotted: str) -> tuple[str, str]:
    """(section, key) of ``section.key``, or of a bare ``key`` that only one section of ``cls`` has."""
    if "." in dotted:
        section, _, name = dotted.partition(".")
        _section_type(cls, section)
        return section, name
    owners = [f.name for f in dataclasses.fields(cls)
              if dotted in {g.name for g in dataclasses.fields(_section_type(cls, f.name))}]
    if len(owners) == 1:
        return owners[0], dotted
    if len(owners) > 1:
        raise CreamError(f"key {dotted!r} is in several sections; write one of "
                         + ", ".join(f"{o}.{dotted}" for o in owners))
    every = [f"{f.name}.{g.name}" for f in dataclasses.fields(cls)
             for g in dataclasses.fields(_section_type(cls, f.name))]
    every += [name.partition(".")[2] for name in every]
    raise CreamError(f"unknown config key {dotted!r}{_suggest(dotted, every)}")


def describe(cls, cfg=None, marks: dict[tuple[str, str], str] | None = None) -> str:
    """Every key with its value and meaning (``cream search --keys``): the values of ``cfg`` (default: the
    defaults), each key followed by its mark in ``marks`` ({(section, key): "preset fashion_mnist"}) if any."""
    cfg = cfg if cfg is not None else cls()
    marks = marks or {}
    lines = []
    for section in dataclasses.fields(cls):
        values = getattr(cfg, section.name)
        lines.append(f"{section.name}:")
        for f in dataclasses.fields(values):
            rule = f"[{f.metadata['rule']}] " if "rule" in f.metadata else ""  # a training rule's own key
            mark = f"({marks[section.name, f.name]}) " if (section.name, f.name) in marks else ""
            lines.append(f"  {f.name}: {getattr(values, f.name)!r:<12}  # {mark}{rule}{f.metadata.get('doc', '')}")
    return "\n".join(lines)


def _section_type(cls, section: str):
    """The type of ``section`` in ``cls``: that of its default (the search section's holds the rules' keys)."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    if section not in fields:
        raise CreamError(f"unknown config section {section!r}{_suggest(section, fields)}")
    return type(getattr(cls(), section))


def _suggest(name: str, choices) -> str:
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.5)
    return f"; did you mean {close[0]!r}?" if close else f"; valid keys: {', '.join(sorted(choices))}"


def _check(name: str, value, hint, meta):
    value = _check_type(name, value, hint)
    if meta.get("check") is not None:
        meta["check"](value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        low, high = meta.get("low"), meta.get("high")
        if value != value:
            raise CreamError(f"{name} must be a number, got NaN")
        if meta.get("positive") and value <= 0:
            raise CreamError(f"{name} must be greater than 0, got {value}")
        if low is not None and value < low:
            raise CreamError(f"{name} must be at least {low}, got {value}")
        if high is not None and value > high:
            raise CreamError(f"{name} must be at most {high}, got {value}")
    return value


def _check_type(name: str, value, hint):
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _check_type(name, value, inner[0])
    if origin is Literal:
        if value not in args:
            raise CreamError(f"{name} must be one of {', '.join(map(str, args))}, got {value!r}")
        return value
    if origin is list:
        if not isinstance(value, list):
            raise CreamError(f"{name} must be a list like [1, 2], got {value!r}")
        return [_check_type(f"{name}[{i}]", v, args[0]) for i, v in enumerate(value)]
    if hint is bool:
        if not isinstance(value, bool):
            raise CreamError(f"{name} must be true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise CreamError(f"{name} must be a whole number, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, str):  # YAML reads 5e-5 (no dot) as text
            try:
                value = float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise CreamError(f"{name} must be a number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise CreamError(f"{name} must be text, got {value!r}")
        return str(value)
    raise TypeError(f"unsupported config type {hint} for {name}")  # a bug in this file, not user input

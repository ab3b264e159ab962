"""cream from Python: everything the command line does, as functions with typed results.

::

    import cream

    found = cream.search(data="pets")                      # runs/search/pets
    trained = cream.retrain(data="pets")                   # retrains found.arch: runs/retrain/pets
    report = cream.test(trained.checkpoint, data="pets")   # test.json beside best.pth
    page = cream.report("runs/search/pets")                # the search's report.html, rewritten
    picked = cream.select("runs/search/pets/last.pth", flops_max=[2, 4, 8])  # one supernet, three budgets
    net = cream.create_model(found.arch, num_classes=3, resolution=found.net["resolution"])
    cream.search(data=(images, labels), name="digits")     # data in memory: runs/search/digits

Configs are assembled as on the command line (``cream.assemble``): the preset, ``official``, ``data``, the
keyword arguments, then ``overrides``, a list of ``"section.key=value"`` strings or a dict
``{"section.key": value}``. ``cream.api.keys("search")`` (``cream search --keys``; and retrain, test, export,
rankcorr) lists every key.

Each result of a run is a dataclass whose fields are the keys of the JSON file the run writes (result.json,
test.json), so ``result.arch`` is ``json.load(...)["arch"]``. A key this version does not know (a file written by
a newer cream) is kept in ``extra`` rather than refused; a key an older file lacks is None. The commands that
only report (``arch``, ``space``, ``latency_table``, ``subset``, ``rankcorr``) return what they found and the
text the command prints. ``cream.api.space`` is not ``cream.space`` (the search space's package).

The command line (``cream.cli``) only parses arguments, calls these functions and prints their results.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class _Result:
    extra: dict[str, Any] = field(default_factory=dict, kw_only=True)  # keys this version does not know

    @classmethod
    def from_dict(cls, values: dict):
        """The result of a JSON file's content: a key it lacks is the field's default (None), a key this
        version does not know goes to ``extra``."""
        known = {f.name: f for f in dataclasses.fields(cls) if f.name != "extra"}
        return cls(**{name: values.get(name, None if f.default is dataclasses.MISSING else f.default)
                      for name, f in known.items()},
                   extra={k: v for k, v in values.items() if k not in known})


@dataclass
class SearchResult(_Result):
    """A search's result.json: the chosen path and how it was found."""

    arch: str                  # the chosen architecture, e.g. "3-33-313-3333-333"
    flops: float               # its million multiply-adds
    params: float              # its million parameters
    latency_ms: float | None   # its predicted latency, when the search had a latency table
    val_top1: float            # its search-val top-1 inside the supernet
    algorithm: str
    net: dict                  # the layout (NetSpec.to_json())
    depths: list[int]
    flops_range: list
    latency_range: list | None
    latency_table: dict | None
    candidates: list[dict]     # every path of the final selection, best first
    board: list[dict]
    counters: dict
    history: list[dict]        # one row per epoch
    health: dict
    elapsed_s: float
    config: dict
    versions: dict
    already_finished: bool = False  # True when the run had finished before and was only reported


@dataclass
class RetrainResult(_Result):
    """A retraining's result.json."""

    arch: str
    net: dict
    flops: float
    params: float
    best_epoch: int
    best_top1: float
    final: dict
    weights: str               # "ema" or "plain": the weights best.pth is judged by
    checkpoint: str            # best.pth
    history: list[dict]
    health: dict
    elapsed_s: float
    config: dict
    versions: dict
    already_finished: bool = False


@dataclass
class TestResult(_Result):
    """test.json, and where it was written."""

    __test__ = False  # a result, not a test class for pytest to collect

    checkpoint: str
    arch: str
    net: dict
    weights: str
    top1: float
    top5: float
    loss: float
    results: dict              # per weight set ("ema", "plain"): top1, top5, loss, images
    data: dict
    params: float
    macs: float
    latency: list[dict]        # at batch 1 and at test.latency_batch
    latency_table: dict | None
    device: str
    threads: int
    cpu_count: int | None
    config: dict
    versions: dict
    per_class: list[dict] | None = None    # top-1 and images per class (headline weights)
    confusion: list[list[int]] | None = None  # rows: the true class, columns: the predicted one
    mistakes: str | None = None            # the file beside test.json with the most confident mistakes' thumbnails
    written_to: str | None = None
    page: str | None = None                # the report page written beside test.json


@dataclass
class ReportResult(_Result):
    """A report page that was written."""

    page: str                  # its path
    size_mb: float

    def line(self) -> str:
        """What the log and the command line say about it."""
        return f"report: {self.page} ({self.size_mb:.1f} MB)"


@dataclass
class ExportResult(_Result):
    """The files an export wrote, each checked against PyTorch."""

    arch: str
    net: dict
    weights: str
    files: dict                # format -> {"path", "max_abs_diff", "logit_scale"}


@dataclass
class SpaceResult:
    """A planned search space (``cream space``): the plan (depths, FLOPs and latency ranges) and its report."""

    plan: Any                  # cream.space.budget.SpacePlan
    text: str


@dataclass
class LatencyTableResult:
    """A measured latency table (``cream latency-table``), written to ``out``, and its report."""

    table: Any                 # cream.space.latency_table.LatencyTable
    out: str
    text: str


@dataclass
class SubsetResult:
    """A class/count subset of an image folder (``cream subset``) written to ``dst``."""

    classes: list[str]
    files: dict[str, list[str]]  # per split: CLASS/FILE paths
    ways: dict[str, int]         # how many files were placed as "hardlink", "symlink" or "copy"
    dst: str


@dataclass
class RankCorrResult:
    """A rank-correlation study (``cream rankcorr``), or the comparison of two: rankcorr.json's (compare.json's)
    content, None while other shards of the study have not finished; ``out``: where its files are."""

    report: dict | None
    text: str | None
    out: str | None
    page: str | None = None    # the report page written beside rankcorr.json, once the study is finished


@dataclass
class SelectResult(_Result):
    """select.json: a pick per budget from one trained supernet, every path scored and the Pareto front."""

    picks: dict                # budget name (its limit, e.g. "4") -> the pick: arch, flops, params, latency_ms
                               # (with a table), val_top1, flops_range, latency_range, evaluations, seconds, curve
    scored: list[dict]         # every path scored in the run, cheapest first
    front: list[dict]          # the scored paths no other beats on both cost and search-val top-1, cheapest first
    cost: str                  # "flops" or "latency_ms": what the front and ties weigh
    method: str                # evolution or random
    evolution: dict | None     # the evolution's sizes (method evolution)
    evaluations: int           # paths scored (each once, whatever the number of budgets)
    supernet: str
    weights: str               # "ema" or "plain"
    algorithm: str             # the search's training rule
    net: dict
    depths: list[int]
    elastic_depth: bool
    seed: int
    latency_table: dict | None
    elapsed_s: float
    config: dict
    versions: dict
    kind: str = "cream-select"
    written_to: str | None = None
    page: str | None = None    # the report page written beside select.json

    def pick(self, budget: str | float | None = None) -> dict:
        """The pick for ``budget`` (its name or limit; may be left out when there is one budget)."""
        from cream.train.target import choose_pick

        return choose_pick(self.picks, None if budget is None else str(budget), "the selection")


def search(preset: str | None = None, *, data=None, name: str | None = None, official: str | None = None,
           overrides=(), force: bool = False, strategy: type | None = None) -> SearchResult:
    """Search: train the supernet with prioritized paths, pick an architecture (``cream search``).

    ``preset``: a name under configs/search/ or a YAML file (default: fashion_mnist, or imagefolder for an image
    folder or data from Python); ``data``: fashion_mnist, a Fashion-MNIST folder or an image folder with
    train/CLASS/ (classes, channels, resolution and run folder are then taken from it), or data from Python
    (``name`` then names the run folder, runs/search/<name>): a torch Dataset of (image, label), a dict of
    ``train`` / ``val`` / ``test`` datasets, or tensors ``(images, labels)``, read as an image folder's train/,
    val/ and test/ (see ``cream.data.in_memory``); ``official``: a search config of the paper's code instead of
    a preset; ``force``: replace an existing run; ``strategy``: a search strategy class (``cream.nas.strategy``;
    default: the one ``search.algorithm`` names). A finished run is reported, not redone (``already_finished``).
    """
    from cream.assemble import run_config
    from cream.data.in_memory import python_data
    from cream.nas import trainer
    from cream.reporting import page_writer

    notes = []  # where each value came from: the first line of the run's log
    with python_data(data, name, "search") as data:
        cfg = run_config("search", preset, data=data, official=official, overrides=overrides, notes=notes)
        result = trainer.run_search(cfg, force=force, strategy=strategy, notes=notes, after_epoch=page_writer)
    if not result.get("already_finished") and is_main_process():
        from cream.analysis.plots import plot_search_run

        plot_search_run(Path(result["config"]["run"]["out_dir"]), result)
    return SearchResult.from_dict(result)


def retrain(preset: str | None = None, *, data=None, name: str | None = None, arch: str | None = None,
            official: str | None = None, init: str | None = None, overrides=(), force: bool = False) -> RetrainResult:
    """Retrain an architecture from scratch, or fine-tune it from ``init`` (``cream retrain``).

    ``preset``: a name under configs/retrain/ (the paper's recipes: 14 ... 604, or a README name), or a YAML file;
    ``data`` and ``name``: as for ``search`` (runs/retrain/<name>); ``arch``: a search's result.json, a paper name
    or a string like 3-33-313-3333-333 (default with ``data``: the search of the same data or name); ``init``:
    weights to start from (our checkpoint or a released one).
    """
    from cream.assemble import run_config
    from cream.data.in_memory import python_data
    from cream.reporting import page_writer
    from cream.train import trainer

    given = {"arch": arch, "init": init}
    arguments = {"retrain": {k: v for k, v in given.items() if v is not None}}
    notes = []  # where each value came from: the first line of the run's log
    with python_data(data, name, "retrain") as data:
        cfg = run_config("retrain", preset, data=data, official=official, arguments=arguments, overrides=overrides,
                         notes=notes)
        return RetrainResult.from_dict(trainer.run_retrain(cfg, force=force, notes=notes, after_epoch=page_writer))


def test(checkpoint: str | None = None, *, data=None, name: str | None = None, arch: str | None = None,
         resolution: int | None = None, plain: bool = False, latency_table: str | None = None,
         out: str | None = None, official: str | None = None, overrides=()) -> TestResult:
    """Test a checkpoint: top-1/top-5/loss, size and latency; writes test.json (``cream test``).

    ``checkpoint``: our .pth, a released .pth.tar or an exported .safetensors (default with ``data``:
    runs/retrain/<data name>/best.pth, or runs/retrain/<name>/best.pth for data from Python); ``data``: as for
    ``search`` (default: the data the checkpoint was trained on, when it is on disk); one Dataset or ``(images,
    labels)`` from Python is the test set, a dict tests on its ``test`` (else ``val``), and the classes are the
    checkpoint's; ``arch``: for files that hold none; ``plain``: also test the plain weights of a checkpoint with
    EMA; ``latency_table``: also report the latency it predicts; ``out``: where test.json goes (default: beside
    the checkpoint); ``official``: a test config of the paper's code. The report page of the folder
    test.json is in is rewritten with the test's figures (``page``).
    """
    from cream.assemble import default_checkpoint, file_config, read_official, say
    from cream.data.in_memory import python_data
    from cream.reporting import write_report
    from cream.space.zoo import name_note
    from cream.train.tester import run_test
    from cream.train.weights import read_weights

    with python_data(data, name, "test", name_required=checkpoint is None and official is None) as data:
        say(arch and name_note(arch))
        paper = None
        if official is not None:
            paper, overrides = read_official(official, "test", overrides)
        # Without a checkpoint, the paper's test config names it (RESUME_PATH), else the retrain of ``data`` is tested.
        named = paper and paper.values.get("test", {}).get("checkpoint")
        checkpoint = checkpoint or named or default_checkpoint(data)
        weights = read_weights(checkpoint)
        given = {"checkpoint": checkpoint, "arch": arch, "resolution": resolution, "plain": plain or None,
                 "latency_table": latency_table, "out": out}
        cfg = file_config("test", weights.config, source=checkpoint, data=data, official=paper,
                          arguments={k: v for k, v in given.items() if v is not None}, overrides=overrides)
        result = TestResult.from_dict(run_test(cfg, weights))
    if is_main_process():
        written = Path(result.written_to)
        result.page = str(write_report(written.parent if written.name == "test.json" else written))
    return result


test.__test__ = False  # a function of the API, not a test for pytest to collect


def export(checkpoint: str | None = None, *, supernet: str | None = None, arch: str | None = None,
           formats=("onnx", "torchscript", "safetensors"), resolution: int | None = None, plain: bool = False,
           out: str | None = None, data: str | None = None, overrides=()) -> ExportResult:
    """Export a checkpoint, or the path ``arch`` of the search checkpoint ``supernet``, to ONNX, TorchScript and/or
    safetensors, each checked against PyTorch (``cream export``). ``out``: the path without suffix (default:
    beside the input); ``data``: a supernet path's BatchNorm is recalibrated on it (default: the search's)."""
    from cream.assemble import file_config, say
    from cream.engine.checkpoint import read_search_checkpoint
    from cream.errors import CreamError
    from cream.space.zoo import name_note
    from cream.train.export import export_model
    from cream.train.weights import read_weights

    say(arch and name_note(arch))
    if bool(checkpoint) == bool(supernet):
        raise CreamError("cream export needs either --checkpoint PATH or --supernet PATH --arch ARCH")
    if supernet:
        source = read_search_checkpoint(supernet, "export a retrained net with --checkpoint")
        saved = source["config"]
    else:
        source = read_weights(checkpoint)
        saved = source.config
    given = {"checkpoint": checkpoint, "supernet": supernet, "arch": arch, "formats": list(formats),
             "resolution": resolution, "out": out, "plain": plain or None}
    cfg = file_config("export", saved, source=checkpoint or supernet, data=data,
                      arguments={k: v for k, v in given.items() if v is not None}, overrides=overrides)
    return ExportResult.from_dict(export_model(cfg, source))


def report(run: str, *others: str, out: str | None = None) -> ReportResult:
    """Write the report page of the run folder ``run`` (``cream report``): a search, retraining, test,
    rank-correlation study or selection, finished, interrupted or written by an older cream (the page says what its
    files lack).
    With ``others``, one page comparing runs of one kind (default ``out``: compare.html beside the first run's
    folder)."""
    from cream.reporting import compare_runs, write_report

    page = compare_runs([run, *others], out or Path(run).parent / "compare.html") if others else write_report(run, out)
    return ReportResult(page=str(page), size_mb=page.stat().st_size / 1e6)


def select(supernet: str, *, flops_max=None, flops_min: float | None = None, latency_table: str | None = None,
           latency_max=None, latency_min: float | None = None, method: str | None = None, out: str | None = None,
           seed: int | None = None, overrides=(), force: bool = False, log=print) -> SelectResult:
    """Pick the best path of a trained supernet for each budget (``cream select``): SPOS's evolutionary search
    (``method="evolution"``, sized by the ``evolution.*`` keys) or random paths, each scored once on search-val
    with BatchNorm recalibrated; writes select.json (default in runs/select/<the search's folder name>).

    ``supernet``: a search's last.pth; ``flops_max`` / ``latency_max``: one limit or a list of them, one budget
    each (default: the search's own multiply-add limit); ``latency_table``: a table for the supernet's net, made
    on the device to deploy on; ``force``: replace an earlier select.json. ``retrain(arch="…/select.json:4")``
    retrains a pick. The run's report page (``page``) draws every scored path, the Pareto front and the picks.
    """
    from cream.assemble import select_config
    from cream.errors import CreamError
    from cream.nas.select import run_select
    from cream.reporting import write_report

    if not supernet:
        raise CreamError("cream select needs --supernet RUN/last.pth, the checkpoint of a `cream search` run")

    def as_list(value):
        return None if value is None else [float(v) for v in (value if isinstance(value, (list, tuple)) else [value])]

    given = {"flops_max": as_list(flops_max), "flops_min": flops_min, "latency_table": latency_table,
             "latency_max": as_list(latency_max), "latency_min": latency_min, "method": method}
    options = {f"select.{k}": v for k, v in given.items() if v is not None}
    options.update({k: v for k, v in (("run.out_dir", out), ("run.seed", seed)) if v is not None})
    cfg = select_config(supernet, overrides, options)
    result = SelectResult.from_dict(run_select(cfg, force=force, log=log))
    result.page = str(write_report(Path(result.written_to).parent))
    return result


def create_model(name_or_arch: str, num_classes: int = 1000, in_chans: int = 3, resolution: int | None = None,
                 width: float = 1.0, **timm_kwargs):
    """A freshly initialised child net (a timm MobileNetV3): a paper model (``cream_287``, ``287``, the README's
    ``285``) or an architecture string like ``3-33-313-3333-333``.

    ``resolution`` sets the strides (below 64 px the first searchable stage keeps stride 1); a paper model's own is
    its default, else 224. A paper model at its own resolution and width is ``timm.create_model(name, ...)`` and
    takes any of timm's options (``features_only``, ``drop_path_rate``, ...); other nets take ``drop_rate`` and
    ``drop_path_rate``.
    """
    import timm

    from cream.errors import CreamError
    from cream.space.net import NetSpec, build_child
    from cream.space.zoo import PAPER_ARCHS, paper_model, resolve_arch

    model = paper_model(name_or_arch)
    if model is not None and resolution in (None, PAPER_ARCHS[model][1]) and width == 1.0:
        return timm.create_model(model, num_classes=num_classes, in_chans=in_chans, **timm_kwargs)
    unknown = sorted(set(timm_kwargs) - {"drop_rate", "drop_path_rate"})
    if unknown:
        raise CreamError(f"create_model({name_or_arch!r}) takes drop_rate and drop_path_rate, not "
                         f"{', '.join(unknown)}; timm's other options work for a paper model at its own resolution "
                         "and width 1.0")
    arch, paper_resolution = resolve_arch(name_or_arch)
    spec = NetSpec(resolution=resolution or paper_resolution or 224, in_chans=in_chans, num_classes=num_classes,
                   width=width, drop_rate=timm_kwargs.get("drop_rate", 0.0))
    return build_child(arch, spec, drop_path_rate=timm_kwargs.get("drop_path_rate", 0.0))


def load_supernet(checkpoint, ema: bool = True, resolution: int | None = None):
    """The trained supernet of a search checkpoint (``runs/search/NAME/last.pth``): its EMA weights when it has
    them and ``ema``, else the plain ones (``supernet.weights`` says which). ``supernet.spec`` and
    ``supernet.depths`` give its layout; ``supernet.extract(cream.space.arch.Arch.parse("3-33-313-3333-333"))``
    one path as a child net (recalibrate its BatchNorm before evaluating it, as ``cream export --supernet``
    does)."""
    from cream.train.weights import load_supernet as load

    return load(checkpoint, ema=ema, resolution=resolution)


def is_main_process() -> bool:
    """False in torchrun's other processes, which print nothing."""
    from cream.assemble import is_main_process as main

    return main()


def keys(command: str, preset: str | None = None, data: str | None = None) -> str:
    """Every config key of ``command`` (search, retrain, test, export, rankcorr, select) with its value and
    meaning. For search and retrain, the values a run would start from: those of ``preset``, else of the default
    preset for ``data`` (fashion_mnist, or imagefolder for a folder), each marked where the preset sets it or the
    data decides it."""
    from cream.assemble import keys_config
    from cream.config import EvalRun, ExportRun, RankCorrRun, RetrainRun, SearchRun, SelectRun, describe

    runs = {"search": SearchRun, "retrain": RetrainRun, "test": EvalRun, "export": ExportRun, "rankcorr": RankCorrRun,
            "select": SelectRun}
    if command not in ("search", "retrain"):
        return describe(runs[command])
    cfg, marks, header = keys_config(runs[command], preset, data)
    return header + "\n" + describe(runs[command], cfg, marks)


def _net_spec(resolution: int, num_classes: int, in_chans: int, width: float, stem_stride: int | None,
              stage_strides: list[int] | None):
    from cream.space.net import NetSpec

    return NetSpec(resolution=resolution, in_chans=in_chans, num_classes=num_classes, width=width,
                   stem_stride=stem_stride, stage_strides=stage_strides)


def arch(name_or_arch: str, *, resolution: int | None = None, num_classes: int = 1000, in_chans: int = 3,
         width: float = 1.0, stem_stride: int | None = None, stage_strides: list[int] | None = None,
         latency_table: str | None = None) -> str:
    """An architecture's report (``cream arch``): stage table, output shape, params, multiply-adds, and with
    ``latency_table`` the latency it predicts beside one measured here as the table was. ``name_or_arch``: a paper
    model (``cream_481``, ``481``, the README's ``470``) or a string like ``3-33-313-3333-333``; ``resolution``:
    default the paper model's, else 224."""
    from cream.assemble import say
    from cream.space.latency_table import load_to_measure
    from cream.space.report import arch_report
    from cream.space.zoo import name_note, paper_model, resolve_arch

    found, paper_resolution = resolve_arch(name_or_arch)
    spec = _net_spec(resolution or paper_resolution or 224, num_classes, in_chans, width, stem_stride, stage_strides)
    say(name_note(name_or_arch))
    latency = load_to_measure(latency_table, spec) if latency_table else None
    return arch_report(found, spec, paper_model(name_or_arch), latency, latency_table)


def space(*, flops_min: float = 0.0, flops_max: float | None = None, latency_table: str | None = None,
          latency_min: float = 0.0, latency_max: float | None = None, depth_rule: str = "greedy",
          elastic_depth: bool = False, resolution: int = 224, num_classes: int = 1000, in_chans: int = 3,
          width: float = 1.0, stem_stride: int | None = None, stage_strides: list[int] | None = None) -> SpaceResult:
    """The search space for a budget (``cream space``): FLOPs in million multiply-adds and/or milliseconds of
    latency predicted by ``latency_table``; ``depth_rule`` and ``elastic_depth`` as the ``space.*`` keys."""
    from cream.errors import CreamError
    from cream.space.budget import plan_space
    from cream.space.latency_table import load_latency_table
    from cream.space.report import space_report

    if flops_max is None and latency_max is None:
        raise CreamError("cream space needs a budget: --flops-max B, or --latency-table FILE --latency-max MS, or both")
    spec = _net_spec(resolution, num_classes, in_chans, width, stem_stride, stage_strides)
    latency = load_latency_table(latency_table, spec) if latency_table else None
    plan = plan_space(spec, flops_min, flops_max, None, latency, latency_min, latency_max, depth_rule, elastic_depth)
    return SpaceResult(plan, space_report(plan))


def latency_table(out: str, *, resolution: int | None = None, device: str = "cpu", batch: int = 1,
                  threads: int | None = None, channels_last: bool = True, bf16: bool = False, repeats: int = 20,
                  warmup: int = 5, num_classes: int = 1000, in_chans: int = 3, width: float = 1.0,
                  stem_stride: int | None = None, stage_strides: list[int] | None = None,
                  log=print) -> LatencyTableResult:
    """Measure every op at every block position on ``device`` and write the table to ``out``
    (``cream latency-table``); ``log`` gets one line per measurement."""
    from cream.errors import CreamError
    from cream.space.latency_table import measure_latency_table, write_latency_table
    from cream.space.report import latency_table_report

    if resolution is None:
        raise CreamError("cream latency-table needs --resolution R: the input side of the net it is for "
                         "(28 for the Fashion-MNIST search)")
    spec = _net_spec(resolution, num_classes, in_chans, width, stem_stride, stage_strides)
    table = measure_latency_table(spec, device, batch, threads, channels_last, bf16, repeats, warmup, log=log)
    write_latency_table(table, out)
    return LatencyTableResult(table, str(out), latency_table_report(table))


def subset(src: str, dst: str, *, classes: int | None = 100, class_list: str | None = None,
           image_list: str | None = None, train_per_class: int = 250, val_per_class: int = 50, seed: int = 0,
           force: bool = False, copy: bool = False) -> SubsetResult:
    """Write a class/count subset of the image folder ``src`` to ``dst`` (``cream subset``): ``classes`` drawn with
    ``seed``, or the classes of the file ``class_list``, or exactly the images of ``image_list``."""
    from cream.analysis.subset import choose_subset, read_class_list, read_image_list, write_subset

    names = read_class_list(class_list) if class_list else None
    images = read_image_list(image_list) if image_list else None
    chosen = choose_subset(src, classes, train_per_class, val_per_class, seed, names, images)
    ways = write_subset(chosen, src, dst, force=force, copy=copy)
    return SubsetResult(chosen.classes, chosen.files, ways, str(dst))


def rankcorr(supernet: str | None = None, *, merge: str | None = None, compare: tuple[str, str] | None = None,
             overrides=(), paths: int | None = None, paths_file: str | None = None, flops_min: float | None = None,
             flops_max: float | None = None, strata: int | None = None, seeds: int | None = None,
             epochs: int | None = None, seed: int | None = None, out: str | None = None,
             shard: tuple[int, int] = (1, 1), bootstrap: int = 5000, force: bool = False,
             quiet: bool = False) -> RankCorrResult:
    """Rank correlation of weight-sharing and stand-alone accuracy of paths (``cream rankcorr``): a study of the
    search checkpoint ``supernet`` (this ``shard`` of it), the report of the shards in ``merge``, or two finished
    studies side by side (``compare``, written to ``out`` when given). The keyword arguments are the ``study.*``
    keys and ``retrain.epochs``, ``run.seed``, ``run.out_dir``; ``overrides`` come before them."""
    from cream.errors import CreamError

    if compare:
        from cream.analysis.compare import compare_studies, comparison_text, write_comparison

        study = compare_studies(*compare, resamples=bootstrap, seed=seed or 0)
        if out:
            write_comparison(study, out)
        return RankCorrResult(study, comparison_text(study), out)
    from cream.analysis.rankcorr import merge_study, report_text, run_study
    from cream.assemble import study_config

    if merge:
        study, out = merge_study(merge), merge
    elif supernet:
        options = {"study.paths": paths, "study.paths_file": paths_file, "study.flops_min": flops_min,
                   "study.flops_max": flops_max, "study.strata": strata, "study.seeds": seeds,
                   "retrain.epochs": epochs, "run.seed": seed, "run.out_dir": out, "run.quiet": quiet or None}
        cfg = study_config(supernet, overrides, {k: v for k, v in options.items() if v is not None})
        study, out = run_study(cfg, shard, force=force), cfg.run.out_dir
    else:
        raise CreamError("cream rankcorr needs --supernet CKPT (a study), --merge DIR or --compare RUN_A RUN_B")
    if study is None:  # other shards have paths left
        return RankCorrResult(None, None, out)
    page = None
    if is_main_process():
        from cream.reporting import write_report

        page = str(write_report(out))
    return RankCorrResult(study, report_text(study), out, page)

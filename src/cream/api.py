"""cream from Python: everything the command line does, as functions with typed results.

::

    import cream

    found = cream.search(data="pets")                      # runs/search/pets
    trained = cream.retrain(data="pets")                   # retrains found.arch: runs/retrain/pets
    report = cream.test(trained.checkpoint, data="pets")   # test.json beside best.pth
    picked = cream.select("runs/search/pets/last.pth", flops_max=[2, 4, 8])  # one supernet, three budgets
    net = cream.create_model(found.arch, num_classes=3, resolution=found.net["resolution"])

Configs are assembled as on the command line (``cream.assemble``): the preset, ``official``, ``data``, the
keyword arguments, then ``overrides``, a list of ``"section.key=value"`` strings or a dict
``{"section.key": value}``. ``cream search --keys`` (and retrain, test, export) lists every key.

Each result is a dataclass whose fields are the keys of the JSON file the run writes (result.json, test.json),
so ``result.arch`` is ``json.load(...)["arch"]``. A key this version does not know (a file written by a newer
cream) is kept in ``extra`` rather than refused; a key an older file lacks is None.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
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
    written_to: str | None = None


@dataclass
class ExportResult(_Result):
    """The files an export wrote, each checked against PyTorch."""

    arch: str
    net: dict
    weights: str
    files: dict                # format -> {"path", "max_abs_diff", "logit_scale"}


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

    def pick(self, budget: str | float | None = None) -> dict:
        """The pick for ``budget`` (its name or limit; may be left out when there is one budget)."""
        from cream.train.target import choose_pick

        return choose_pick(self.picks, None if budget is None else str(budget), "the selection")


def search(preset: str | None = None, *, data: str | None = None, official: str | None = None, overrides=(),
           force: bool = False, strategy: type | None = None) -> SearchResult:
    """Search: train the supernet with prioritized paths, pick an architecture (``cream search``).

    ``preset``: a name under configs/search/ or a YAML file (default: fashion_mnist, or imagefolder for an image
    folder); ``data``: fashion_mnist, a Fashion-MNIST folder or an image folder with train/CLASS/ (classes,
    channels, resolution and run folder are then taken from it); ``official``: a search config of the paper's
    code instead of a preset; ``force``: replace an existing run; ``strategy``: a search strategy class
    (``cream.nas.strategy``; default: the one ``search.algorithm`` names). A finished run is reported, not
    redone (``already_finished``).
    """
    from cream.assemble import run_config
    from cream.nas import trainer

    notes = []  # where each value came from: the first line of the run's log
    cfg = run_config("search", preset, data=data, official=official, overrides=overrides, notes=notes)
    return SearchResult.from_dict(trainer.run_search(cfg, force=force, strategy=strategy, notes=notes))


def retrain(preset: str | None = None, *, data: str | None = None, arch: str | None = None,
            official: str | None = None, init: str | None = None, overrides=(), force: bool = False) -> RetrainResult:
    """Retrain an architecture from scratch, or fine-tune it from ``init`` (``cream retrain``).

    ``preset``: a name under configs/retrain/ (the paper's recipes: 14 ... 604, or a README name), or a YAML file;
    ``arch``: a search's result.json, a paper name or a string like 3-33-313-3333-333 (default with ``data``: the
    search of the same data); ``init``: weights to start from (our checkpoint or a released one).
    """
    from cream.assemble import run_config
    from cream.train import trainer

    given = {"arch": arch, "init": init}
    arguments = {"retrain": {k: v for k, v in given.items() if v is not None}}
    notes = []  # where each value came from: the first line of the run's log
    cfg = run_config("retrain", preset, data=data, official=official, arguments=arguments, overrides=overrides,
                     notes=notes)
    return RetrainResult.from_dict(trainer.run_retrain(cfg, force=force, notes=notes))


def test(checkpoint: str | None = None, *, data: str | None = None, arch: str | None = None,
         resolution: int | None = None, plain: bool = False, latency_table: str | None = None,
         out: str | None = None, official: str | None = None, overrides=()) -> TestResult:
    """Test a checkpoint: top-1/top-5/loss, size and latency; writes test.json (``cream test``).

    ``checkpoint``: our .pth, a released .pth.tar or an exported .safetensors (default with ``data``:
    runs/retrain/<data name>/best.pth); ``arch``: for files that hold none; ``plain``: also test the plain weights
    of a checkpoint with EMA; ``latency_table``: also report the latency it predicts; ``out``: where test.json
    goes (default: beside the checkpoint); ``official``: a test config of the paper's code.
    """
    from cream.train.tester import evaluate_checkpoint

    return TestResult.from_dict(evaluate_checkpoint(checkpoint, data=data, arch=arch, resolution=resolution,
                                                    plain=plain, latency_table=latency_table, out=out,
                                                    official=official, overrides=overrides))


test.__test__ = False  # a function of the API, not a test for pytest to collect


def export(checkpoint: str | None = None, *, supernet: str | None = None, arch: str | None = None,
           formats=("onnx", "torchscript", "safetensors"), resolution: int | None = None, plain: bool = False,
           out: str | None = None, data: str | None = None, overrides=()) -> ExportResult:
    """Export a checkpoint, or the path ``arch`` of the search checkpoint ``supernet``, to ONNX, TorchScript and/or
    safetensors, each checked against PyTorch (``cream export``). ``out``: the path without suffix (default:
    beside the input); ``data``: a supernet path's BatchNorm is recalibrated on it (default: the search's)."""
    from cream.train.export import export_model

    return ExportResult.from_dict(export_model(checkpoint, supernet=supernet, arch=arch, formats=formats,
                                               resolution=resolution, plain=plain, out=out, data=data,
                                               overrides=overrides))


def select(supernet: str, *, flops_max=None, flops_min: float | None = None, latency_table: str | None = None,
           latency_max=None, latency_min: float | None = None, method: str | None = None, out: str | None = None,
           seed: int | None = None, overrides=(), force: bool = False, log=print) -> SelectResult:
    """Pick the best path of a trained supernet for each budget (``cream select``): SPOS's evolutionary search
    (``method="evolution"``, sized by the ``evolution.*`` keys) or random paths, each scored once on search-val
    with BatchNorm recalibrated; writes select.json (default in runs/select/<the search's folder name>).

    ``supernet``: a search's last.pth; ``flops_max`` / ``latency_max``: one limit or a list of them, one budget
    each (default: the search's own multiply-add limit); ``latency_table``: a table for the supernet's net, made
    on the device to deploy on; ``force``: replace an earlier select.json. ``retrain(arch="…/select.json:4")``
    retrains a pick.
    """
    from cream.assemble import select_config
    from cream.nas.select import run_select

    def as_list(value):
        return None if value is None else [float(v) for v in (value if isinstance(value, (list, tuple)) else [value])]

    given = {"flops_max": as_list(flops_max), "flops_min": flops_min, "latency_table": latency_table,
             "latency_max": as_list(latency_max), "latency_min": latency_min, "method": method}
    options = {f"select.{k}": v for k, v in given.items() if v is not None}
    options.update({k: v for k, v in (("run.out_dir", out), ("run.seed", seed)) if v is not None})
    cfg = select_config(supernet, overrides, options)
    return SelectResult.from_dict(run_select(cfg, force=force, log=log))


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

"""A command's config, assembled in one place, layer by layer, with a line that says where each value came from.

``cream search`` and ``cream retrain`` (``run_config``): the preset (the one named, else the default for the
data's kind: ``fashion_mnist``, or ``imagefolder`` for an image folder or data from Python), then ``--official
FILE`` (a config of the paper's code, mapped to our keys by ``cream.official``), then ``--data`` (where the data
is, or the name of data from Python; what it decides, classes, channels, resolution, run folder and the search to
retrain, is left null for ``cream.settings_from_data``), then arguments (``--init``), then ``section.key=value``
overrides.

``cream test`` and ``cream export`` (``file_config``): the data section of the file's own run config (so a net
trained on a class subset is tested on that subset), then ``--official`` (test), then ``--data``, then
arguments, then overrides. ``cream rankcorr`` (``study_config``) and ``cream select`` (``select_config``): the
supernet's data section, then overrides, then the command's options. Tests, benchmarks and scripts
(``make_config``): a preset, then overrides, quietly.

Each assembly prints one line (first process only): for every value that differs from the default, the layer
that set it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path

from cream.config import (
    EvalRun,
    ExportRun,
    RankCorrRun,
    RetrainRun,
    SearchRun,
    SelectRun,
    build,
    fidelity_values,
    parse_override,
    preset_path,
    read_sections,
    resolve_key,
    run_folder,
    to_dict,
)
from cream.data.fashion_mnist import DEFAULT_ROOT
from cream.data.in_memory import InMemoryData
from cream.data.survey import data_name
from cream.engine.checkpoint import read_search_checkpoint
from cream.errors import CreamError
from cream.space.zoo import name_note, paper_model

DEFAULT_PRESET = {"fashion_mnist": "fashion_mnist", "imagefolder": "imagefolder", "memory": "imagefolder"}
RUN_CLASSES = {"search": SearchRun, "retrain": RetrainRun}
PRESET_KINDS = {SearchRun: "search", RetrainRun: "retrain"}  # where make_config finds a preset by name
# What --data leaves to the data (cream.settings_from_data fills these keys when they are null).
FROM_THE_DATA = {"space": ("num_classes", "in_chans", "resolution"), "run": ("out_dir",)}


def is_main_process() -> bool:
    """True unless this is one of torchrun's other processes: only the first one prints."""
    return os.environ.get("RANK", "0") == "0"


def say(line: str | None, err: bool = False) -> None:
    if line and is_main_process():
        print(line, file=sys.stderr if err else sys.stdout)


class Layers:
    """A config's values layer by layer; remembers which layer set each key last."""

    def __init__(self, cls):
        self.cls, self.values, self.source = cls, {}, {}

    def add(self, label: str, sections: dict) -> None:
        for section, body in sections.items():
            for name, value in body.items():
                self.values.setdefault(section, {})[name] = value
                self.source.pop(f"{section}.{name}", None)  # listed in the order the last layer set them
                self.source[f"{section}.{name}"] = label

    def add_overrides(self, label: str, overrides) -> None:
        """``["section.key=value", ...]`` (YAML values), or ``{"section.key": value}`` (values as they are)."""
        if isinstance(overrides, dict):
            items = [(*resolve_key(self.cls, dotted), value) for dotted, value in overrides.items()]
        else:
            items = [parse_override(self.cls, item) for item in overrides]
        for section, name, value in items:
            self.add(label, {section: {name: value}})

    def build(self, notes: list[str] | None = None):
        """The checked config, and a line naming the layer of each value that is not the default: printed, or added
        to ``notes`` (for a run's log, which prints it too)."""
        self.add("search.fidelity=paper_code", fidelity_values(self.values))
        cfg = build(self.cls, self.values)
        line = self.provenance(cfg)
        if notes is None:
            say(line)
        elif line:
            notes.append(line)
        return cfg

    def provenance(self, cfg) -> str | None:
        """``config: LAYER: section.key=value, ...; LAYER: ...`` for the values that are not the defaults."""
        defaults, values = to_dict(self.cls()), to_dict(cfg)
        by_layer: dict[str, list[str]] = {label: [] for label in dict.fromkeys(self.source.values())}
        for dotted, label in self.source.items():
            section, _, name = dotted.partition(".")
            if values[section][name] != defaults[section][name]:
                by_layer[label].append(f"{dotted}={json.dumps(values[section][name])}")
        said = [f"{label}: {', '.join(keys)}" for label, keys in by_layer.items() if keys]
        return "config: " + "; ".join(said) if said else None


def data_option(value) -> dict:
    """``--data``: ``fashion_mnist``, a directory of Fashion-MNIST IDX files, an image folder with train/, or data
    from Python (``InMemoryData``, served by ``cream.data.in_memory.python_data``)."""
    if isinstance(value, InMemoryData):
        declared = {"class_names": value.declared} if value.declared is not None else {}
        return {"dataset": "memory", "root": value.name, **declared}
    if value == "fashion_mnist":
        return {"dataset": "fashion_mnist", "root": DEFAULT_ROOT}
    path = Path(value)
    if not path.is_dir():
        raise CreamError(f"--data {value} is not a directory; give fashion_mnist, a directory with the Fashion-MNIST "
                         "IDX files, or an image folder with train/CLASS/ folders")
    if any((path / split).is_dir() for split in ("train", "val", "test")):
        return {"dataset": "imagefolder", "root": str(path)}
    if any(path.glob("*-idx?-ubyte*")) or (path / "raw").is_dir() or (path / "FashionMNIST").is_dir():
        return {"dataset": "fashion_mnist", "root": str(path)}
    raise CreamError(f"--data {value} holds neither train/ nor Fashion-MNIST IDX files; lay images out as "
                     f"{value}/train/CLASS/*.png (val/CLASS/ and test/CLASS/ are optional)")


def default_checkpoint(data: str | InMemoryData | None) -> str:
    """``cream test --data DIR`` without --checkpoint: the retrain of that data, runs/retrain/<name>/best.pth."""
    if data is None:
        raise CreamError("cream test needs --checkpoint PATH (our .pth, a released .pth.tar or a .safetensors), or "
                         "--data DIR to test runs/retrain/<DIR's name>/best.pth")
    found = data_option(data)
    path = Path(run_folder("retrain", data_name(found["dataset"], found["root"]))) / "best.pth"
    if not path.is_file():
        retrain = (f"cream.retrain(data=..., name={data.name!r})" if isinstance(data, InMemoryData)
                   else f"`cream retrain --data {data}`")
        raise CreamError(f"there is no retrained model of {data} at {path}; run {retrain} first, or give the "
                         "checkpoint")
    return str(path)


def read_official(path: str, command: str, overrides) -> tuple:
    """(the paper's config ``path`` read for ``command``, our overrides): overrides written with the paper's keys
    (``KEY=value``) change the file. Its mapping is printed once, and a warning line per key we do not support."""
    from cream.official import split_overrides, translate

    if isinstance(overrides, dict):
        raise CreamError(f"with the paper's config {path}, give overrides as a list of KEY=value strings (its keys "
                         "or ours), not a dict")
    paper, ours = split_overrides(list(overrides))
    official = translate(path, command, paper)
    say(official.report())
    for line in official.warnings:
        say(f"warning: {line}", err=True)
    return official, ours


def run_config(kind: str, preset: str | None = None, *, data: str | InMemoryData | None = None,
               official: str | None = None, arguments: dict | None = None, overrides=(),
               notes: list[str] | None = None):
    """The config of ``cream search`` or ``cream retrain`` (``kind``); ``arguments``: {section: {key: value}}.

    The line saying where each value came from is printed, or added to ``notes`` when given (see ``Layers.build``).
    """
    cls = RUN_CLASSES[kind]
    if preset is not None and official is not None:
        raise CreamError(f"give a preset ({preset}) or --official {official}, not both")
    layers = Layers(cls)
    official_overrides = []
    if official is not None:
        translated, overrides = read_official(official, kind, overrides)
        preset, official_overrides = translated.preset, translated.overrides()
    elif kind == "retrain" and preset is not None and paper_model(preset):  # the paper recipes: 14 ... 604
        say(name_note(preset))
        preset = paper_model(preset).removeprefix("cream_")
    given = data_option(data) if data is not None else None
    if preset is None:
        preset = DEFAULT_PRESET[_dataset(cls, given, official_overrides, overrides)]
    layers.add(f"preset {preset}", read_sections(cls, preset_path(kind, preset)))
    layers.add_overrides(f"official {official}", official_overrides)
    if given is not None:
        left = {section: dict.fromkeys(names) for section, names in FROM_THE_DATA.items()}
        if kind == "retrain":
            left["retrain"] = {"arch": None}
        layers.add(f"--data {data} (null: from the data)", {"data": given, **left})
    layers.add("arguments", arguments or {})
    layers.add_overrides("overrides", overrides)
    if kind == "retrain":  # before the config line, which names the model
        say(name_note(layers.values.get("retrain", {}).get("arch")))
    return layers.build(notes)


def _dataset(cls, given: dict | None, *override_lists) -> str:
    """The data's kind, which chooses the default preset: --data's, else the last ``data.dataset`` override's."""
    dataset = given["dataset"] if given else "fashion_mnist"
    for overrides in override_lists:
        items = ([(*resolve_key(cls, k), v) for k, v in overrides.items()] if isinstance(overrides, dict)
                 else [parse_override(cls, item) for item in overrides])
        for section, name, value in items:
            if (section, name) == ("data", "dataset") and value in DEFAULT_PRESET:
                dataset = value
    return dataset


def file_config(command: str, saved: dict | None, *, source: str, data: str | InMemoryData | None = None,
                official=None, arguments: dict | None = None, overrides=()):
    """The config of ``cream test`` or ``cream export`` (``command``) for the file ``source``, whose own run config
    is ``saved`` (None for files that hold none). ``official``: a paper config ``read_official`` returned (test);
    ``arguments``: keys of the command's section."""
    cls = {"test": EvalRun, "export": ExportRun}[command]
    layers = Layers(cls)
    layers.add(f"checkpoint {source}", {"data": dict((saved or {}).get("data", {}))})
    if official is not None:  # the file's RESUME_PATH, model, SAVE_PATH and DATA_DIR
        layers.add(f"official {official.path}", {command: official.values.get(command, {})})
        layers.add_overrides(f"official {official.path}", official.overrides(skip=(command,)))
    if data is not None:
        layers.add(f"--data {data}", {"data": data_option(data)})
    layers.add("arguments", {command: arguments or {}})
    layers.add_overrides("overrides", overrides)
    return layers.build()


def study_config(supernet: str | Path, overrides=(), options: dict | None = None) -> RankCorrRun:
    """The config of ``cream rankcorr``: defaults, the data section of the supernet's search config,
    ``section.key=value`` overrides, then ``options`` (``{"study.paths": 20, ...}``, from command-line flags)."""
    saved = read_search_checkpoint(supernet, "pass --supernet RUN/last.pth of a `cream search` run")["config"]
    layers = Layers(RankCorrRun)
    layers.add(f"supernet {supernet}", {"data": saved["data"]})
    layers.add_overrides("overrides", overrides)
    layers.add_overrides("options", {**(options or {}), "study.supernet": str(supernet)})
    return layers.build()


def make_config(cls, preset: str | Path | dict | None = None, overrides=()):
    """A config of ``cls`` (``SearchRun``, ``RetrainRun``, ...) for tests, benchmarks and scripts: its defaults, then
    ``preset`` (a preset name under configs/search/ or configs/retrain/, a YAML file, or a mapping of sections),
    then ``overrides`` (``["section.key=value", ...]`` or ``{"section.key": value}``). Nothing is printed, and
    nothing is left to the data: keys set to null stay null."""
    layers = Layers(cls)
    if isinstance(preset, str) and cls in PRESET_KINDS:
        preset = preset_path(PRESET_KINDS[cls], preset)
    layers.add(f"preset {preset}", read_sections(cls, preset))
    layers.add_overrides("overrides", overrides)
    return layers.build(notes=[])


def select_config(supernet: str | Path, overrides=(), options: dict | None = None) -> SelectRun:
    """The config of ``cream select``: defaults, the data section of the supernet's search config,
    ``section.key=value`` overrides, then ``options`` (``{"select.method": "random", ...}``, from arguments)."""
    saved = read_search_checkpoint(supernet, "pass --supernet RUN/last.pth of a `cream search` run (a retrained "
                                             "best.pth holds one net, not a supernet)")["config"]
    layers = Layers(SelectRun)
    layers.add(f"supernet {supernet}", {"data": saved["data"]})
    layers.add_overrides("overrides", overrides)
    layers.add_overrides("arguments", {**(options or {}), "select.supernet": str(supernet)})
    return layers.build()


def keys_config(cls, preset: str | None = None, data: str | None = None) -> tuple[object, dict, str]:
    """What ``cream search --keys`` (retrain) shows: the config a run would start from (``preset``, else the default
    one for ``data``'s kind), where each value that is not the default comes from, and a header line naming the
    preset. Keys the data decides are marked as such; nothing is read from the data itself."""
    kind = PRESET_KINDS[cls]
    given = data_option(data) if data is not None else None
    name = preset or DEFAULT_PRESET[_dataset(cls, given)]
    preset_values = read_sections(cls, preset_path(kind, name))
    cfg = make_config(cls, name)
    default = cls()
    marks = {}
    for section, body in dataclasses.asdict(cfg).items():
        for key_name, value in body.items():
            if value != getattr(getattr(default, section), key_name):
                marks[section, key_name] = f"preset {name}"
    data_keys = {(section, key_name) for section, names in FROM_THE_DATA.items() for key_name in names}
    data_keys |= {(section, key_name) for section, body in preset_values.items()
                  for key_name, value in body.items() if value is None}
    if data is not None or name == DEFAULT_PRESET["imagefolder"]:
        marks.update({k: "from the data" for k in data_keys if getattr(getattr(cfg, k[0]), k[1]) is None})
    chosen = "named" if preset else "the default" + (" for an image folder" if given else "")
    header = (f"# the values a run would start from: preset {name} ({chosen}); (preset {name}) marks a value the "
              "preset sets, (from the data) one the data decides; key=value on the command line changes any")
    return cfg, marks, header

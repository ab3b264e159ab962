"""Config files of the paper's code (microsoft/Cream, ``experiments/configs/{train,retrain,test}/*.yaml``) as ours.

``translate(path, command)`` maps every key of such a file that we support to our ``section.key`` values, lists
the keys the paper's code itself does not read for that command, and names each key we do not support with what
we do instead. What the paper's code does with a key (said beside it) comes from its tools/train.py, retrain.py,
test.py and lib/ (on timm 0.1.20). Keys a file leaves out keep the values of our preset for the same run.
The table ``PAPER_KEYS``, at the end, has a row for every key: the commands that read it and what it becomes.
"""

from __future__ import annotations

import ast
import difflib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from operator import not_
from pathlib import Path
from typing import Any

import yaml

from cream.errors import CreamError
from cream.space.arch import NUM_OPS
from cream.space.report import op_name
from cream.space.zoo import PAPER_ARCHS, README_NAMES, name_note, paper_model

# The paper's defaults (lib/config.py) for the keys other keys depend on.
PAPER_DEFAULTS = {"DATASET.BATCH_SIZE": 32, "NUM_GPU": 1, "DATASET.VAL_BATCH_MUL": 4, "NET.SELECTION": 14,
                  "NET.EMA.USE": True, "AUTO_RESUME": True}
PRESETS = {"search": "paper_code"}  # retrain: the selected model's recipe; test: no preset


@dataclass
class Official:
    """One paper config read for one command: our values, and a line for every key it holds."""

    path: Path
    command: str
    preset: str | None = None  # our preset the file's values override
    model: str | None = None  # the paper model it selects (retrain, test)
    values: dict[str, dict[str, Any]] = field(default_factory=dict)  # our section -> key -> value
    mapped: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)  # keys the paper's code does not read here either
    warnings: list[str] = field(default_factory=list)  # keys we do not support, with what we do instead

    def overrides(self, skip: tuple[str, ...] = ()) -> list[str]:
        """Our values as ``section.key=value`` overrides (JSON values, which YAML reads back unchanged)."""
        return [f"{section}.{k}={json.dumps(v)}" for section, body in self.values.items() if section not in skip
                for k, v in body.items()]

    def report(self) -> str:
        """The mapping, printed once: a header, then one line per supported or ignored key."""
        base = f"our `{self.preset}` preset's values" if self.preset else "our defaults"
        lines = [f"{self.path} read for `cream {self.command}` (keys it does not set keep {base}):"]
        if self.preset == "paper_code":
            lines.append("  the search follows the paper code's rules (search.fidelity=paper_code; README: "
                         "\"Differences from the paper's search code\"); add search.fidelity=ours for ours")
        lines += [f"  {line}" for line in self.mapped]
        lines += [f"  {line}" for line in self.ignored]
        return "\n".join(lines)

    # ----------------------------------------------------------------- recording one key

    def set(self, key: str, value, pairs: list[tuple[str, Any]], note: str = "") -> None:
        ours = ", ".join(f"{dotted}={_show(v)}" for dotted, v in pairs)
        self.mapped.append(f"{key} {_show(value)} -> {ours}" + (f"  ({note})" if note else ""))
        self._apply(pairs)

    def same(self, key: str, value, note: str) -> None:
        self.mapped.append(f"{key} {_show(value)} -> as ours ({note})")

    def ignore(self, key: str, value, why: str) -> None:
        self.ignored.append(f"{key} {_show(value)} -> ignored: {why}")

    def warn(self, key: str, value, instead: str, pairs: list[tuple[str, Any]] = ()) -> None:
        self.warnings.append(f"{self.path.name}: {key} {_show(value)} is not supported: {instead}")
        self._apply(pairs)

    def _apply(self, pairs) -> None:
        for dotted, v in pairs:
            section, _, name = dotted.partition(".")
            self.values.setdefault(section, {})[name] = v


def split_overrides(overrides) -> tuple[list[str], list[str]]:
    """(paper-style ``KEY=value`` overrides, ours): a key written as in the paper's files goes to the file."""
    paper = [o for o in overrides if o.partition("=")[0].strip() in PAPER_KEYS]
    return paper, [o for o in overrides if o not in paper]


def read_official(path: str | Path, overrides=()) -> dict[str, Any]:
    """The file's keys, flattened (``NET.EMA.DECAY``) and decoded as the paper's yacs config decodes them (so
    ``PRE_PROB: (0.05,0.2,...)`` is a tuple and ``OPT_EPS: 1e-3`` a number), then ``KEY=value`` overrides."""
    path = Path(path)
    if not path.is_file():
        raise CreamError(f"--official {path} does not exist; give one of the paper's experiments/configs/*.yaml")
    try:
        loaded = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise CreamError(f"--official {path} is not valid YAML: {str(e).splitlines()[0]}") from None
    if not isinstance(loaded, dict):
        raise CreamError(f"--official {path} must be a mapping of the paper's keys (like LR: 0.064)")
    flat = {}
    _flatten(loaded, "", flat)
    for item in overrides:
        key, _, text = item.partition("=")
        flat[key.strip()] = text.strip()
    unknown = sorted(k for k in flat if k not in PAPER_KEYS)
    if unknown:
        close = difflib.get_close_matches(unknown[0], PAPER_KEYS, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]}?" if close else "; see the paper's lib/config.py for its keys"
        raise CreamError(f"{path}: {unknown[0]} is not a key of the paper's config{hint}")
    if "MODEL_SELECTION" in flat and "NET.SELECTION" in flat and flat["MODEL_SELECTION"] != flat["NET.SELECTION"]:
        raise CreamError(f"{path} gives MODEL_SELECTION {flat['MODEL_SELECTION']} and NET.SELECTION "
                         f"{flat['NET.SELECTION']}; keep one (the paper's code reads NET.SELECTION)")
    return {k: _decode(v) for k, v in flat.items()}


def _flatten(mapping: dict, prefix: str, out: dict) -> None:
    for key, value in mapping.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict):
            _flatten(value, f"{dotted}.", out)
        else:
            out[dotted] = value


def _decode(value):
    """As yacs does: text that is a Python literal becomes that literal; other text stays text."""
    if not isinstance(value, str):
        return value
    try:
        return ast.literal_eval(value.strip())
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return value


def _show(value) -> str:
    return repr(value) if isinstance(value, str) else str(value)


# ------------------------------------------------------------------------------------------------ translating


def translate(path: str | Path, command: str, overrides=()) -> Official:
    """Read the paper's config ``path`` for ``cream search``, ``retrain`` or ``test`` (``overrides``: its
    ``KEY=value`` style, applied to the file first)."""
    f = read_official(path, overrides)
    t = Official(Path(path), command, PRESETS.get(command))
    if command in ("retrain", "test"):
        _select_model(t, f)
    for key, value in f.items():
        paper_key = PAPER_KEYS[key]
        if not paper_key.is_read_by(command):
            t.ignore(key, value, NOT_READ_BY.get(command, paper_key.unread))
        elif paper_key.rule:
            paper_key.rule_for(command)(t, key, value, f)
    return t


def _paper_value(f: dict, key: str):
    """What the paper's code reads for ``key``: the file's value, else its default (``f`` itself holds only the
    file's keys, as the translation lines list them)."""
    return f[key] if key in f else PAPER_DEFAULTS[key]


def _select_model(t: Official, f: dict) -> None:
    """The paper model the file selects (NET.SELECTION; the README calls it MODEL_SELECTION), and a warning when
    the file's name says another."""
    key = "MODEL_SELECTION" if "MODEL_SELECTION" in f else "NET.SELECTION"
    selection = _paper_value(f, key)
    model = paper_model(selection)
    if model is None:
        readme = ", ".join(name.removeprefix("cream_") for name in README_NAMES)
        code = ", ".join(name.removeprefix("cream_") for name in PAPER_ARCHS)
        raise CreamError(f"{t.path}: {key} {selection} is not one of the paper's models {code} (the README's "
                         f"{readme}); set it to one of those")
    t.model = model
    if t.command == "retrain":
        t.preset = model.removeprefix("cream_")  # our preset of the paper's recipe for this model
    arch, resolution = PAPER_ARCHS[model]
    readme = name_note(selection)
    note = f"{arch} at {resolution} px"
    if readme:
        note = f"{readme}; the paper's current code accepts only the code's names"
    elif key not in f:
        note += f"; the file sets no NET.SELECTION, and the paper's code then takes {selection}"
    t.set(key if key in f else "NET.SELECTION", selection, [(f"{t.command}.arch", model)], note)
    if key == "MODEL_SELECTION" and "NET.SELECTION" in f:
        t.same("NET.SELECTION", selection, "the same selection as MODEL_SELECTION")
    run_name = str(f.get("MODEL", ""))
    for what, name in ((f"{t.path.name} is named", t.path.stem),
                       (f"{t.path.name}: MODEL {run_name!r} is named", run_name)):
        number = re.match(r"\d+", name)
        if number and paper_model(number.group()) != model:
            named = paper_model(number.group())
            named = f"after {named}" if named else f"{number.group()}, which is no paper model"
            t.warnings.append(f"{what} {named}, but its {key} {selection} selects {model} ({arch}); using {model}, "
                              f"as the file says ({t.command}.arch=... picks another)")


# ------------------------------------------------------------------------------------------------ the table's rules

Rule = Callable[[Official, str, Any, dict], None]  # records what a key's value (in the file f) becomes in ours


@dataclass(frozen=True)
class PaperKey:
    """A row of the table: a key of the paper's config, the commands whose paper code reads it, and its rule."""

    name: str
    reads: str  # "srt": read by the paper's search (tools/train.py), retrain and test; "-" where one does not
    rule: Rule | None  # None: the model selection, which _select_model reads first, as other keys depend on it
    search: Rule | None = None  # the search's own rule, where it differs
    test: Rule | None = None  # the test's own rule, where it differs
    unread: str = ""  # why the search does not read it, where it does not (NOT_READ_BY says it for the others)

    def is_read_by(self, command: str) -> bool:
        return command[0] in self.reads

    def rule_for(self, command: str) -> Rule:
        return {"search": self.search, "test": self.test}.get(command) or self.rule


NOT_READ_BY = {"retrain": "a search setting, which the paper's retrain does not read",
               "test": "a training setting, which the paper's test does not read"}
NOT_READ = "the paper's code does not read it"
NO_SEARCH_SCHEDULE = "the paper's search has no such schedule setting"
NO_SEARCH_EMA = "the paper's search keeps no EMA (search.ema_decay stays 0)"
TOP_LEVEL_OPT = "the paper's code reads the top-level OPT, MOMENTUM and WEIGHT_DECAY instead"
SIX_OPS = "the six inverted-residual ops"
ONLY_SIX_OPS = "the search space has only the six inverted-residual ops"
SCHEDULES = ("cosine", "step", "tanh")  # those of timm 0.1.20; for another name it makes none: the LR stays constant


def to(ours: str | dict, convert: Callable = lambda v: v, note: str | Callable = "") -> Rule:
    """Set our key ``ours`` to the value, ``convert``ed; or each key of a dict ``ours`` to its conversion (a
    function of the value, or a fixed value). ``{command}`` in a key is the command's section; ``note`` may be
    a function of the value."""
    conversions = ours if isinstance(ours, dict) else {ours: convert}
    return lambda t, key, v, f: t.set(key, v, _ours(t, conversions, v), _text(note, v))


def as_ours(note: str | Callable) -> Rule:
    """The value is what we do anyway: nothing to set."""
    return lambda t, key, v, f: t.same(key, v, _text(note, v))


def ignored(why: str) -> Rule:
    return lambda t, key, v, f: t.ignore(key, v, why)


def unsupported(instead: str | Callable, ours: dict | None = None) -> Rule:
    """A warning that says what we do ``instead``, setting ``ours`` (as ``to`` does) when given."""
    return lambda t, key, v, f: t.warn(key, v, _text(instead, v), _ours(t, ours or {}, v))


def when(test: Callable, then: Rule, otherwise: Rule) -> Rule:
    """``then`` for a value that passes ``test``, else ``otherwise``."""
    return lambda t, key, v, f: (then if test(v) else otherwise)(t, key, v, f)


def scheduled(rule: Rule) -> Rule:
    """``rule``, unless SCHED names a schedule the paper's code does not have: it then reads no schedule setting."""
    def apply(t: Official, key: str, v, f: dict) -> None:
        sched = f.get("SCHED")
        if sched is not None and sched not in SCHEDULES:
            t.ignore(key, v, f"the paper's code reads no schedule setting with SCHED {sched!r}")
        else:
            rule(t, key, v, f)
    return apply


def _ours(t: Official, conversions: dict, v) -> list[tuple[str, Any]]:
    return [(key.format(command=t.command), convert(v) if callable(convert) else convert)
            for key, convert in conversions.items()]


def _text(note: str | Callable, v) -> str:
    return note(v) if callable(note) else note


# ---- rules too long for a row: those that read other keys or the selected model, and three-way ones

def _run_folder(t: Official, key: str, v, f: dict) -> None:
    """SAVE_PATH, with MODEL as the run folder under it."""
    out = str(Path(str(v)) / str(f["MODEL"])) if f.get("MODEL") else str(v)
    if t.command == "test":
        t.set(key, v, [("test.out", str(Path(out) / "test.json"))])
    else:
        t.set(key, v, [("run.out_dir", out)], "with MODEL as the run folder" if f.get("MODEL") else "")


def _run_name(t: Official, key: str, v, f: dict) -> None:
    if "SAVE_PATH" not in f:
        t.ignore(key, v, "names the run folder only together with SAVE_PATH")
    elif t.command == "test":
        t.same(key, v, "names the folder of test.json under SAVE_PATH")
    else:
        t.same(key, v, "names the run folder under SAVE_PATH; without the paper's date prefix, so a rerun resumes it")


def _resume_path(t: Official, key: str, v, f: dict) -> None:
    if not _paper_value(f, "AUTO_RESUME"):
        t.ignore(key, v, "read only when AUTO_RESUME is true")
        return
    instead = "a run resumes only from its own run.out_dir (run.resume=auto)"
    if t.command == "retrain":
        instead += f"; to start from its weights, pass --init {v}"
    t.warn(key, v, f"continuing from another run's checkpoint: {instead}")


def _model_resolution(t: Official, key: str, v, f: dict) -> None:
    side = PAPER_ARCHS[t.model][1]
    t.ignore(key, v, f"the paper's code replaces it by {side} px, {t.model}'s resolution, and so do we")


def _batch_size(t: Official, key: str, v, f: dict) -> None:
    multiple = 4 if t.command == "search" else _paper_value(f, "DATASET.VAL_BATCH_MUL")
    pairs = [("data.eval_batch_size", v * multiple)]
    t.set(key, v, ([("data.batch_size", v)] if t.command != "test" else []) + pairs,
          f"per process; evaluation batches are {multiple} times larger, as in the paper's code")


def _eval_batch_size(t: Official, key: str, v, f: dict) -> None:
    t.set(key, v, [("data.eval_batch_size", v * _paper_value(f, "DATASET.BATCH_SIZE"))], "times DATASET.BATCH_SIZE")


def _ema_decay(t: Official, key: str, v, f: dict) -> None:
    if _paper_value(f, "NET.EMA.USE"):
        t.set(key, v, [("retrain.ema_decay", v)])
    else:
        t.ignore(key, v, "NET.EMA.USE is false")


def _lr(t: Official, key: str, v, f: dict) -> None:
    """LR, given at the total batch; the paper's search multiplies it by (LR - step/steps), which works at LR 1."""
    if t.command == "search" and v != 1:
        instead = (f"the paper's search multiplies its LR by (LR - step/steps), so it would start at {v * v:g} and "
                   f"not end at 0; ours starts at {v} and decays linearly to 0")
        t.warn(key, v, instead, _at_total_batch(t, v, f))
    else:
        t.set(key, v, _at_total_batch(t, v, f), "at the total batch DATASET.BATCH_SIZE x NUM_GPU; scaled linearly "
                                                "for another")


def _at_total_batch(t: Official, v, f: dict) -> list[tuple[str, Any]]:
    return [(f"{t.command}.lr", v),
            (f"{t.command}.lr_batch", _paper_value(f, "DATASET.BATCH_SIZE") * _paper_value(f, "NUM_GPU"))]


def _min_lr(t: Official, key: str, v, f: dict) -> None:
    if f.get("SCHED") == "step":
        t.ignore(key, v, "a step schedule has no floor")
    else:
        t.set(key, v, [("retrain.min_lr", v)])


def _decay(t: Official, key: str, v, f: dict) -> None:
    """DECAY_EPOCHS, DECAY_RATE: the step schedule's."""
    sched = f.get("SCHED")
    if sched in ("cosine", "tanh"):
        t.ignore(key, v, f"its {sched} schedule runs one cycle, where this has no effect")
    else:
        t.set(key, v, [(f"retrain.{key.lower()}", v)])


def _cooldown(t: Official, key: str, v, f: dict) -> None:
    if v and f.get("SCHED") != "step":
        t.warn(key, v, f"after a cosine schedule the paper's code trains {v} more epochs at MIN_LR; we stop after "
                       "EPOCHS")
    else:
        t.ignore(key, v, "no cool-down" if not v else "a step schedule has no cool-down")


def _search_interpolation(t: Official, key: str, v, f: dict) -> None:
    ours = [("data.interpolation", "random")]
    if v == "bicubic":
        t.set(key, v, ours, "the paper's search trains with random interpolation and evaluates with this one, as ours "
                            "does")
    else:
        t.warn(key, v, f"the paper's search trains with random interpolation and evaluates with {v!r}; we train with "
                       "random and evaluate with bicubic (data.interpolation=random)", ours)


def _schedule(t: Official, key: str, v, f: dict) -> None:
    """SCHED of the retrain: timm 0.1.20 makes no schedule for a name it does not know, so the LR stays constant."""
    if v in ("cosine", "step"):
        t.set(key, v, [("retrain.sched", v)])
    elif v == "tanh":
        t.warn(key, v, "there is no tanh schedule; retrain.sched keeps the preset's")
    else:
        t.set(key, v, [("retrain.sched", "step"), ("retrain.decay_rate", 1.0), ("retrain.warmup_epochs", 0.0)],
              f"the paper's code has no schedule named {v!r} and keeps LR constant; so does a step schedule with "
              "decay rate 1 and no warm-up")


def _sampling(t: Official, key: str, v, f: dict) -> None:
    """HOW_TO_PROB: how the paper's search draws paths."""
    if v in ("even", "pre_prob"):
        t.set(key, v, [("search.sampling", "uniform" if v == "even" else "fixed")])
    elif v == "teacher":
        t.warn(key, v, "paths are drawn with op frequencies of the board as in the paper, plus one per op, so no op "
                       "becomes unreachable", [("search.sampling", "learned")])
    else:
        t.warn(key, v, "paths are drawn 'even', 'pre_prob' or 'teacher'; search.sampling keeps the preset's")


def _op_probs(t: Official, key: str, v, f: dict) -> None:
    """PRE_PROB: six per-op probabilities, written as a tuple like ``(0.05,0.2,0.05,0.5,0.05,0.15)``."""
    if not (isinstance(v, (tuple, list)) and len(v) == NUM_OPS and
            all(isinstance(p, (int, float)) and not isinstance(p, bool) for p in v)):
        raise CreamError(f"{t.path}: SUPERNET.PRE_PROB {v!r} is not six numbers like (0.05,0.2,0.05,0.5,0.05,0.15), "
                         f"one per op ({', '.join(op_name(op) for op in range(NUM_OPS))})")
    t.set(key, v, [("search.op_probs", [float(p) for p in v])])


# ------------------------------------------------------------------------------------------------ the table

# Every key of the paper's lib/config.py, in its order, and MODEL_SELECTION: the README's spelling of NET.SELECTION.
# reads: which of the paper's search (tools/train.py), retrain and test read the key; a command that does not read
# it lists it as ignored, saying why. The rule says what the value becomes in ours for a command that reads it:
# `to` our key (converted), `as_ours` (nothing to set), `ignored` (the paper's code does not use it either) or
# `unsupported` (a warning that says what we do instead); `search=` and `test=` give a command its own rule.
PAPER_KEYS: dict[str, PaperKey] = {key.name: key for key in (
    # ---- run and files
    PaperKey("AUTO_RESUME",                 "srt", as_ours(lambda v: "see RESUME_PATH" if v else "a new run starts "
                                                           "afresh; an interrupted run in run.out_dir resumes, "
                                                           "--force starts it over"),
                                                   test=ignored("cream test loads RESUME_PATH either way")),
    PaperKey("DATA_DIR",                    "srt", to({"data.dataset": "imagefolder", "data.root": str},
                                                      note="train/ and val/ under it, as the paper's code reads them")),
    PaperKey("MODEL",                       "srt", _run_name),
    PaperKey("RESUME_PATH",                 "srt", _resume_path, test=to("test.checkpoint", str)),
    PaperKey("SAVE_PATH",                   "srt", _run_folder),
    PaperKey("SEED",                        "srt", to("run.seed")),
    PaperKey("LOG_INTERVAL",                "srt", unsupported("we log once per epoch (with a progress bar on a "
                                                               "terminal)"),
                                                   test=unsupported("cream test prints its result at the end")),
    PaperKey("RECOVERY_INTERVAL",           "sr-", to("run.ckpt_every_steps",
                                                      note="0: a checkpoint at every epoch's end only")),
    PaperKey("WORKERS",                     "srt", to("data.workers")),
    PaperKey("NUM_GPU",                     "srt", as_ours(lambda v: f"start {v} processes with torchrun "
                                                           f"--nproc_per_node={v}; LR is given at the total batch "
                                                           "DATASET.BATCH_SIZE x NUM_GPU"),
                                                   test=as_ours(lambda v: f"start {v} processes with torchrun "
                                                                f"--nproc_per_node={v}")),
    PaperKey("SAVE_IMAGES",                 "sr-", when(not_, as_ours("input images are never saved"),
                                                        unsupported("we never save input images"))),
    PaperKey("AMP",                         "srt", to("run.bf16", bool, "bf16 autocast on a GPU instead of apex fp16")),
    PaperKey("OUTPUT",                      "sr-", ignored(NOT_READ)),
    PaperKey("EVAL_METRICS",                "-r-", when(lambda v: v == "prec1", as_ours("best.pth is the best top-1"),
                                                        unsupported("best.pth is always the best top-1 (prec1)")),
                                                   unread="the search keeps no best-by-metric checkpoint"),
    PaperKey("TTA",                         "srt", when(not_, as_ours("no test-time augmentation"),
                                                        unsupported("there is no test-time augmentation; images "
                                                                    "are evaluated once"))),
    PaperKey("LOCAL_RANK",                  "srt", ignored("torchrun sets each process's rank")),
    PaperKey("VERBOSE",                     "sr-", ignored("it only logs how the paper's supernet is built")),
    # ---- data
    PaperKey("DATASET.NUM_CLASSES",         "srt", to("space.num_classes"),
                                                   test=ignored("the class count is read off the checkpoint's "
                                                                "classifier and must match the data")),
    PaperKey("DATASET.IMAGE_SIZE",          "srt", _model_resolution, search=to("space.resolution")),
    PaperKey("DATASET.INTERPOLATION",       "srt", to("data.interpolation", "random", "the paper's code trains with "
                                                      "random interpolation and evaluates with bicubic, whatever "
                                                      "the file says"),
                                                   search=_search_interpolation,
                                                   test=to("data.interpolation", "bicubic", "the paper's test reads "
                                                           "bicubic, whatever the file says")),
    PaperKey("DATASET.BATCH_SIZE",          "srt", _batch_size),
    PaperKey("DATASET.NO_PREFECHTER",       "sr-", ignored(NOT_READ)),
    PaperKey("DATASET.PIN_MEM",             "srt", ignored("a loader speed setting, which we do not expose")),
    PaperKey("DATASET.VAL_BATCH_MUL",       "-rt", _eval_batch_size,
                                                   unread="the paper's search evaluates batches of 4 x "
                                                          "DATASET.BATCH_SIZE"),
    # ---- the network
    PaperKey("NET.SELECTION",               "-rt", None, unread="the search picks its own architecture"),
    PaperKey("MODEL_SELECTION",             "-rt", None, unread="the search picks its own architecture"),
    PaperKey("NET.GP",                      "srt", when(lambda v: v == "avg", as_ours("global average pooling"),
                                                        unsupported("the head always average-pools"))),
    PaperKey("NET.DROPOUT_RATE",            "sr-", to("space.drop_rate")),
    PaperKey("NET.EMA.USE",                 "-rt", when(not_, to("retrain.ema_decay", 0.0, "no EMA"),
                                                        as_ours("an EMA of NET.EMA.DECAY")),
                                                   test=as_ours("the EMA weights are tested when the file has them "
                                                                "(--plain adds the others)"),
                                                   unread=NO_SEARCH_EMA),
    PaperKey("NET.EMA.FORCE_CPU",           "sr-", when(not_, as_ours("the EMA lives on the training device"),
                                                        unsupported("the EMA stays on the training device"))),
    PaperKey("NET.EMA.DECAY",               "-r-", _ema_decay, unread=NO_SEARCH_EMA),
    # ---- optimizer
    PaperKey("OPT",                         "sr-", to("retrain.opt", note="a timm optimizer name"),
                                                   search=when(lambda v: str(v).lower().split("_")[-1] in
                                                               ("sgd", "nesterov"), as_ours("Nesterov SGD"),
                                                               unsupported("the search always uses Nesterov SGD"))),
    PaperKey("OPT_EPS",                     "-r-", to("retrain.opt_eps"), unread=NO_SEARCH_SCHEDULE),
    PaperKey("MOMENTUM",                    "sr-", to("{command}.momentum")),
    PaperKey("WEIGHT_DECAY",                "sr-", to("{command}.weight_decay")),
    PaperKey("OPTIMIZER.NAME",              "sr-", ignored(TOP_LEVEL_OPT)),
    PaperKey("OPTIMIZER.MOMENTUM",          "sr-", ignored(TOP_LEVEL_OPT)),
    PaperKey("OPTIMIZER.WEIGHT_DECAY",      "sr-", ignored(TOP_LEVEL_OPT)),
    # ---- schedule
    PaperKey("SCHED",                       "sr-", _schedule,
                                                   search=as_ours("the paper's search decays the LR linearly to 0 "
                                                                  "whatever SCHED says, as ours does")),
    PaperKey("LR_NOISE_PCT",                "-r-", scheduled(ignored("read only together with LR_NOISE")),
                                                   unread=NO_SEARCH_SCHEDULE),
    PaperKey("LR_NOISE_STD",                "-r-", scheduled(ignored("read only together with LR_NOISE")),
                                                   unread=NO_SEARCH_SCHEDULE),
    PaperKey("WARMUP_LR",                   "-r-", scheduled(to("retrain.warmup_lr")), unread=NO_SEARCH_SCHEDULE),
    PaperKey("MIN_LR",                      "-r-", scheduled(_min_lr), unread=NO_SEARCH_SCHEDULE),
    PaperKey("EPOCHS",                      "sr-", to("{command}.epochs")),
    PaperKey("START_EPOCH",                 "sr-", ignored("the paper's code starts at 0 or at the resumed epoch, "
                                                           "as ours does")),
    PaperKey("DECAY_EPOCHS",                "-r-", scheduled(_decay), unread=NO_SEARCH_SCHEDULE),
    PaperKey("WARMUP_EPOCHS",               "-r-", scheduled(to("retrain.warmup_epochs")), unread=NO_SEARCH_SCHEDULE),
    PaperKey("COOLDOWN_EPOCHS",             "-r-", scheduled(_cooldown), unread=NO_SEARCH_SCHEDULE),
    PaperKey("PATIENCE_EPOCHS",             "-r-", scheduled(ignored("only a plateau schedule reads it")),
                                                   unread=NO_SEARCH_SCHEDULE),
    PaperKey("DECAY_RATE",                  "-r-", scheduled(_decay), unread=NO_SEARCH_SCHEDULE),
    PaperKey("LR",                          "sr-", _lr),
    PaperKey("LR_NOISE",                    "-r-", scheduled(when(lambda v: v is None, as_ours("no LR noise"),
                                                                  unsupported("the LR carries no noise"))),
                                                   unread=NO_SEARCH_SCHEDULE),
    PaperKey("META_LR",                     "s--", to("search.meta_lr")),
    # ---- augmentation
    PaperKey("AUGMENTATION.AA",             "-r-", to("data.auto_augment", lambda v: v or None),
                                                   unread="the paper's search uses no auto-augment"),
    PaperKey("AUGMENTATION.COLOR_JITTER",   "sr-", to("data.color_jitter")),
    PaperKey("AUGMENTATION.RE_PROB",        "sr-", to("data.reprob")),
    PaperKey("AUGMENTATION.RE_MODE",        "sr-", when(lambda v: v == "pixel",
                                                        as_ours("random erasing with per-pixel noise"),
                                                        unsupported("random erasing always fills with per-pixel "
                                                                    "noise ('pixel')"))),
    PaperKey("AUGMENTATION.MIXUP",          "sr-", ignored(NOT_READ)),
    PaperKey("AUGMENTATION.MIXUP_OFF_EPOCH", "sr-", ignored(NOT_READ)),
    PaperKey("AUGMENTATION.SMOOTHING",      "sr-", to("{command}.label_smoothing")),
    # ---- batch norm
    PaperKey("BATCHNORM.SYNC_BN",           "sr-", when(not_, as_ours("BatchNorm statistics per process"),
                                                        unsupported("BatchNorm statistics stay per process"))),
    PaperKey("BATCHNORM.BN_TF",             "sr-", ignored(NOT_READ)),
    PaperKey("BATCHNORM.BN_MOMENTUM",       "sr-", ignored(NOT_READ)),
    PaperKey("BATCHNORM.BN_EPS",            "sr-", ignored(NOT_READ)),
    # ---- the search
    PaperKey("SUPERNET.UPDATE_ITER",        "s--", to("search.meta_update_every")),
    PaperKey("SUPERNET.SLICE",              "s--", to("search.slice_size", note="images kept per board path; the "
                                                      "meta update's slice stays search.meta_slice")),
    PaperKey("SUPERNET.POOL_SIZE",          "s--", to("search.board_size")),
    PaperKey("SUPERNET.RESUNIT",            "s--", when(not_, as_ours(SIX_OPS), unsupported(ONLY_SIX_OPS))),
    PaperKey("SUPERNET.DIL_CONV",           "s--", when(not_, as_ours(SIX_OPS), unsupported(ONLY_SIX_OPS))),
    PaperKey("SUPERNET.UPDATE_2ND",         "s--", ignored("the paper's code does not read it; our meta update "
                                                           "is second order")),
    PaperKey("SUPERNET.FLOPS_MAXIMUM",      "s--", to("space.flops_max")),
    PaperKey("SUPERNET.FLOPS_MINIMUM",      "s--", to("space.flops_min")),
    PaperKey("SUPERNET.PICK_METHOD",        "s--", when(lambda v: v in ("meta", "top1"), to("search.teacher"),
                                                        unsupported("the teacher is picked by 'meta' or 'top1'; "
                                                                    "search.teacher keeps the preset's"))),
    PaperKey("SUPERNET.META_STA_EPOCH",     "s--", to("search.warmup_epochs", lambda v: v + 1, lambda v: "the "
                                                      f"paper's board starts after epoch index {v}, that is after "
                                                      f"{v + 1} epochs")),
    PaperKey("SUPERNET.HOW_TO_PROB",        "s--", _sampling),
    PaperKey("SUPERNET.PRE_PROB",           "s--", _op_probs),
)}

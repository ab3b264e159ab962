"""Config files of the paper's code (microsoft/Cream, ``experiments/configs/{train,retrain,test}/*.yaml``) as ours.

``translate(path, command)`` maps every key of such a file that we support to our ``section.key`` values, lists
the keys the paper's code itself does not read for that command, and names each key we do not support with what
we do instead. What the paper's code does with a key (said beside it) comes from its tools/train.py, retrain.py,
test.py and lib/ (on timm 0.1.20). Keys a file leaves out keep the values of our preset for the same run.
"""

from __future__ import annotations

import ast
import difflib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from cream.errors import CreamError
from cream.space.arch import NUM_OPS
from cream.space.report import op_name
from cream.space.zoo import PAPER_ARCHS, README_NAMES, name_note, paper_model

# Every key of the paper's lib/config.py, and MODEL_SELECTION: the README's spelling of NET.SELECTION.
PAPER_KEYS = frozenset("""
AUTO_RESUME DATA_DIR MODEL RESUME_PATH SAVE_PATH SEED LOG_INTERVAL RECOVERY_INTERVAL WORKERS NUM_GPU SAVE_IMAGES AMP
OUTPUT EVAL_METRICS TTA LOCAL_RANK VERBOSE
DATASET.NUM_CLASSES DATASET.IMAGE_SIZE DATASET.INTERPOLATION DATASET.BATCH_SIZE DATASET.NO_PREFECHTER DATASET.PIN_MEM
DATASET.VAL_BATCH_MUL
NET.SELECTION NET.GP NET.DROPOUT_RATE NET.EMA.USE NET.EMA.FORCE_CPU NET.EMA.DECAY
OPT OPT_EPS MOMENTUM WEIGHT_DECAY OPTIMIZER.NAME OPTIMIZER.MOMENTUM OPTIMIZER.WEIGHT_DECAY
SCHED LR_NOISE LR_NOISE_PCT LR_NOISE_STD WARMUP_LR MIN_LR EPOCHS START_EPOCH DECAY_EPOCHS WARMUP_EPOCHS
COOLDOWN_EPOCHS PATIENCE_EPOCHS DECAY_RATE LR META_LR
AUGMENTATION.AA AUGMENTATION.COLOR_JITTER AUGMENTATION.RE_PROB AUGMENTATION.RE_MODE AUGMENTATION.MIXUP
AUGMENTATION.MIXUP_OFF_EPOCH AUGMENTATION.SMOOTHING
BATCHNORM.SYNC_BN BATCHNORM.BN_TF BATCHNORM.BN_MOMENTUM BATCHNORM.BN_EPS
SUPERNET.UPDATE_ITER SUPERNET.SLICE SUPERNET.POOL_SIZE SUPERNET.RESUNIT SUPERNET.DIL_CONV SUPERNET.UPDATE_2ND
SUPERNET.FLOPS_MINIMUM SUPERNET.FLOPS_MAXIMUM SUPERNET.PICK_METHOD SUPERNET.META_STA_EPOCH SUPERNET.HOW_TO_PROB
SUPERNET.PRE_PROB
MODEL_SELECTION
""".split())

# Keys the paper's tools/test.py (or our test) reads; every other key is a training setting there.
TEST_KEYS = frozenset("""
DATA_DIR RESUME_PATH AUTO_RESUME SAVE_PATH MODEL SEED WORKERS NUM_GPU AMP TTA LOCAL_RANK LOG_INTERVAL
DATASET.BATCH_SIZE DATASET.VAL_BATCH_MUL DATASET.INTERPOLATION DATASET.IMAGE_SIZE DATASET.NUM_CLASSES DATASET.PIN_MEM
NET.SELECTION MODEL_SELECTION NET.GP NET.EMA.USE
""".split())

# The paper's defaults (lib/config.py) for the keys other keys depend on.
PAPER_DEFAULTS = {"DATASET.BATCH_SIZE": 32, "NUM_GPU": 1, "DATASET.VAL_BATCH_MUL": 4, "NET.SELECTION": 14,
                  "NET.EMA.USE": True, "AUTO_RESUME": True}
PRESETS = {"search": "imagenet"}  # retrain: the selected model's recipe; test: no preset


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
        if key in ("NET.SELECTION", "MODEL_SELECTION") and command != "search":
            continue  # done by _select_model
        if command == "test" and key not in TEST_KEYS:
            t.ignore(key, value, "a training setting, which the paper's test does not read")
        elif command == "retrain" and (key.startswith("SUPERNET.") or key == "META_LR"):
            t.ignore(key, value, "a search setting, which the paper's retrain does not read")
        else:
            _translate_key(t, key, value, f)
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


def _translate_key(t: Official, key: str, v, f: dict) -> None:  # one case per key: a table, read top to bottom
    cmd = t.command
    train = cmd in ("search", "retrain")
    sched = f.get("SCHED")
    constant = cmd == "retrain" and sched is not None and sched not in ("cosine", "step", "tanh")
    batch, gpus = _paper_value(f, "DATASET.BATCH_SIZE"), _paper_value(f, "NUM_GPU")
    match key:
        # ---- run and files
        case "DATA_DIR":
            t.set(key, v, [("data.dataset", "imagefolder"), ("data.root", str(v))], "train/ and val/ under it, as the "
                  "paper's code reads them")
        case "SAVE_PATH":
            out = str(Path(str(v)) / str(f["MODEL"])) if f.get("MODEL") else str(v)
            if cmd == "test":
                t.set(key, v, [("test.out", str(Path(out) / "test.json"))])
            else:
                t.set(key, v, [("run.out_dir", out)], "with MODEL as the run folder" if f.get("MODEL") else "")
        case "MODEL":
            if "SAVE_PATH" in f and cmd == "test":
                t.same(key, v, "names the folder of test.json under SAVE_PATH")
            elif "SAVE_PATH" in f:
                t.same(key, v, "names the run folder under SAVE_PATH; without the paper's date prefix, so a rerun "
                               "resumes it")
            else:
                t.ignore(key, v, "names the run folder only together with SAVE_PATH")
        case "RESUME_PATH":
            if cmd == "test":
                t.set(key, v, [("test.checkpoint", str(v))])
            elif _paper_value(f, "AUTO_RESUME"):
                instead = "a run resumes only from its own run.out_dir (run.resume=auto)"
                if cmd == "retrain":
                    instead += f"; to start from its weights, pass --init {v}"
                t.warn(key, v, f"continuing from another run's checkpoint: {instead}")
            else:
                t.ignore(key, v, "read only when AUTO_RESUME is true")
        case "AUTO_RESUME":
            if cmd == "test":
                t.ignore(key, v, "cream test loads RESUME_PATH either way")
            elif v:
                t.same(key, v, "see RESUME_PATH")
            else:
                t.same(key, v, "a new run starts afresh; an interrupted run in run.out_dir resumes, --force "
                               "starts it over")
        case "SEED":
            t.set(key, v, [("run.seed", v)])
        case "WORKERS":
            t.set(key, v, [("data.workers", v)])
        case "NUM_GPU":
            if train:
                t.same(key, v, f"start {v} processes with torchrun --nproc_per_node={v}; LR is given at the total "
                               "batch DATASET.BATCH_SIZE x NUM_GPU")
            else:
                t.same(key, v, f"start {v} processes with torchrun --nproc_per_node={v}")
        case "AMP":
            t.set(key, v, [("run.bf16", bool(v))], "bf16 autocast on a GPU instead of apex fp16")
        case "RECOVERY_INTERVAL":
            if train:
                t.set(key, v, [("run.ckpt_every_steps", v)], "0: a checkpoint at every epoch's end only")
            else:
                t.ignore(key, v, "a training setting")
        case "LOG_INTERVAL":
            t.warn(key, v, "cream test prints its result at the end" if cmd == "test" else
                   "we log once per epoch (with a progress bar on a terminal)")
        case "SAVE_IMAGES" if not v:
            t.same(key, v, "input images are never saved")
        case "SAVE_IMAGES":
            t.warn(key, v, "we never save input images")
        case "EVAL_METRICS" if cmd == "retrain" and v == "prec1":
            t.same(key, v, "best.pth is the best top-1")
        case "EVAL_METRICS" if cmd == "retrain":
            t.warn(key, v, "best.pth is always the best top-1 (prec1)")
        case "EVAL_METRICS":
            t.ignore(key, v, f"the {cmd} keeps no best-by-metric checkpoint")
        case "TTA" if not v:
            t.same(key, v, "no test-time augmentation")
        case "TTA":
            t.warn(key, v, "there is no test-time augmentation; images are evaluated once")
        case "OUTPUT":
            t.ignore(key, v, "the paper's code does not read it")
        case "LOCAL_RANK":
            t.ignore(key, v, "torchrun sets each process's rank")
        case "VERBOSE":
            t.ignore(key, v, "it only logs how the paper's supernet is built")
        # ---- data
        case "DATASET.NUM_CLASSES" if cmd == "test":
            t.ignore(key, v, "the class count is read off the checkpoint's classifier and must match the data")
        case "DATASET.NUM_CLASSES":
            t.set(key, v, [("space.num_classes", v)])
        case "DATASET.IMAGE_SIZE" if cmd == "search":
            t.set(key, v, [("space.resolution", v)])
        case "DATASET.IMAGE_SIZE":
            side = PAPER_ARCHS[t.model][1]
            t.ignore(key, v, f"the paper's code replaces it by {side} px, {t.model}'s resolution, and so do we")
        case "DATASET.INTERPOLATION" if cmd == "search" and v == "bicubic":
            t.set(key, v, [("data.interpolation", "random")], "the paper's search trains with random interpolation "
                                                               "and evaluates with this one, as ours does")
        case "DATASET.INTERPOLATION" if cmd == "search":
            t.warn(key, v, f"the paper's search trains with random interpolation and evaluates with {v!r}; we train "
                           "with random and evaluate with bicubic (data.interpolation=random)",
                   [("data.interpolation", "random")])
        case "DATASET.INTERPOLATION" if cmd == "test":
            t.set(key, v, [("data.interpolation", "bicubic")], "the paper's test reads bicubic, whatever the file "
                                                                "says")
        case "DATASET.INTERPOLATION":
            t.set(key, v, [("data.interpolation", "random")], "the paper's code trains with random interpolation "
                                                               "and evaluates with bicubic, whatever the file says")
        case "DATASET.BATCH_SIZE":
            multiple = 4 if cmd == "search" else _paper_value(f, "DATASET.VAL_BATCH_MUL")
            pairs = [("data.eval_batch_size", v * multiple)]
            t.set(key, v, ([("data.batch_size", v)] if train else []) + pairs,
                  f"per process; evaluation batches are {multiple} times larger, as in the paper's code")
        case "DATASET.VAL_BATCH_MUL" if cmd == "search":
            t.ignore(key, v, "the paper's search evaluates batches of 4 x DATASET.BATCH_SIZE")
        case "DATASET.VAL_BATCH_MUL":
            t.set(key, v, [("data.eval_batch_size", v * batch)], "times DATASET.BATCH_SIZE")
        case "DATASET.NO_PREFECHTER":
            t.ignore(key, v, "the paper's code does not read it")
        case "DATASET.PIN_MEM":
            t.ignore(key, v, "a loader speed setting, which we do not expose")
        # ---- the network
        case "NET.SELECTION" | "MODEL_SELECTION":
            t.ignore(key, v, "the search picks its own architecture")
        case "NET.GP" if v == "avg":
            t.same(key, v, "global average pooling")
        case "NET.GP":
            t.warn(key, v, "the head always average-pools")
        case "NET.DROPOUT_RATE":
            t.set(key, v, [("space.drop_rate", v)])
        case "NET.EMA.USE" if cmd == "test":
            t.same(key, v, "the EMA weights are tested when the file has them (--plain adds the others)")
        case "NET.EMA.USE" | "NET.EMA.DECAY" if cmd == "search":
            t.ignore(key, v, "the paper's search keeps no EMA (search.ema_decay stays 0)")
        case "NET.EMA.USE":
            if not v:
                t.set(key, v, [("retrain.ema_decay", 0.0)], "no EMA")
            else:
                t.same(key, v, "an EMA of NET.EMA.DECAY")
        case "NET.EMA.DECAY" if _paper_value(f, "NET.EMA.USE"):
            t.set(key, v, [("retrain.ema_decay", v)])
        case "NET.EMA.DECAY":
            t.ignore(key, v, "NET.EMA.USE is false")
        case "NET.EMA.FORCE_CPU" if not v:
            t.same(key, v, "the EMA lives on the training device")
        case "NET.EMA.FORCE_CPU":
            t.warn(key, v, "the EMA stays on the training device")
        # ---- optimizer and schedule
        case "OPT" if cmd == "retrain":
            t.set(key, v, [("retrain.opt", v)], "a timm optimizer name")
        case "OPT" if str(v).lower().split("_")[-1] in ("sgd", "nesterov"):
            t.same(key, v, "Nesterov SGD")
        case "OPT":
            t.warn(key, v, "the search always uses Nesterov SGD")
        case "OPT_EPS" if cmd == "retrain":
            t.set(key, v, [("retrain.opt_eps", v)])
        case "MOMENTUM" | "WEIGHT_DECAY" | "EPOCHS":
            t.set(key, v, [(f"{cmd}.{key.lower()}", v)])
        case "LR" if cmd == "search" and v != 1:
            t.warn(key, v, f"the paper's search multiplies its LR by (LR - step/steps), so it would start at "
                           f"{v * v:g} and not end at 0; ours starts at {v} and decays linearly to 0",
                   [("search.lr", v), ("search.lr_batch", batch * gpus)])
        case "LR":
            t.set(key, v, [(f"{cmd}.lr", v), (f"{cmd}.lr_batch", batch * gpus)],
                  "at the total batch DATASET.BATCH_SIZE x NUM_GPU; scaled linearly for another")
        case "META_LR":
            t.set(key, v, [("search.meta_lr", v)])
        case "SCHED" if cmd == "search":
            t.same(key, v, "the paper's search decays the LR linearly to 0 whatever SCHED says, as ours does")
        case "SCHED" if v in ("cosine", "step"):
            t.set(key, v, [("retrain.sched", v)])
        case "SCHED" if v == "tanh":
            t.warn(key, v, "there is no tanh schedule; retrain.sched keeps the preset's")
        case "SCHED":
            t.set(key, v, [("retrain.sched", "step"), ("retrain.decay_rate", 1.0), ("retrain.warmup_epochs", 0.0)],
                  f"the paper's code has no schedule named {v!r} and keeps LR constant; so does a step schedule "
                  "with decay rate 1 and no warm-up")
        case _ if cmd == "search" and key in SCHEDULE_KEYS:
            t.ignore(key, v, "the paper's search has no such schedule setting")
        case _ if constant and key in SCHEDULE_KEYS:
            t.ignore(key, v, f"the paper's code reads no schedule setting with SCHED {sched!r}")
        case "WARMUP_LR" | "WARMUP_EPOCHS":
            t.set(key, v, [(f"retrain.{key.lower()}", v)])
        case "MIN_LR" if sched == "step":
            t.ignore(key, v, "a step schedule has no floor")
        case "MIN_LR":
            t.set(key, v, [("retrain.min_lr", v)])
        case "DECAY_EPOCHS" | "DECAY_RATE" if sched in ("cosine", "tanh"):
            t.ignore(key, v, f"its {sched} schedule runs one cycle, where this has no effect")
        case "DECAY_EPOCHS" | "DECAY_RATE":
            t.set(key, v, [(f"retrain.{key.lower()}", v)])
        case "COOLDOWN_EPOCHS" if v and sched != "step":
            t.warn(key, v, f"after a cosine schedule the paper's code trains {v} more epochs at MIN_LR; we stop "
                           "after EPOCHS")
        case "COOLDOWN_EPOCHS":
            t.ignore(key, v, "no cool-down" if not v else "a step schedule has no cool-down")
        case "PATIENCE_EPOCHS":
            t.ignore(key, v, "only a plateau schedule reads it")
        case "LR_NOISE_PCT" | "LR_NOISE_STD":
            t.ignore(key, v, "read only together with LR_NOISE")
        case "LR_NOISE" if v is None:
            t.same(key, v, "no LR noise")
        case "LR_NOISE":
            t.warn(key, v, "the LR carries no noise")
        case "START_EPOCH":
            t.ignore(key, v, "the paper's code starts at 0 or at the resumed epoch, as ours does")
        case "OPTIMIZER.NAME" | "OPTIMIZER.MOMENTUM" | "OPTIMIZER.WEIGHT_DECAY":
            t.ignore(key, v, "the paper's code reads the top-level OPT, MOMENTUM and WEIGHT_DECAY instead")
        # ---- augmentation
        case "AUGMENTATION.AA" if cmd == "search":
            t.ignore(key, v, "the paper's search uses no auto-augment")
        case "AUGMENTATION.AA":
            t.set(key, v, [("data.auto_augment", v or None)])
        case "AUGMENTATION.COLOR_JITTER":
            t.set(key, v, [("data.color_jitter", v)])
        case "AUGMENTATION.RE_PROB":
            t.set(key, v, [("data.reprob", v)])
        case "AUGMENTATION.RE_MODE" if v == "pixel":
            t.same(key, v, "random erasing with per-pixel noise")
        case "AUGMENTATION.RE_MODE":
            t.warn(key, v, "random erasing always fills with per-pixel noise ('pixel')")
        case "AUGMENTATION.SMOOTHING":
            t.set(key, v, [(f"{cmd}.label_smoothing", v)])
        case "AUGMENTATION.MIXUP" | "AUGMENTATION.MIXUP_OFF_EPOCH":
            t.ignore(key, v, "the paper's code does not read it")
        # ---- batch norm
        case "BATCHNORM.SYNC_BN" if not v:
            t.same(key, v, "BatchNorm statistics per process")
        case "BATCHNORM.SYNC_BN":
            t.warn(key, v, "BatchNorm statistics stay per process")
        case "BATCHNORM.BN_TF" | "BATCHNORM.BN_MOMENTUM" | "BATCHNORM.BN_EPS":
            t.ignore(key, v, "the paper's code does not read it")
        # ---- the search
        case "SUPERNET.UPDATE_ITER":
            t.set(key, v, [("search.meta_update_every", v)])
        case "SUPERNET.SLICE":
            t.set(key, v, [("search.slice_size", v)], "images kept per board path; the meta update's slice stays "
                                                      "search.meta_slice")
        case "SUPERNET.POOL_SIZE":
            t.set(key, v, [("search.board_size", v)])
        case "SUPERNET.RESUNIT" | "SUPERNET.DIL_CONV" if not v:
            t.same(key, v, "the six inverted-residual ops")
        case "SUPERNET.RESUNIT" | "SUPERNET.DIL_CONV":
            t.warn(key, v, "the search space has only the six inverted-residual ops")
        case "SUPERNET.UPDATE_2ND":
            t.ignore(key, v, "the paper's code does not read it; our meta update is second order")
        case "SUPERNET.FLOPS_MINIMUM":
            t.set(key, v, [("space.flops_min", v)])
        case "SUPERNET.FLOPS_MAXIMUM":
            t.set(key, v, [("space.flops_max", v)])
        case "SUPERNET.PICK_METHOD" if v in ("meta", "top1"):
            t.set(key, v, [("search.teacher", v)])
        case "SUPERNET.PICK_METHOD":
            t.warn(key, v, "the teacher is picked by 'meta' or 'top1'; search.teacher keeps the preset's")
        case "SUPERNET.META_STA_EPOCH":
            t.set(key, v, [("search.warmup_epochs", v + 1)], "the paper's board starts after epoch index "
                                                             f"{v}, that is after {v + 1} epochs")
        case "SUPERNET.HOW_TO_PROB" if v in ("even", "pre_prob"):
            t.set(key, v, [("search.sampling", "uniform" if v == "even" else "fixed")])
        case "SUPERNET.HOW_TO_PROB" if v == "teacher":
            t.warn(key, v, "paths are drawn with op frequencies of the board as in the paper, plus one per op, "
                           "so no op becomes unreachable", [("search.sampling", "learned")])
        case "SUPERNET.HOW_TO_PROB":
            t.warn(key, v, "paths are drawn 'even', 'pre_prob' or 'teacher'; search.sampling keeps the preset's")
        case "SUPERNET.PRE_PROB":
            t.set(key, v, [("search.op_probs", _probs(t.path, v))])
        case _:
            raise AssertionError(f"no rule for the paper's key {key}")  # a bug here: every PAPER_KEYS entry has one


SCHEDULE_KEYS = frozenset("WARMUP_LR WARMUP_EPOCHS MIN_LR DECAY_EPOCHS DECAY_RATE COOLDOWN_EPOCHS PATIENCE_EPOCHS "
                          "LR_NOISE LR_NOISE_PCT LR_NOISE_STD OPT_EPS".split())


def _probs(path: Path, value) -> list[float]:
    """PRE_PROB: six per-op probabilities, written as a tuple like ``(0.05,0.2,0.05,0.5,0.05,0.15)``."""
    if isinstance(value, (tuple, list)) and len(value) == NUM_OPS and \
            all(isinstance(p, (int, float)) and not isinstance(p, bool) for p in value):
        return [float(p) for p in value]
    raise CreamError(f"{path}: SUPERNET.PRE_PROB {value!r} is not six numbers like (0.05,0.2,0.05,0.5,0.05,0.15), "
                     f"one per op ({', '.join(op_name(op) for op in range(NUM_OPS))})")

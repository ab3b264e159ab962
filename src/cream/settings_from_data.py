"""Settings taken from the data: the keys of a search or retrain config left null get values from its dataset.

``settings_from_data`` fills them (classes, channels, resolution, batch size, run folder, the architecture to
retrain, the class names of data from Python) and stretches a schedule too short for ``min_steps``; it returns the
lines that say what it decided, for the run's log. A completed config completes to itself unchanged, so a resumed
run sees the same config.
"""

from __future__ import annotations

import copy
import math
import os

import torch

from cream.config import AUTO_BATCH, AUTO_EPOCH_STEPS, AUTO_MAX_RESOLUTION, run_folder
from cream.data.loaders import training_split
from cream.data.splits import select_per_class
from cream.data.survey import Survey, survey
from cream.errors import CreamError


def auto_batch(images: int) -> int:
    """The largest power of two in AUTO_BATCH that leaves an epoch of ``images`` at least AUTO_EPOCH_STEPS steps
    (at most ``images``, so that an epoch has a step)."""
    low, batch = AUTO_BATCH
    while batch > low and images // batch < AUTO_EPOCH_STEPS:
        batch //= 2
    return max(1, min(batch, images))


def training_images(found: Survey, data, command: str) -> int:
    """How many images one epoch trains on, as build_data will select them."""
    labels = found.train_labels
    if command == "retrain" and "val" in found.splits:
        return len(select_per_class(labels, torch.arange(len(labels)), data.classes, data.train_per_class,
                                    data.split_seed))
    return len(training_split(labels, data)[0])


def stretch(epochs: int, warmup: float, steps_per_epoch: int, min_steps: int) -> tuple[int, float]:
    """(epochs, warm-up epochs) grown in proportion until the epochs hold ``min_steps`` steps."""
    if epochs * steps_per_epoch >= min_steps or steps_per_epoch == 0:
        return epochs, warmup
    longer = math.ceil(min_steps / steps_per_epoch)
    return longer, warmup * longer / epochs


def settings_from_data(cfg, command: str):
    """(a copy of ``cfg`` with every data-dependent null key set, log lines) for ``command`` search or retrain."""
    cfg = copy.deepcopy(cfg)
    data, space = cfg.data, cfg.space
    recipe = cfg.search if command == "search" else cfg.retrain
    nulls = [space.num_classes, space.in_chans, space.resolution, data.batch_size, cfg.run.out_dir]
    if command == "retrain":
        nulls.append(recipe.arch)
    if data.dataset == "memory":
        nulls.append(data.class_names)
    if all(v is not None for v in nulls) and not recipe.min_steps:
        return cfg, []
    found = survey(data)
    classes = found.classes if data.classes is None else [found.classes[c] for c in data.classes
                                                          if 0 <= c < len(found.classes)]
    decided = []
    if space.num_classes is None:
        space.num_classes = len(classes)
        decided.append(f"space.num_classes={space.num_classes}")
    if space.in_chans is None:
        space.in_chans = found.channels
        decided.append(f"space.in_chans={space.in_chans}")
    if space.resolution is None:
        if found.side is None:
            raise CreamError(f"the images of {found.name!r} differ in size ({found.found}); give the resolution to "
                             "resize them to: overrides={'space.resolution': 32} (or space.resolution=32)")
        space.resolution = min(found.side, AUTO_MAX_RESOLUTION)
        decided.append(f"space.resolution={space.resolution}")
    if data.dataset == "memory" and data.class_names is None:
        data.class_names = found.classes
        decided.append(f"data.class_names={found.classes}")
    world = int(os.environ.get("WORLD_SIZE", "1"))
    images = training_images(found, data, command)
    if data.batch_size is None:
        data.batch_size = auto_batch(images // world)
        decided.append(f"data.batch_size={data.batch_size} (an epoch of at least {AUTO_EPOCH_STEPS} steps)")
    if cfg.run.out_dir is None:
        cfg.run.out_dir = run_folder(command, found.name)
        decided.append(f"run.out_dir={cfg.run.out_dir}")
    if command == "retrain" and recipe.arch is None:
        recipe.arch = f"{run_folder('search', found.name)}/result.json"
        decided.append(f"retrain.arch={recipe.arch}")
    folder = "" if data.dataset == "memory" else "/"  # data from Python has splits, not folders
    validation = (f"val{folder}" if command == "retrain" and "val" in found.splits
                  else f"{data.val_fraction:g} of train{folder} held out")
    notes = [f"data: {data.root} ({data.dataset}), {len(classes)} classes; {found.found}; {images} training "
             f"images, validation on {validation}"]
    if decided:
        notes.append("from the data: " + ", ".join(decided))
    steps = images // world // data.batch_size
    epochs, warmup = stretch(recipe.epochs, recipe.warmup_epochs, steps, recipe.min_steps)
    if epochs != recipe.epochs:
        if command == "search":
            warmup = round(warmup)
        notes.append(f"schedule: {steps} steps per epoch, so {command}.epochs {recipe.epochs} -> {epochs} and "
                     f"{command}.warmup_epochs {recipe.warmup_epochs:g} -> {warmup:g} to train at least "
                     f"{command}.min_steps={recipe.min_steps} steps ({epochs * steps})")
        recipe.epochs, recipe.warmup_epochs = epochs, warmup
    return cfg, notes

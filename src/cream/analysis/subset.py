"""``cream subset``: a class/count subset of an ImageFolder tree (subImageNet-style), written as links.

The selection is the one ``build_data`` makes in memory from ``data.classes``, ``data.train_per_class`` and
``data.val_per_class`` (``choose_classes`` and ``select_per_class`` in ``cream.data.splits``), so a subset on
disk holds exactly the images the same keys select from the full tree, and Fashion-MNIST subsets need no files.
"""

from __future__ import annotations

import ast
import os
import shutil
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import torch

from cream.data.imagefolder import scan_split
from cream.data.splits import choose_classes, select_per_class
from cream.errors import CreamError

SPLITS = ("train", "val")
OUTPUTS = ("train", "val", "classes.txt", "images.txt")


@dataclass(frozen=True)
class Subset:
    """The chosen class names (sorted, so an ImageFolder reader labels them 0..K-1 in this order) and, per
    split, the chosen images as paths relative to the split folder (``CLASS/FILE``), sorted."""

    classes: list[str]
    files: dict[str, list[str]]


def read_class_list(path: str | Path) -> list[str]:
    """Class names, one per line; blank lines and lines starting with '#' are skipped."""
    names = _read_list(path, "class", "classes", "class name", "class folder name")
    for name in names:
        check_component(name, f"class {name!r} in {path}")
    return names


def read_image_list(path: str | Path) -> list[str]:
    """Listed images, one per line, as paths relative to the tree: ``train/CLASS/FILE``, ``val/CLASS/FILE``,
    ``CLASS/FILE`` or a bare ``FILE`` (both from train/). A line may also be a Python list of file names, the form
    of the paper's ``data/subimages_list.txt`` (one list per class). Blank lines and '#' lines are skipped."""
    entries = _read_list(path, "image", "images", "image path", "image path", _image_entries)
    for entry in entries:
        for part in entry.split("/"):
            check_component(part, f"image {entry!r} in {path}")
    return entries


def _image_entries(line: str, number: int, path) -> list[str]:
    """The file names of one image-list line: the line itself, or the names of a ``['a.JPEG', ...]`` line."""
    if not line.startswith("["):
        return [line]
    try:
        names = ast.literal_eval(line)
    except (ValueError, SyntaxError):
        names = None
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise CreamError(f"line {number} of the image list {path} starts like a list but is not a list of "
                         "file names like ['a.JPEG', 'b.JPEG']; fix that line")
    return names


def _read_list(path, kind: str, plural: str, line_holds: str, line_should_hold: str,
               entries_of=lambda line, number, path: [line]) -> list[str]:
    """The entries of a class or image list: ``entries_of`` each line that is not blank or a '#' comment.

    An unreadable file, a list with no entries and an entry listed twice are CreamErrors; the words name the
    list's entries in their messages.
    """
    try:
        lines = Path(path).read_text().splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise CreamError(f"cannot read the {kind} list {path} ({getattr(e, 'strerror', None) or e}); pass a text "
                         f"file with one {line_holds} per line") from None
    entries = []
    for number, line in enumerate(lines, 1):
        line = line.strip()
        if line and not line.startswith("#"):
            entries += entries_of(line, number, path)
    if not entries:
        raise CreamError(f"the {kind} list {path} names no {plural}; write one {line_should_hold} per line")
    repeated = next((e for e, n in Counter(entries).items() if n > 1), None)
    if repeated:
        raise CreamError(f"the {kind} list {path} names {repeated!r} more than once; list each {kind} once")
    return entries


def check_component(name: str, what: str) -> None:
    """A class or file name must be one plain path component, so joining it to a folder stays inside it."""
    if name in ("", ".", "..") or "/" in name or "\0" in name or "\n" in name or "\r" in name \
            or (os.altsep and os.altsep in name):
        raise CreamError(f"{what} is not a plain file name (it must not be empty, '.', '..' or hold '/' or a "
                         "line break); rename it")


def choose_subset(src: str | Path, classes: int | None = 100, train_per_class: int | None = 250,
                  val_per_class: int | None = 50, seed: int = 0, class_list: list[str] | None = None,
                  image_list: list[str] | None = None) -> Subset:
    """Pick classes (``class_list``, or ``classes`` drawn with ``seed``) and images per class from ``src``; or take
    exactly the images of ``image_list`` (``read_image_list``), with ``val_per_class`` val images of each listed
    class drawn with ``seed`` when the list names no val images."""
    names, samples = {}, {}
    for split in SPLITS:
        names[split], samples[split] = scan_split(src, split)
    if names["train"] != names["val"]:
        only = sorted(set(names["train"]) ^ set(names["val"]))
        raise CreamError(f"{src}/train and {src}/val hold different class folders (e.g. {only[0]!r}); make them "
                         "match")
    all_names = names["train"]
    if image_list is not None:
        return _listed_subset(src, image_list, all_names, samples, val_per_class, seed)
    if class_list is not None:
        unknown = [n for n in class_list if n not in all_names]
        if unknown:
            raise CreamError(f"class {unknown[0]!r} of the class list is not a folder in {src}/train "
                             f"({len(unknown)} unknown in all); fix the list")
        chosen = sorted(all_names.index(n) for n in class_list)
    else:
        chosen = choose_classes(len(all_names), classes, seed)
    files = {split: _draw(src, split, samples[split], all_names, chosen, per_class, seed)
             for split, per_class in (("train", train_per_class), ("val", val_per_class))}
    return Subset([all_names[c] for c in chosen], files)


def _draw(src, split: str, samples, all_names, chosen, per_class, seed) -> list[str]:
    """``per_class`` images (all if None) of each chosen class of ``src/split``, drawn with ``seed``, sorted."""
    root = Path(src) / split
    labels = torch.tensor([label for _, label in samples])
    counts = torch.bincount(labels, minlength=len(all_names))
    short = [all_names[c] for c in chosen if per_class is not None and counts[c] < per_class]
    if short:
        raise CreamError(f"class {short[0]!r} has only {int(counts[all_names.index(short[0])])} images in {root}, "
                         f"fewer than the {per_class} asked for ({len(short)} such classes); lower "
                         f"--{split}-per-class or leave those classes out")
    keep = select_per_class(labels, torch.arange(len(labels)), chosen, per_class, seed).tolist()
    return sorted(_relative(samples[i][0], root) for i in keep)


def _listed_subset(src, image_list, all_names, samples, val_per_class, seed) -> Subset:
    """The images ``image_list`` names (train/ unless it says val/), and val images for its classes if it has none."""
    on_disk = {split: {Path(path).relative_to(Path(src) / split).as_posix() for path, _ in samples[split]}
               for split in SPLITS}
    by_name: dict[str, list[str]] = {}
    for rel in on_disk["train"]:
        by_name.setdefault(rel.rsplit("/", 1)[-1], []).append(rel)
    files: dict[str, set[str]] = {"train": set(), "val": set()}
    for entry in image_list:
        split, rel = _locate(entry, on_disk, by_name, src)
        if rel in files[split]:
            raise CreamError(f"the image list names {split}/{rel} twice (as {entry!r} and once more); list each "
                             "image once")
        files[split].add(rel)
    chosen = sorted(all_names.index(name) for name in {rel.split("/")[0] for split in SPLITS for rel in files[split]})
    listed = {split: sorted(files[split]) for split in SPLITS}
    if not listed["val"]:
        listed["val"] = _draw(src, "val", samples["val"], all_names, chosen, val_per_class, seed)
    return Subset([all_names[c] for c in chosen], listed)


def _locate(entry: str, on_disk: dict, by_name: dict, src) -> tuple[str, str]:
    """(split, CLASS/FILE) of one image-list entry, which must name exactly one image of the tree."""
    parts = entry.split("/")
    split, rel = "train", entry  # CLASS/FILE
    if len(parts) == 3 and parts[0] in SPLITS:
        split, rel = parts[0], "/".join(parts[1:])
    elif len(parts) == 1:
        found = by_name.get(entry, [])
        if len(found) > 1:
            raise CreamError(f"image {entry!r} of the image list is in several classes of {src}/train "
                             f"({found[0]}, {found[1]}); list it as CLASS/{entry}")
        rel = found[0] if found else entry
    elif len(parts) > 2:
        rel = None  # none of the four forms
    if rel not in on_disk[split]:
        raise CreamError(f"image {entry!r} of the image list is not in {src}/{split}; list images as "
                         "train/CLASS/FILE, val/CLASS/FILE, CLASS/FILE or FILE, relative to --src")
    return split, rel


def _relative(path: str, root: Path) -> str:
    rel = Path(path).relative_to(root)
    for part in rel.parts:
        check_component(part, f"image {path}")
    return rel.as_posix()


def write_subset(subset: Subset, src: str | Path, dst: str | Path, force: bool = False,
                 copy: bool = False) -> dict[str, int]:
    """Write ``dst/{train,val}/CLASS/FILE`` (hard links, else symlinks, else copies; copies with ``copy``),
    ``classes.txt`` and ``images.txt``. Returns how many files each way was used for.

    Nothing is written outside ``dst`` and nothing under ``src`` changes: every name is one plain path component,
    earlier outputs (symlinks included) are removed without being followed, and each file is created anew. A hard
    link shares its file with the source, so edit neither in place (tools that rewrite images write new files).
    """
    src, dst = Path(src).resolve(), Path(dst)
    _check_apart(src, dst.resolve())
    _prepare(dst, force)
    root = dst.resolve()
    counts = {"hardlink": 0, "symlink": 0, "copy": 0}
    for split in SPLITS:
        for rel in subset.files[split]:
            target = root / split / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            counts[_place(src / split / rel, target, copy)] += 1
    (root / "classes.txt").write_text("".join(f"{name}\n" for name in subset.classes))
    (root / "images.txt").write_text("".join(f"{split}/{rel}\n" for split in SPLITS for rel in subset.files[split]))
    return counts


def _check_apart(src: Path, dst: Path) -> None:
    if dst == src or dst.is_relative_to(src) or src.is_relative_to(dst):
        raise CreamError(f"--dst {dst} and --src {src} overlap; the subset must go to a folder outside the source "
                         "(and the source must not lie inside it)")


def _prepare(dst: Path, force: bool) -> None:
    """Make ``dst`` an empty folder, or (with ``force``) remove an earlier subset's outputs from it."""
    if dst.is_symlink() and not dst.exists():
        raise CreamError(f"--dst {dst} is a dangling symlink; remove it or choose another folder")
    if dst.exists() and not dst.is_dir():
        raise CreamError(f"--dst {dst} is a file, not a folder; choose another path")
    if dst.is_dir() and any(dst.iterdir()):
        if not force:
            raise CreamError(f"--dst {dst} exists and is not empty; choose an empty folder or pass --force to "
                             "replace an earlier subset there")
        for name in OUTPUTS:
            target = dst / name
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)  # never follows symlinks inside
            elif target.is_symlink() or target.exists():
                target.unlink()
        left = sorted(p.name for p in dst.iterdir())
        if left:
            raise CreamError(f"--dst {dst} holds {left[0]!r}, which is not part of a subset; --force only replaces "
                             "train/, val/, classes.txt and images.txt, so empty the folder yourself")
    dst.mkdir(parents=True, exist_ok=True)


def _place(source: Path, target: Path, copy: bool) -> str:
    """Link or copy one image; ``target`` is new, so nothing existing is followed or overwritten."""
    if not copy:
        try:
            os.link(source, target)
            return "hardlink"
        except OSError:  # another file system, or links not allowed: try a symlink
            pass
        try:
            os.symlink(source.resolve(), target)
            return "symlink"
        except OSError:
            pass
    with open(source, "rb") as f_in, open(target, "xb") as f_out:
        shutil.copyfileobj(f_in, f_out)
    return "copy"

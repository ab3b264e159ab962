import os
from pathlib import Path

import pytest

from cream.analysis.subset import Subset, choose_subset, read_class_list, read_image_list, write_subset
from cream.cli import main
from cream.config import DataConfig
from cream.data import build_data
from cream.errors import CreamError
from tests.conftest import make_image_tree

CLASSES = ("ant", "bee", "cat", "dog", "eel", "fox")


@pytest.fixture
def tree(tmp_path) -> Path:
    return make_image_tree(tmp_path / "src", classes=CLASSES, per_class=5, size=8)


def snapshot(root: Path) -> dict[str, tuple[int, int, bytes]]:
    """Every file under root with its mode, mtime and content: what "never modified" must keep."""
    return {str(p.relative_to(root)): (p.lstat().st_mode, p.lstat().st_mtime_ns, p.read_bytes())
            for p in sorted(root.rglob("*")) if p.is_file()}


def listing(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_subset_is_deterministic_and_laid_out_for_imagefolder(tree, tmp_path):
    subset = choose_subset(tree, classes=3, train_per_class=4, val_per_class=2, seed=7)
    assert subset == choose_subset(tree, classes=3, train_per_class=4, val_per_class=2, seed=7)
    assert subset.classes == sorted(subset.classes) and len(subset.classes) == 3
    assert {f.split("/")[0] for f in subset.files["train"]} == set(subset.classes)
    assert len(subset.files["train"]) == 12 and len(subset.files["val"]) == 6

    before = snapshot(tree)
    counts = write_subset(subset, tree, tmp_path / "dst")
    dst = tmp_path / "dst"
    assert counts == {"hardlink": 18, "symlink": 0, "copy": 0}
    assert (dst / "classes.txt").read_text().split() == subset.classes
    images = (dst / "images.txt").read_text().split()
    assert images == [f"train/{f}" for f in subset.files["train"]] + [f"val/{f}" for f in subset.files["val"]]
    assert listing(dst) == sorted(images + ["classes.txt", "images.txt"])
    assert all((dst / f).read_bytes() == (tree / f).read_bytes() for f in images)
    assert snapshot(tree) == before

    # Another draw gives other classes; the same draw into another folder gives the same files.
    assert choose_subset(tree, classes=3, train_per_class=4, val_per_class=2, seed=8).classes != subset.classes
    write_subset(subset, tree, tmp_path / "again")
    assert listing(tmp_path / "again") == listing(dst)


def test_the_files_on_disk_are_what_the_data_keys_select_in_memory(tree, tmp_path):
    # One selector: build_data with data.classes/train_per_class/val_per_class (as for Fashion-MNIST) picks
    # exactly the images `cream subset` writes, so a study on either sees the same data.
    subset = choose_subset(tree, classes=2, train_per_class=3, val_per_class=2, seed=5)
    write_subset(subset, tree, tmp_path / "dst")
    chosen = [CLASSES.index(name) for name in subset.classes]
    cfg = DataConfig(dataset="imagefolder", root=str(tree), classes=chosen, train_per_class=3, val_per_class=2,
                     split_seed=5, workers=0, cache_mb=0)  # read from disk: the loaders list their files
    in_memory = build_data(cfg, 16, 3, "retrain")
    for loader, split in ((in_memory.train, "train"), (in_memory.val, "val")):
        files = sorted(str(Path(p).relative_to(tree / split)) for p, _ in loader.dataset.samples)
        assert files == subset.files[split]
    on_disk = build_data(DataConfig(dataset="imagefolder", root=str(tmp_path / "dst"), workers=0), 16, 3, "retrain")
    assert on_disk.classes == in_memory.classes


def test_class_list_picks_named_classes_and_rejects_unsafe_or_unknown_names(tree, tmp_path):
    names = tmp_path / "classes.txt"
    names.write_text("# keep these\nfox\n\nbee\n")
    assert choose_subset(tree, train_per_class=2, val_per_class=1, class_list=read_class_list(names)).classes == \
        ["bee", "fox"]
    for text, message in (("../src\n", "not a plain file name"), ("a/b\n", "not a plain file name"),
                          ("bee\nbee\n", "more than once"), ("# nothing\n", "names no classes")):
        names.write_text(text)
        with pytest.raises(CreamError, match=message):
            read_class_list(names)
    with pytest.raises(CreamError, match="'yak' of the class list is not a folder"):
        choose_subset(tree, class_list=["yak"])
    with pytest.raises(CreamError, match="cannot read the class list"):
        read_class_list(tmp_path / "missing.txt")
    names.write_bytes(b"\xff\xfe not UTF-8\n")
    with pytest.raises(CreamError, match="cannot read the class list"):
        read_class_list(names)
    (tree / "train" / "ant" / "two\nlines.JPEG").write_bytes((tree / "train" / "ant" / "ant_0.JPEG").read_bytes())
    with pytest.raises(CreamError, match="not a plain file name"):
        choose_subset(tree, class_list=["ant"], train_per_class=None, val_per_class=None)


def test_too_few_images_and_impossible_class_counts_are_clear_errors(tree):
    with pytest.raises(CreamError, match=r"class 'ant' has only 5 images in .*train, fewer than the 6 asked for.*"
                                         r"lower --train-per-class"):
        choose_subset(tree, classes=6, train_per_class=6, val_per_class=1)
    with pytest.raises(CreamError, match="lower --val-per-class"):
        choose_subset(tree, classes=6, train_per_class=1, val_per_class=9)
    with pytest.raises(CreamError, match="cannot choose 7 classes out of 6"):
        choose_subset(tree, classes=7)


def test_destination_must_be_empty_unless_forced_and_force_replaces_only_a_subset(tree, tmp_path):
    subset = choose_subset(tree, classes=2, train_per_class=2, val_per_class=1)
    dst = tmp_path / "dst"
    write_subset(subset, tree, dst)
    with pytest.raises(CreamError, match="exists and is not empty; .* --force"):
        write_subset(subset, tree, dst)
    other = choose_subset(tree, classes=3, train_per_class=1, val_per_class=1, seed=1)
    write_subset(other, tree, dst, force=True)
    assert (dst / "classes.txt").read_text().split() == other.classes and len(listing(dst / "train")) == 3
    (dst / "notes.md").write_text("mine")
    with pytest.raises(CreamError, match="holds 'notes.md', which is not part of a subset"):
        write_subset(other, tree, dst, force=True)
    assert (dst / "notes.md").read_text() == "mine"


def test_nothing_is_written_outside_dst_or_inside_src(tree, tmp_path):
    subset = choose_subset(tree, classes=2, train_per_class=2, val_per_class=1)
    outside = tmp_path / "outside"
    outside.mkdir()
    dst = tmp_path / "dst"
    dst.mkdir()
    os.symlink(outside, dst / "train")  # planted links that would lead the writes elsewhere
    (outside / "precious.txt").write_text("keep")
    os.symlink(outside / "precious.txt", dst / "classes.txt")
    write_subset(subset, tree, dst, force=True)
    assert [p.name for p in outside.iterdir()] == ["precious.txt"] and (outside / "precious.txt").read_text() == "keep"
    assert not (dst / "train").is_symlink() and not (dst / "classes.txt").is_symlink()
    assert len(listing(dst / "train")) == 4

    before = snapshot(tree)
    for bad in (tree, tree / "train" / "new", tmp_path):  # the source itself, inside it, or around it
        with pytest.raises(CreamError, match="overlap"):
            write_subset(subset, tree, bad, force=True)
    assert snapshot(tree) == before


def test_copy_mode_makes_independent_files(tree, tmp_path):
    subset = choose_subset(tree, classes=1, train_per_class=1, val_per_class=1)
    counts = write_subset(subset, tree, tmp_path / "dst", copy=True)
    assert counts == {"hardlink": 0, "symlink": 0, "copy": 2}
    copied = tmp_path / "dst" / "train" / subset.files["train"][0]
    assert copied.stat().st_ino != (tree / "train" / subset.files["train"][0]).stat().st_ino


def test_cli_subset_writes_the_tree_and_reports_errors_in_one_line(tree, tmp_path, capsys):
    args = ["subset", "--src", str(tree), "--dst", str(tmp_path / "dst"), "--classes", "2", "--train-per-class", "3",
            "--val-per-class", "2", "--seed", "3"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "2 classes, 6 train and 4 val images (10 as hardlinks)" in out
    assert f"use it with --data {tmp_path}/dst\n" in out
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--force" in err
    assert main(["subset", "--src", str(tree), "--dst", str(tmp_path / "x"), "--classes", "2",
                 "--class-list", "f"]) == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_the_papers_image_list_is_reproduced_exactly(tree, tmp_path, capsys):
    # The paper's data/subimages_list.txt: its script writes, for each class in order, the repr of the Python list
    # of the chosen file names, one line per class; the class is the train folder that holds the file.
    chosen = {"bee": ["bee_0.JPEG", "bee_3.JPEG"], "fox": ["fox_1.JPEG", "fox_2.JPEG", "fox_4.JPEG"]}
    listing_file = tmp_path / "subimages_list.txt"
    listing_file.write_text("".join(f"{names}\n" for names in chosen.values()))
    before = snapshot(tree)
    dst = tmp_path / "dst"
    assert main(["subset", "--src", str(tree), "--dst", str(dst), "--image-list", str(listing_file),
                 "--val-per-class", "5"]) == 0
    assert "2 classes, 5 train and 10 val images" in capsys.readouterr().out
    expected_train = sorted(f"{c}/{name}" for c, names in chosen.items() for name in names)
    assert listing(dst / "train") == expected_train
    assert all((dst / "train" / f).read_bytes() == (tree / "train" / f).read_bytes() for f in expected_train)
    # Without val/ lines, val/ holds --val-per-class images of each listed class: here all five of each.
    assert listing(dst / "val") == sorted(f"{c}/{c}_{i}.JPEG" for c in chosen for i in range(5))
    assert (dst / "classes.txt").read_text().split() == ["bee", "fox"]
    assert snapshot(tree) == before

    fewer = choose_subset(tree, image_list=read_image_list(listing_file), val_per_class=2, seed=1)
    assert fewer.files["train"] == expected_train
    assert [f.split("/")[0] for f in fewer.files["val"]] == ["bee", "bee", "fox", "fox"]


def test_a_subsets_own_images_txt_reproduces_it_and_paths_may_be_relative_to_train(tree, tmp_path):
    first = choose_subset(tree, classes=3, train_per_class=2, val_per_class=1, seed=4)
    write_subset(first, tree, tmp_path / "first")
    again = choose_subset(tree, image_list=read_image_list(tmp_path / "first" / "images.txt"), val_per_class=5)
    assert again == first  # val/ lines are taken as listed, not drawn
    write_subset(again, tree, tmp_path / "again")
    assert listing(tmp_path / "again") == listing(tmp_path / "first")

    listed = tmp_path / "list.txt"
    listed.write_text("# CLASS/FILE lines and bare names are train images\ncat/cat_2.JPEG\n\neel_4.JPEG\n"
                      "val/cat/cat_0.JPEG\n")
    subset = choose_subset(tree, image_list=read_image_list(listed))
    assert subset == Subset(["cat", "eel"], {"train": ["cat/cat_2.JPEG", "eel/eel_4.JPEG"],
                                             "val": ["cat/cat_0.JPEG"]})


def test_bad_image_lists_are_one_line_errors(tree, tmp_path):
    listed = tmp_path / "list.txt"
    (tree / "train" / "dog" / "ant_0.JPEG").write_bytes((tree / "train" / "ant" / "ant_0.JPEG").read_bytes())
    for text, message in (("ant/yak_9.JPEG\n", "'ant/yak_9.JPEG' of the image list is not in .*/train"),
                          ("ant_0.JPEG\n", "'ant_0.JPEG' of the image list is in several classes .*CLASS/ant_0.JPEG"),
                          ("test/ant/ant_1.JPEG\n", "is not in .*/train; list images as train/CLASS/FILE"),
                          ("ant/ant_1.JPEG\nant_1.JPEG\n", "names train/ant/ant_1.JPEG twice")):
        listed.write_text(text)
        with pytest.raises(CreamError, match=message) as info:
            choose_subset(tree, image_list=read_image_list(listed))
        assert "\n" not in str(info.value)
    for text, message in (("['a.JPEG', \n", "line 1 of the image list .* is not a list of file names"),
                          ("[1, 2]\n", "is not a list of file names"), ("# nothing\n", "names no images"),
                          ("../src/train/ant/ant_0.JPEG\n", "not a plain file name"),
                          ("ant/ant_1.JPEG\nant/ant_1.JPEG\n", "more than once")):
        listed.write_text(text)
        with pytest.raises(CreamError, match=message):
            read_image_list(listed)
    with pytest.raises(CreamError, match="cannot read the image list"):
        read_image_list(tmp_path / "missing.txt")
    assert main(["subset", "--src", str(tree), "--dst", str(tmp_path / "x"), "--class-list", "a",
                 "--image-list", "b"]) == 2

"""Property tests: any input either works or raises our own one-line CreamError, never another exception."""

import dataclasses
import gzip
import io
import typing
from contextlib import redirect_stderr, redirect_stdout

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cream.assemble import make_config
from cream.cli import main
from cream.config import RetrainRun, SearchRun
from cream.data.fashion_mnist import read_idx
from cream.errors import CreamError
from cream.space import Arch, NetSpec
from cream.space.budget import plan_space

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

anything = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=True) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=7) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=30,
)


def works_or_one_line_error(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except CreamError as e:
        assert str(e) and "\n" not in str(e)
        return None


@SETTINGS
@given(st.text(max_size=40))
def test_any_architecture_text(text):
    arch = works_or_one_line_error(Arch.parse, text)
    if arch is not None:
        assert Arch.parse(str(arch)) == arch


@SETTINGS
@given(st.text(alphabet="0123456789-[], ", max_size=40))
def test_architecture_like_text(text):
    works_or_one_line_error(Arch.parse, text)


@SETTINGS
@given(anything)
def test_any_architecture_json(value):
    arch = works_or_one_line_error(Arch.from_json, value)
    if arch is not None:
        assert Arch.from_json(arch.to_json()) == arch


@SETTINGS
@given(st.fixed_dictionaries({}, optional={f.name: anything for f in dataclasses.fields(NetSpec)}))
def test_any_network_spec(kwargs):
    works_or_one_line_error(NetSpec, **kwargs)


def all_keys(cls):
    hints = typing.get_type_hints(cls)
    return [f"{s.name}.{f.name}" for s in dataclasses.fields(cls) for f in dataclasses.fields(hints[s.name])]


value_text = st.one_of(
    st.sampled_from(["0", "-1", "1e9", "nan", "inf", "-inf", "true", "null", "[]", "[1, 2]", "{a: 1}", "''",
                     "2.5", "cream", "spos", "[0.1, 0.2]", ":", "[", "x: [", "\t"]),
    st.text(max_size=10))


@SETTINGS
@given(st.sampled_from(all_keys(SearchRun) + all_keys(RetrainRun) + ["search.nope", "nope", "run", ".x", "a.b.c"]),
       value_text, st.sampled_from([SearchRun, RetrainRun]))
def test_any_config_override(key, value, cls):
    works_or_one_line_error(make_config, cls, None, [f"{key}={value}"])


@settings(max_examples=25, deadline=None)
@given(st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-5, 2000), st.text(max_size=4)),
       st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-5, 2000), st.text(max_size=4)))
def test_any_flops_range(low, high):
    works_or_one_line_error(plan_space, NetSpec(resolution=28, in_chans=1, num_classes=10, width=0.5), low, high)


@SETTINGS
@given(st.binary(max_size=200), st.booleans(), st.sampled_from([2049, 2051]))
def test_corrupt_or_truncated_idx_files(tmp_path_factory, payload, compress, magic):
    path = tmp_path_factory.mktemp("idx") / ("f.gz" if compress else "f")
    path.write_bytes(gzip.compress(payload) if compress else payload)
    works_or_one_line_error(read_idx, path, magic)


@SETTINGS
@given(st.integers(0, 2051 + 16 + 784 * 2), st.sampled_from([2051]))
def test_every_truncation_of_a_real_idx_file(tmp_path_factory, cut, magic):
    header = magic.to_bytes(4, "big") + (2).to_bytes(4, "big") + (28).to_bytes(4, "big") + (28).to_bytes(4, "big")
    raw = header + np.zeros(2 * 784, np.uint8).tobytes()
    path = tmp_path_factory.mktemp("idx") / "t.gz"
    path.write_bytes(gzip.compress(raw[:cut]))
    result = works_or_one_line_error(read_idx, path, magic)
    assert (result is not None) == (cut >= len(raw))


cli_word = st.sampled_from(["arch", "space", "search", "cream_287", "cream_14", "3-33-313-3333-333", "--resolution",
                            "--num-classes", "--in-chans", "--width", "--flops-min", "--flops-max", "--stem-stride",
                            "--stage-strides", "0", "-1", "28", "1,2", "1,2,2,1,2", "nan", "1e9", "--help-me", "x",
                            "search.epochs=0", "space.width=-1", "bogus=1", "--keys", "data.root=/nonexistent"])


@settings(max_examples=120, deadline=None)
@given(st.lists(cli_word, max_size=6))
def test_any_cli_arguments(tmp_path_factory, argv):
    out = tmp_path_factory.mktemp("cli")
    if "search" in argv:  # never start a real search: point it at missing data in a scratch dir
        argv = [*argv, "data.root=/nonexistent", f"run.out_dir={out}"]
    stderr = io.StringIO()
    with redirect_stderr(stderr), redirect_stdout(io.StringIO()):
        try:
            code = main(argv)
        except SystemExit as e:  # only --help exits this way
            code = e.code
    text = stderr.getvalue()
    assert code in (0, 2), text
    if code:
        assert text.startswith("error: ") and text.count("\n") == 1 and "unexpected" not in text


@pytest.mark.parametrize("name", ["odd name ä", "spaces  and\ttabs", "semi;colon", "dots..", "-dash", "日本"])
def test_class_folders_with_odd_names_work(tmp_path, name):
    from cream.config import DataConfig
    from cream.data import build_data
    from tests.conftest import make_image_tree

    root = make_image_tree(tmp_path / "t", classes=(name, "plain"), per_class=3)
    cfg = DataConfig(dataset="imagefolder", root=str(root), batch_size=2, eval_batch_size=4, workers=0)
    data = build_data(cfg, 32, 3, "retrain")
    assert name in data.classes and next(data.val.batches())[0].shape == (4, 3, 32, 32)

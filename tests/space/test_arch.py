import pytest

from cream.errors import CreamError
from cream.space import Arch


def test_text_and_json_forms_round_trip():
    arch = Arch.parse("3-33-313-3333-333")
    assert str(arch) == "3-33-313-3333-333"
    assert arch.to_json() == [[3], [3, 3], [3, 1, 3], [3, 3, 3, 3], [3, 3, 3]]
    assert Arch.from_json(arch.to_json()) == arch
    assert Arch.parse("[[3],[3,3],[3,1,3],[3,3,3,3],[3,3,3]]") == arch
    assert arch.depths == (1, 2, 3, 4, 3)


def test_arch_is_an_immutable_hashable_value():
    a, b = Arch.parse("0-1-2-3-4"), Arch.parse("0-1-2-3-4")
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    with pytest.raises(AttributeError):
        a.stages = ()


@pytest.mark.parametrize("text, message", [
    ("3-33-313-3333", "needs 5 stages"),
    ("3-33-313-3333-333-3", "needs 5 stages"),
    ("3-33-313-3333-336", "not an op index 0..5"),
    ("333333-3-3-3-3", "at most 5 are allowed"),
    ("3-3-3-3-3333333", "at most 6 are allowed"),
    ("3--3-3-3", "not valid"),
    ("a-b-c-d-e", "not valid"),
    ("[[3],[3]]", "needs 5 stages"),
    ("[[3], [3], [3], [3], [-1]]", "not an op index"),
    ("[[3], [3], [3], [3], []]", "has no blocks"),
    ("[1, 2", "does not parse"),
])
def test_bad_architectures_are_one_line_errors(text, message):
    with pytest.raises(CreamError, match=message) as info:
        Arch.parse(text)
    assert "\n" not in str(info.value)


def test_uniform_and_random_build_valid_archs():
    import random

    assert str(Arch.uniform((1, 2, 3, 2, 1), 5)) == "5-55-555-55-5"
    arch = Arch.random((2, 2, 2, 2, 2), random.Random(0), probs=[0, 0, 0, 1, 0, 0])
    assert str(arch) == "33-33-33-33-33"

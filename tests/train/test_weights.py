import os
import pickle

import pytest
import torch

from cream.errors import CreamError
from cream.space.arch import Arch
from cream.space.net import NetSpec, build_child
from cream.train.weights import init_from, load_into, net_for, read_weights, write_safetensors
from tests.train.conftest import released_checkpoint

ARCH = Arch.parse("1-2-3-4-5")
SPEC = NetSpec(resolution=32, in_chans=3, num_classes=7, width=0.5)


def test_a_released_checkpoint_loads_with_prefix_namespace_and_ema_first(tmp_path):
    net = build_child(ARCH, SPEC)
    weights = read_weights(released_checkpoint(tmp_path / "cream.pth.tar", net))
    assert list(weights.sets) == ["ema", "plain"] and weights.arch is None
    name, state = weights.preferred()
    assert name == "ema" and all(torch.equal(state[k], v) for k, v in net.state_dict().items())
    assert weights.preferred(plain=True)[0] == "plain"
    arch, spec = net_for(weights, "1-2-3-4-5", resolution=32)
    assert arch == ARCH and (spec.in_chans, spec.num_classes, spec.resolution) == (3, 7, 32)
    loaded = build_child(*net_for(weights, "1-2-3-4-5", resolution=32))
    with pytest.raises(CreamError, match="fit the model"):  # released models are width 1.0
        load_into(loaded, state, "x", "fix")
    assert net_for(weights, "cream_14")[1].resolution == 64  # a paper name brings its resolution


def test_a_bare_state_dict_without_prefix_is_plain_weights(tmp_path):
    net = build_child(ARCH, SPEC)
    torch.save(net.state_dict(), tmp_path / "bare.pth")
    weights = read_weights(tmp_path / "bare.pth")
    assert list(weights.sets) == ["plain"]
    load_into(build_child(ARCH, SPEC), weights.sets["plain"], "bare.pth", "fix")


def test_a_mismatch_lists_the_first_keys_and_shapes_on_one_line(tmp_path):
    weights = read_weights(released_checkpoint(tmp_path / "c.pth.tar", build_child(ARCH, SPEC)))
    other = build_child(Arch.parse("1-2-1-44-5"), SPEC)  # stage 3 differs in depth, stage 2 in kernel
    with pytest.raises(CreamError) as info:
        load_into(other, weights.preferred()[1], "c.pth.tar (ema weights)", "give the right --arch")
    message = str(info.value)
    assert "\n" not in message and message.startswith("c.pth.tar (ema weights) does not fit the model")
    assert "missing blocks.4.1.conv_pw.weight" in message
    assert "shape blocks.3.0.conv_dw.weight 144x1x5x5 in the file vs 144x1x3x3 in the model" in message
    assert message.endswith("give the right --arch")


def test_missing_architecture_and_contradicting_architecture_are_clear(tmp_path):
    weights = read_weights(released_checkpoint(tmp_path / "c.pth.tar", build_child(ARCH, SPEC)))
    with pytest.raises(CreamError, match="does not say which architecture.*--arch cream_287"):
        net_for(weights)
    write_safetensors(tmp_path / "m.safetensors", build_child(ARCH, SPEC).state_dict(), ARCH, SPEC, "ema")
    with pytest.raises(CreamError, match="holds architecture 1-2-3-4-5, not cream_14"):
        net_for(read_weights(tmp_path / "m.safetensors"), "cream_14")


def test_safetensors_round_trip_keeps_architecture_layout_and_weights(tmp_path):
    net = build_child(ARCH, SPEC)
    write_safetensors(tmp_path / "m.safetensors", net.state_dict(), ARCH, SPEC, "ema")
    weights = read_weights(tmp_path / "m.safetensors")
    assert weights.preferred()[0] == "ema"
    arch, spec = net_for(weights)
    assert arch == ARCH and spec.to_json() == SPEC.to_json()
    assert net_for(weights, resolution=64)[1].resolution == 64
    back = build_child(*net_for(weights))
    load_into(back, weights.preferred()[1], "m", "fix")
    x = torch.randn(2, 3, 32, 32)
    assert torch.equal(back.eval()(x), net.eval()(x))
    (tmp_path / "broken.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(CreamError, match="not a readable safetensors file"):
        read_weights(tmp_path / "broken.safetensors")


class RunsCode:
    """Unpickling this would create a marker file: what a malicious checkpoint could do."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_a_pickle_that_would_run_code_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth.tar"
    torch.save({"state_dict": {"w": torch.zeros(1)}, "payload": RunsCode(marker)}, path)
    with pytest.raises(CreamError, match="could run code; refusing to load it"):
        read_weights(path)
    assert not marker.exists()
    with open(tmp_path / "plain.pkl", "wb") as f:  # the same with a bare pickle (no torch zip container)
        pickle.dump({"state_dict": RunsCode(marker)}, f, protocol=2)
    with pytest.raises(CreamError):
        read_weights(tmp_path / "plain.pkl")
    assert not marker.exists()


def test_a_search_checkpoint_or_a_dict_without_weights_says_what_to_do(tmp_path):
    torch.save({"kind": "cream-search", "supernet": {}}, tmp_path / "last.pth")
    with pytest.raises(CreamError, match="cream export --supernet"):
        read_weights(tmp_path / "last.pth")
    torch.save({"epoch": 3, "notes": "nothing"}, tmp_path / "empty.pth")
    with pytest.raises(CreamError, match="holds no weights we know"):
        read_weights(tmp_path / "empty.pth")


def test_init_with_another_class_count_replaces_the_classifier_and_says_so(tmp_path):
    source = build_child(ARCH, NetSpec(resolution=32, in_chans=3, num_classes=1000, width=0.5))
    path = released_checkpoint(tmp_path / "imagenet.pth.tar", source, ema_only=True)
    target = build_child(ARCH, SPEC)
    fresh_head = target.classifier.weight.detach().clone()
    messages = []
    init_from(target, str(path), ARCH, log=messages.append)
    assert any("1000 classes and this run 7" in m and "replaced" in m for m in messages)
    assert torch.equal(target.classifier.weight, fresh_head)
    assert torch.equal(target.conv_head.weight, source.conv_head.weight)
    with pytest.raises(CreamError, match="init from weights of architecture 2-2-3-4-5"):
        init_from(build_child(Arch.parse("2-2-3-4-5"), SPEC), str(path), Arch.parse("2-2-3-4-5"))

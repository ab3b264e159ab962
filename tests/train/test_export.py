import dataclasses
import itertools
import warnings
from pathlib import Path
from types import SimpleNamespace

import onnxruntime
import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from cream import api
from cream.config import DataConfig
from cream.data import build_data
from cream.engine.context import RunContext
from cream.engine.evaluate import recalibrate_bn
from cream.errors import CreamError
from cream.space.arch import Arch
from cream.space.net import NetSpec, build_child
from cream.space.supernet import Supernet
from cream.train import export
from cream.train.export import output_stem
from cream.train.weights import read_weights
from tests.train.conftest import ONE_THREAD, released_checkpoint, search_checkpoint

ARCH = "3-3-3-3-3"
SPEC = NetSpec(resolution=28, in_chans=1, num_classes=10)
RTOL = 1e-4  # of the largest |logit|: float32 reordering moves logits by about 1e-6 of it, a wrong export by far more


def export_result(*args, **kwargs) -> dict:
    """``cream.export``'s result as a dict."""
    return vars(api.export(*args, **kwargs))


@pytest.fixture(autouse=True)
def own_folder(tmp_path, monkeypatch):
    """Each test runs in an empty folder of its own, so that a file written to a stray relative path (say
    ``str(None)``) by one export can never be read back by another as if it were that export's file."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="module")
def trained():
    """The test net after a few SGD steps on random data, in eval mode.

    Its logits are several units (a fresh net's are about 1e-4, too small for any tolerance to tell a halved
    output from a right one) and its BatchNorm statistics are no longer the initial 0 and 1.
    """
    torch.manual_seed(0)
    net = build_child(Arch.parse(ARCH), SPEC)
    gen = torch.Generator().manual_seed(1)
    x, y = torch.randn(32, 1, 28, 28, generator=gen), torch.randint(0, 10, (32,), generator=gen)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.5)
    for _ in range(10):
        optimizer.zero_grad()
        F.cross_entropy(net(x), y).backward()
        optimizer.step()
    return net.eval()


@pytest.fixture
def released(trained, tmp_path):
    return trained, released_checkpoint(tmp_path / "cream_tiny.pth.tar", trained)


def export_one(released, fmt) -> str:
    """Export the released checkpoint to ``fmt``; the path written."""
    result = export_result(str(released[1]), arch=ARCH, resolution=28, formats=[fmt], overrides=[ONE_THREAD])
    written = result["files"][fmt]
    assert result["weights"] == "ema" and written["max_abs_diff"] <= RTOL * written["logit_scale"]
    assert result["arch"] == ARCH and result["net"] == SPEC.to_json()
    return written["path"]


def assert_same_logits(run, net):
    """``run`` (an exported model read back without cream) gives ``net``'s logits, relative to their size."""
    x = torch.randn(3, 1, 28, 28, generator=torch.Generator().manual_seed(2))  # a batch size the export never saw
    with torch.no_grad():
        expected, got = net(x), torch.as_tensor(run(x))
    scale = expected.abs().max()
    assert scale > 1  # the net is trained: a halved or slightly shifted export cannot hide in rounding
    assert got.shape == expected.shape and (got - expected).abs().max() <= RTOL * scale


def test_onnx_has_a_dynamic_batch_axis_and_matches_pytorch_in_onnxruntime(released, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the export runs quietly (onnxruntime warns of an unknown provider)
        path = export_one(released, "onnx")
    assert path == str(tmp_path / "cream_tiny.onnx")
    assert [p.name for p in tmp_path.glob("cream_tiny.onnx*")] == ["cream_tiny.onnx"]  # weights inside, no .data
    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].name == "images" and session.get_inputs()[0].shape[0] == "batch"
    assert session.get_outputs()[0].name == "logits"
    assert_same_logits(lambda x: session.run(None, {"images": x.numpy()})[0], released[0])


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated")
def test_torchscript_matches_pytorch(released, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torch.jit's deprecation notices are silenced, not shown to the user
        path = export_one(released, "torchscript")
    assert path == str(tmp_path / "cream_tiny.torchscript.pt")
    assert_same_logits(torch.jit.load(path), released[0])


def test_safetensors_match_pytorch_carry_the_architecture_and_cream_test_reads_them_back(released, tiny_fashion_mnist,
                                                                                          tmp_path):
    path = export_one(released, "safetensors")
    assert path == str(tmp_path / "cream_tiny.safetensors")
    back = build_child(Arch.parse(ARCH), SPEC)
    back.load_state_dict(load_file(path))
    assert_same_logits(back.eval(), released[0])
    weights = read_weights(path)
    assert weights.arch == ARCH and weights.net["resolution"] == 28 and list(weights.sets) == ["ema"]
    quick = [ONE_THREAD, "test.latency_batch=4", "test.latency_repeats=2", "test.latency_warmup=0"]
    original = api.test(str(released[1]), arch=ARCH, resolution=28, data=str(tiny_fashion_mnist), overrides=quick)
    back = api.test(path, data=str(tiny_fashion_mnist), overrides=quick)
    assert back.results == original.results and back.arch == ARCH


@pytest.mark.parametrize("fmt, writer", [("torchscript", "write_torchscript"),
                                         ("safetensors", "write_safetensors_checked")])
def test_the_export_check_refuses_halved_logits_even_when_they_are_tiny(fmt, writer, tmp_path, monkeypatch):
    torch.manual_seed(0)
    fresh = build_child(Arch.parse(ARCH), SPEC).eval()  # largest logit about 1e-4
    path = released_checkpoint(tmp_path / "fresh.pth.tar", fresh)
    write = getattr(export, writer)

    def write_halved(*args):
        run = write(*args)
        return lambda batch: run(batch) / 2

    monkeypatch.setattr(export, writer, write_halved)
    with pytest.raises(CreamError, match=f"the {fmt} export .* differs from PyTorch"):
        export_result(str(path), arch=ARCH, resolution=28, formats=[fmt], overrides=[ONE_THREAD])


def test_the_export_check_also_runs_a_single_image(tmp_path, monkeypatch):
    # A batch-size-1 graph can differ from the batched one (a squeeze too many, a fixed batch axis), so an
    # export that is right on the check batch but halves a lone image's logits must be refused.
    torch.manual_seed(0)
    path = released_checkpoint(tmp_path / "fresh.pth.tar", build_child(Arch.parse(ARCH), SPEC).eval())
    write = export.write_safetensors_checked

    def write_wrong_on_one_image(*args):
        run = write(*args)
        return lambda batch: run(batch) / 2 if len(batch) == 1 else run(batch)

    monkeypatch.setattr(export, "write_safetensors_checked", write_wrong_on_one_image)
    with pytest.raises(CreamError, match="the safetensors export .* differs from PyTorch"):
        export_result(str(path), arch=ARCH, formats=["safetensors"], overrides=[ONE_THREAD])


def test_an_exact_export_passes_even_when_every_logit_is_zero(tmp_path):
    # The tolerance is relative to the largest |logit|, here 0; a bit-exact copy (safetensors read back) must
    # still pass: the difference may equal the tolerance.
    net = build_child(Arch.parse(ARCH), SPEC).eval()
    with torch.no_grad():
        net.classifier.weight.zero_()
        net.classifier.bias.zero_()
    path = released_checkpoint(tmp_path / "zero.pth.tar", net)
    result = export_result(str(path), arch=ARCH, formats=["safetensors"], overrides=[ONE_THREAD])
    assert result["files"]["safetensors"]["logit_scale"] == 0 and result["files"]["safetensors"]["max_abs_diff"] == 0


def test_the_check_batch_is_fixed_and_out_may_name_a_new_folder(tmp_path):
    torch.manual_seed(0)
    path = released_checkpoint(tmp_path / "fresh.pth.tar", build_child(Arch.parse(ARCH), SPEC).eval())
    scales = []
    for out in (tmp_path / "first", tmp_path / "new" / "folder" / "second"):
        result = export_result(str(path), arch=ARCH, formats=["safetensors"], out=str(out), overrides=[ONE_THREAD])
        assert result["files"]["safetensors"]["path"] == f"{out}.safetensors"
        scales.append(result["files"]["safetensors"]["logit_scale"])
    assert scales[0] == scales[1]  # the same images each time, not whatever the global RNG holds


def test_a_safetensors_file_that_does_not_read_back_into_the_net_is_refused_naming_it(tmp_path, monkeypatch):
    torch.manual_seed(0)
    path = released_checkpoint(tmp_path / "fresh.pth.tar", build_child(Arch.parse(ARCH), SPEC).eval())
    write = export.write_safetensors

    def write_without_classifier_bias(file, state, *args):
        write(file, {k: v for k, v in state.items() if k != "classifier.bias"}, *args)

    monkeypatch.setattr(export, "write_safetensors", write_without_classifier_bias)
    with pytest.raises(CreamError) as info:
        export_result(str(path), arch=ARCH, formats=["safetensors"], overrides=[ONE_THREAD])
    message = str(info.value)
    assert message.startswith(f"{tmp_path / 'fresh.safetensors'} does not fit the model")
    assert "missing classifier.bias" in message and message.endswith("; the file was just written; report it")


def path_with_recalibrated_bn(ckpt, arch: str, root, resolution: int, bn_batches: int, seed: int = 0):
    """What a supernet path should export as, built here with plain calls: the path's weights, BatchNorm
    re-estimated on the first ``bn_batches`` search-train batches at ``resolution`` drawn with ``seed``."""
    saved = torch.load(ckpt, weights_only=True)
    spec = dataclasses.replace(NetSpec(**saved["net"]), resolution=resolution)
    supernet = Supernet(spec, tuple(saved["depths"]))
    supernet.load_state_dict(saved["supernet"])
    expected = supernet.extract(Arch.parse(arch))
    data = build_data(DataConfig(root=str(root), val_fraction=0.2, batch_size=32), resolution, 1, "search", seed=seed)
    batches = itertools.islice(data.train.batches(0), bn_batches)
    recalibrate_bn(expected, expected, batches, RunContext(torch.device("cpu")))
    return expected.state_dict()


def test_a_supernet_path_is_exported_with_recalibrated_batchnorm(tiny_fashion_mnist, tmp_path):
    ckpt = search_checkpoint(tmp_path / "last.pth", tiny_fashion_mnist)
    arch = "12-3-104-5-32"
    result = export_result(supernet=str(ckpt), arch=arch, formats=["safetensors"],
                          overrides=[ONE_THREAD, "export.bn_batches=2"])
    path = tmp_path / f"path-{arch}.safetensors"
    assert result["files"]["safetensors"]["path"] == str(path) and result["weights"] == "plain"

    expected = path_with_recalibrated_bn(ckpt, arch, tiny_fashion_mnist, 28, bn_batches=2)
    exported = read_weights(path).sets["plain"]
    assert exported.keys() == expected.keys()
    for k, v in expected.items():
        assert torch.allclose(exported[k], v, atol=1e-6), k
    saved = torch.load(ckpt, weights_only=True)
    assert not torch.equal(exported["bn1.running_mean"], saved["supernet"]["bn1.running_mean"])


def test_a_supernet_path_at_another_resolution_is_recalibrated_on_images_of_that_size_in_the_runs_order(
        tiny_fashion_mnist, tmp_path):
    ckpt = search_checkpoint(tmp_path / "last.pth", tiny_fashion_mnist)
    result = export_result(supernet=str(ckpt), arch=ARCH, resolution=32, formats=["safetensors"],
                          overrides=[ONE_THREAD, "run.seed=3", "export.bn_batches=1"])
    assert result["net"]["resolution"] == 32
    exported = read_weights(result["files"]["safetensors"]["path"])
    assert exported.net["resolution"] == 32
    expected = path_with_recalibrated_bn(ckpt, ARCH, tiny_fashion_mnist, 32, bn_batches=1, seed=3)
    for k, v in expected.items():  # another size or seed moves the statistics by 1e-3 or more
        assert torch.allclose(exported.sets["plain"][k], v, atol=1e-5), k


def test_a_supernet_path_is_exported_from_the_ema_weights_unless_plain_ones_are_asked_for(tiny_fashion_mnist,
                                                                                         tmp_path):
    ckpt = search_checkpoint(tmp_path / "last.pth", tiny_fashion_mnist)
    saved = torch.load(ckpt, weights_only=True)
    saved["ema"] = {k: v + 1 if v.is_floating_point() else v for k, v in saved["supernet"].items()}
    torch.save(saved, ckpt)
    for plain, which in ((False, "ema"), (True, "plain")):
        result = export_result(supernet=str(ckpt), arch=ARCH, formats=["safetensors"], plain=plain,
                              out=str(tmp_path / which), overrides=[ONE_THREAD, "export.bn_batches=1"])
        assert result["weights"] == which
        exported = read_weights(tmp_path / f"{which}.safetensors").sets[which]
        source = saved["ema" if which == "ema" else "supernet"]
        assert torch.equal(exported["conv_stem.weight"], source["conv_stem.weight"]), which


def test_a_supernet_path_needs_data_with_the_supernets_classes(tiny_fashion_mnist, tmp_path):
    ckpt = search_checkpoint(tmp_path / "last.pth", tiny_fashion_mnist)
    with pytest.raises(CreamError, match="^the supernet has 10 classes but the data has 3; point --data at the "
                                         "dataset it was trained on$"):
        export_result(supernet=str(ckpt), arch=ARCH, formats=["safetensors"],
                     overrides=[ONE_THREAD, "data.classes=[0,1,2]"])


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """A search checkpoint, a released checkpoint and an exported .safetensors."""
    folder = tmp_path_factory.mktemp("inputs")
    released = released_checkpoint(folder / "r.pth.tar", build_child(Arch.parse(ARCH), SPEC))
    export_result(str(released), arch=ARCH, formats=["safetensors"], out=str(folder / "m"), overrides=[ONE_THREAD])
    return {"SUPERNET": search_checkpoint(folder / "last.pth", folder), "RELEASED": released,
            "SAFETENSORS": folder / "m.safetensors"}


@pytest.mark.parametrize("keys, message", [
    ({}, "^cream export needs either --checkpoint PATH or --supernet PATH --arch ARCH$"),
    ({"checkpoint": "a.pth", "supernet": "b.pth"}, "needs either"),
    ({"supernet": "SUPERNET"}, "^--supernet needs --arch ARCH "),
    ({"supernet": "SUPERNET", "arch": "3-3-3-3-3-3"}, "needs 5 stages"),
    ({"supernet": "SUPERNET", "arch": "333-3-3-3-3"}, "deeper than the supernet"),
    ({"supernet": "RELEASED"}, r"is not a search checkpoint \(the last.pth of `cream search`\); export a retrained net "
                               "with --checkpoint$"),
    ({"checkpoint": "RELEASED", "arch": "3-3-3-3-5"}, r"r\.pth\.tar \(ema weights\) does not fit the model .*; give "
                                                      r"the architecture the weights were trained with \(--arch\)$"),
    ({"checkpoint": "SAFETENSORS", "formats": ["safetensors"]}, "would overwrite the input"),
])
def test_bad_export_requests_are_one_line_errors(inputs, keys, message):
    keys = {k: str(inputs.get(v, v)) if isinstance(v, str) else v for k, v in keys.items()}
    with pytest.raises(CreamError, match=message) as info:
        export_result(**keys, overrides=[ONE_THREAD])
    assert "\n" not in str(info.value)


def test_data_says_where_a_supernets_images_are_when_the_search_read_them_elsewhere(inputs, tiny_fashion_mnist,
                                                                                    tmp_path):
    # The search checkpoint of ``inputs`` names a data folder without images; --data points at real ones.
    result = export_result(supernet=str(inputs["SUPERNET"]), arch=ARCH, formats=["safetensors"],
                           out=str(tmp_path / "m"), data=str(tiny_fashion_mnist),
                           overrides=[ONE_THREAD, "export.bn_batches=1"])
    assert result["files"]["safetensors"]["path"] == str(tmp_path / "m.safetensors")


def test_plain_exports_the_plain_weights_of_a_checkpoint_that_has_ema_ones(inputs, tmp_path):
    result = export_result(str(inputs["RELEASED"]), arch=ARCH, formats=["safetensors"], plain=True,
                          out=str(tmp_path / "p"), overrides=[ONE_THREAD])
    assert result["weights"] == "plain"
    plain = read_weights(tmp_path / "p.safetensors").sets["plain"]  # released_checkpoint's plain set is all zeros
    assert plain and all(not v.any() for v in plain.values())


@pytest.mark.parametrize("name, stem", [("best.pth", "best"), ("cream_287.pth.tar", "cream_287"), ("net.pt", "net"),
                                        ("net.tar", "net"), ("m.safetensors", "m"), ("weights.bin", "weights.bin")])
def test_exported_files_are_named_after_the_checkpoint_without_its_suffix(name, stem):
    e = SimpleNamespace(out=None, supernet=None, checkpoint=f"runs/x/{name}")
    assert output_stem(SimpleNamespace(export=e), Arch.parse(ARCH)) == Path("runs/x") / stem

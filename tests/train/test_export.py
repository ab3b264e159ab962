import itertools

import onnxruntime
import pytest
import torch

from cream.config import DataConfig
from cream.data import build_data
from cream.engine.context import RunContext
from cream.engine.evaluate import recalibrate_bn
from cream.errors import CreamError
from cream.space.arch import Arch
from cream.space.net import NetSpec, build_child
from cream.space.supernet import Supernet
from cream.train.export import export_model
from cream.train.tester import evaluate_checkpoint
from cream.train.weights import read_weights
from tests.train.conftest import ONE_THREAD, released_checkpoint, search_checkpoint

ARCH = "3-3-3-3-3"
SPEC = NetSpec(resolution=28, in_chans=1, num_classes=10)


@pytest.fixture
def released(tmp_path):
    torch.manual_seed(0)
    net = build_child(Arch.parse(ARCH), SPEC).eval()
    return net, released_checkpoint(tmp_path / "cream_tiny.pth.tar", net)


def exported_and_expected(released, fmt):
    net, path = released
    keys = {"checkpoint": str(path), "arch": ARCH, "resolution": 28, "formats": [fmt]}
    result = export_model(keys, None, [ONE_THREAD])
    assert result["weights"] == "ema" and result["files"][fmt]["max_abs_diff"] <= 1e-4
    x = torch.randn(3, 1, 28, 28)  # a batch size the export never saw: the batch axis is dynamic
    with torch.no_grad():
        return result["files"][fmt]["path"], x, net(x)


def test_onnx_has_a_dynamic_batch_axis_and_matches_pytorch_in_onnxruntime(released, tmp_path):
    path, x, expected = exported_and_expected(released, "onnx")
    assert path == str(tmp_path / "cream_tiny.onnx")
    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].name == "images" and session.get_inputs()[0].shape[0] == "batch"
    assert (torch.from_numpy(session.run(None, {"images": x.numpy()})[0]) - expected).abs().max() <= 1e-4


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated")
def test_torchscript_matches_pytorch(released, tmp_path):
    path, x, expected = exported_and_expected(released, "torchscript")
    assert path == str(tmp_path / "cream_tiny.torchscript.pt")
    assert (torch.jit.load(path)(x) - expected).abs().max() <= 1e-4


def test_safetensors_carry_the_architecture_and_cream_test_reads_them_back(released, tiny_fashion_mnist, tmp_path):
    path, _, _ = exported_and_expected(released, "safetensors")
    assert path == str(tmp_path / "cream_tiny.safetensors")
    weights = read_weights(path)
    assert weights.arch == ARCH and weights.net["resolution"] == 28 and list(weights.sets) == ["ema"]
    quick = {"latency_batch": 4, "latency_repeats": 2, "latency_warmup": 0}
    original = evaluate_checkpoint({"checkpoint": str(released[1]), "arch": ARCH, "resolution": 28, **quick},
                                   str(tiny_fashion_mnist), [ONE_THREAD])
    back = evaluate_checkpoint({"checkpoint": path, **quick}, str(tiny_fashion_mnist), [ONE_THREAD])
    assert back["results"] == original["results"] and back["arch"] == ARCH


def test_a_supernet_path_is_exported_with_recalibrated_batchnorm(tiny_fashion_mnist, tmp_path):
    ckpt = search_checkpoint(tmp_path / "last.pth", tiny_fashion_mnist)
    arch = "12-3-104-5-32"
    result = export_model({"supernet": str(ckpt), "arch": arch, "formats": ["safetensors"], "bn_batches": 2}, None,
                          [ONE_THREAD])
    path = tmp_path / f"path-{arch}.safetensors"
    assert result["files"]["safetensors"]["path"] == str(path) and result["weights"] == "plain"

    saved = torch.load(ckpt, weights_only=True)
    supernet = Supernet(NetSpec(**saved["net"]), tuple(saved["depths"]))
    supernet.load_state_dict(saved["supernet"])
    expected = supernet.extract(Arch.parse(arch))
    data = build_data(DataConfig(root=str(tiny_fashion_mnist), val_fraction=0.2, batch_size=32), 28, 1, "search")
    recalibrate_bn(expected, expected, itertools.islice(data.train.batches(0), 2), RunContext(torch.device("cpu")))
    exported = read_weights(path).sets["plain"]
    assert exported.keys() == expected.state_dict().keys()
    for k, v in expected.state_dict().items():
        assert torch.allclose(exported[k], v, atol=1e-6), k
    assert not torch.equal(exported["bn1.running_mean"], saved["supernet"]["bn1.running_mean"])


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """A search checkpoint, a released checkpoint and an exported .safetensors."""
    folder = tmp_path_factory.mktemp("inputs")
    released = released_checkpoint(folder / "r.pth.tar", build_child(Arch.parse(ARCH), SPEC))
    export_model({"checkpoint": str(released), "arch": ARCH, "formats": ["safetensors"], "out": str(folder / "m")},
                 None, [ONE_THREAD])
    return {"SUPERNET": search_checkpoint(folder / "last.pth", folder), "RELEASED": released,
            "SAFETENSORS": folder / "m.safetensors"}


@pytest.mark.parametrize("keys, message", [
    ({}, "needs either --checkpoint PATH or --supernet PATH --arch ARCH"),
    ({"checkpoint": "a.pth", "supernet": "b.pth"}, "needs either"),
    ({"supernet": "SUPERNET"}, "--supernet needs --arch"),
    ({"supernet": "SUPERNET", "arch": "3-3-3-3-3-3"}, "needs 5 stages"),
    ({"supernet": "SUPERNET", "arch": "333-3-3-3-3"}, "deeper than the supernet"),
    ({"supernet": "RELEASED"}, "is not a search checkpoint"),
    ({"checkpoint": "SAFETENSORS", "formats": ["safetensors"]}, "would overwrite the input"),
])
def test_bad_export_requests_are_one_line_errors(inputs, keys, message):
    keys = {k: str(inputs.get(v, v)) if isinstance(v, str) else v for k, v in keys.items()}
    with pytest.raises(CreamError, match=message) as info:
        export_model(keys, None, [ONE_THREAD])
    assert "\n" not in str(info.value)

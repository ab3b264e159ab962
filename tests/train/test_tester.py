import json

import pytest
import torch

from cream import api
from cream.config import DataConfig
from cream.data import build_data
from cream.engine.context import RunContext
from cream.engine.evaluate import evaluate
from cream.errors import CreamError
from cream.space.arch import Arch
from cream.space.flops import count_macs, count_params
from cream.space.net import NetSpec, build_child
from tests.latency_tables import FM_NET, write_table
from tests.train.conftest import ONE_THREAD, released_checkpoint

ARCH = "3-3-3-3-3"
RELEASED_SPEC = NetSpec(resolution=28, in_chans=1, num_classes=10)  # released models are width 1.0
QUICK = [ONE_THREAD, "test.latency_batch=8", "test.latency_repeats=3", "test.latency_warmup=1"]


def report_of(*args, **kwargs) -> dict:
    """``cream.test``'s result as the dict test.json holds (and ``written_to``)."""
    return vars(api.test(*args, **kwargs))


def test_a_released_checkpoint_is_tested_with_ema_and_plain_weights(tiny_fashion_mnist, tmp_path):
    torch.manual_seed(0)
    net = build_child(Arch.parse(ARCH), RELEASED_SPEC).eval()
    path = released_checkpoint(tmp_path / "cream_tiny.pth.tar", net)
    report = report_of(str(path), arch=ARCH, resolution=28, plain=True, data=str(tiny_fashion_mnist),
                                 overrides=QUICK)
    data = build_data(DataConfig(root=str(tiny_fashion_mnist)), 28, 1, "test")
    expected = evaluate(net, data.val, RunContext(torch.device("cpu")))
    assert report["weights"] == "ema" and report["results"]["ema"] == expected
    assert (report["top1"], report["top5"], report["loss"]) == (expected["top1"], expected["top5"], expected["loss"])
    assert report["results"]["plain"]["top1"] == 10.0  # the all-zero plain weights predict one class
    assert report["data"]["images"] == 100 and report["data"]["dataset"] == "fashion_mnist"
    assert report["params"] == pytest.approx(count_params(net))
    assert report["macs"] == pytest.approx(count_macs(net, torch.zeros(1, 1, 28, 28)))
    assert [lat["batch"] for lat in report["latency"]] == [1, 8]
    assert all(lat["ms"] > 0 and lat["repeats"] == 3 for lat in report["latency"])
    written = json.loads((tmp_path / "test.json").read_text())
    assert written["top1"] == report["top1"] and written["arch"] == ARCH and written["device"] == "cpu"


def test_the_ema_alone_is_tested_unless_plain_is_asked_and_out_moves_test_json(tiny_fashion_mnist, tmp_path):
    path = released_checkpoint(tmp_path / "c.pth.tar", build_child(Arch.parse(ARCH), RELEASED_SPEC))
    out = tmp_path / "reports" / "c.json"
    report = report_of(str(path), arch=ARCH, resolution=28, out=str(out), data=str(tiny_fashion_mnist),
                                 overrides=QUICK)
    assert list(report["results"]) == ["ema"] and out.is_file() and not (tmp_path / "test.json").exists()


def test_a_latency_table_adds_its_prediction_beside_a_measurement_at_its_batch(tiny_fashion_mnist, tmp_path):
    path = released_checkpoint(tmp_path / "c.pth.tar", build_child(Arch.parse(ARCH), RELEASED_SPEC))
    table = write_table(tmp_path / "t.json", block_ms=lambda s, b, op: op / 4, fixed=(0.25,) * 4, batch=3,
                        net={**FM_NET, "width": 1.0})
    report = report_of(str(path), arch=ARCH, resolution=28, latency_table=str(table),
                                 data=str(tiny_fashion_mnist), overrides=QUICK)
    got = report["latency_table"]
    assert got["predicted_ms"] == 4.75  # 1 ms of fixed parts and five k5e6 blocks (op 3) at 0.75 ms
    assert (got["file"], got["batch"], got["threads"]) == (str(table), 3, 1) and got["measured_ms"] > 0
    with pytest.raises(CreamError, match=r"was made for width 0.5 \(this run: 1.0\); make one for this run with: "
                                         r"cream latency-table --device cpu --resolution 28 --in-chans 1 "):
        report_of(str(path), arch=ARCH, resolution=28, latency_table=str(write_table(tmp_path / "fm.json")),
                            data=str(tiny_fashion_mnist), overrides=QUICK)


@pytest.mark.parametrize("keys, classes, message", [
    ({}, 10, r"there is no retrained model of .* at runs/retrain/fashion_mnist/best.pth; run `cream retrain --data"),
    ({"checkpoint": "nowhere.pth"}, 10, "does not exist"),
    ({"arch": "cream_14"}, 1000, "has 1000 classes but the test data has 10"),
    ({"arch": "3-33-33-3-4"}, 10, "does not fit the model"),
])
def test_bad_checkpoints_are_one_line_errors(tiny_fashion_mnist, tmp_path, keys, classes, message, monkeypatch):
    monkeypatch.chdir(tmp_path)  # where runs/ would be
    net = build_child(Arch.parse("3-33-33-3-3"), NetSpec(resolution=64, in_chans=1, num_classes=classes))
    path = released_checkpoint(tmp_path / "c.pth.tar", net)
    keys = {"checkpoint": str(path), **keys} if "checkpoint" not in keys and keys else keys
    with pytest.raises(CreamError, match=message) as info:
        report_of(**keys, data=str(tiny_fashion_mnist), overrides=QUICK)
    assert "\n" not in str(info.value)
    with pytest.raises(CreamError, match="cream test needs --checkpoint PATH .* or --data DIR to test runs/retrain/"):
        report_of(overrides=QUICK)

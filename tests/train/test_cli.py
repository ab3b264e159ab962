import json

import pytest

from cream.cli import main
from tests.train.conftest import ONE_THREAD


def test_retrain_then_test_then_export_from_the_command_line(tiny_fashion_mnist, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["retrain", "fashion_mnist", f"data.root={tiny_fashion_mnist}", f"run.out_dir={out}",
                 "retrain.arch=0-0-0-0-0", "retrain.epochs=1", "retrain.ema_decay=0.9", "data.batch_size=32",
                 "data.val_fraction=0.2", ONE_THREAD, "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "retrained 0-0-0-0-0: best val top-1" in printed and f"cream test --checkpoint {out}/best.pth" in printed

    # The data settings (here: the tiny root) come from the checkpoint.
    assert main(["test", "--checkpoint", str(out / "best.pth"), "test.latency_batch=4", "test.latency_repeats=2",
                 ONE_THREAD]) == 0
    printed = capsys.readouterr().out
    report = json.loads((out / "test.json").read_text())
    assert f"test top-1 {report['top1']:.2f}%" in printed
    assert "(ema weights, 100 test images of fashion_mnist)" in printed
    assert "latency on cpu" in printed and report["data"]["root"] == str(tiny_fashion_mnist)

    assert main(["export", "--checkpoint", str(out / "best.pth"), "--format", "safetensors", ONE_THREAD]) == 0
    assert f"wrote {out}/best.safetensors  (safetensors; ema weights of 0-0-0-0-0" in capsys.readouterr().out
    assert main(["test", "--checkpoint", str(out / "best.safetensors"), "--data", str(tiny_fashion_mnist),
                 "--out", str(tmp_path / "st.json"), "test.latency_batch=4", "test.latency_repeats=2", ONE_THREAD]) == 0
    assert json.loads((tmp_path / "st.json").read_text())["results"] == report["results"]


@pytest.mark.parametrize("command", ["retrain", "test", "export"])
def test_keys_lists_every_key_of_the_command(command, capsys):
    assert main([command, "--keys"]) == 0
    printed = capsys.readouterr().out
    section = {"retrain": "retrain:", "test": "test:", "export": "export:"}[command]
    assert section in printed.splitlines() and "data:" in printed.splitlines()


@pytest.mark.parametrize("args, message", [
    (["test"], "cream test needs --checkpoint PATH"),
    (["test", "--checkpoint", "nowhere.pth"], "checkpoint nowhere.pth does not exist"),
    (["export", "--checkpoint", "a.pth", "--supernet", "b.pth"], "not allowed with argument"),
    (["export", "--format", "onnx,gif"], "not a comma-separated list of onnx, torchscript, safetensors"),
    (["retrain", "fashion_mnist", "retrain.arch=3-3"], "needs 5 stages"),
    (["retrain", "nope"], "no retrain preset named 'nope'"),
])
def test_errors_are_one_line_on_stderr(args, message, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and err.startswith("error: ")


@pytest.mark.slow
def test_search_then_retrain_its_result_and_export_a_supernet_path(tiny_fashion_mnist, tmp_path, capsys):
    """The demo in miniature, on a real search: its result.json and its last.pth feed retrain and export."""
    search = tmp_path / "search"
    assert main(["search", "fashion_mnist", f"data.root={tiny_fashion_mnist}", f"run.out_dir={search}",
                 "data.batch_size=32", "data.eval_batch_size=64", "data.val_fraction=0.2", "data.train_per_class=null",
                 "search.epochs=2",
                 "search.warmup_epochs=1", "search.board_size=3", "search.meta_update_every=2", "search.meta_slice=8",
                 "search.val_images=60", "search.bn_batches=1", "search.candidates=3", ONE_THREAD, "--quiet"]) == 0
    result = json.loads((search / "result.json").read_text())
    retrain = tmp_path / "retrain"
    assert main(["retrain", "fashion_mnist", f"data.root={tiny_fashion_mnist}", f"run.out_dir={retrain}",
                 f"retrain.arch={search / 'result.json'}", "retrain.epochs=1", "data.batch_size=32",
                 "data.val_fraction=0.2", ONE_THREAD, "--quiet"]) == 0
    assert json.loads((retrain / "result.json").read_text())["net"] == result["net"]
    assert main(["export", "--supernet", str(search / "last.pth"), "--arch", result["arch"],
                 "--format", "onnx,safetensors", "export.bn_batches=2", ONE_THREAD]) == 0
    path = search / f"path-{result['arch']}.safetensors"
    assert path.is_file() and (search / f"path-{result['arch']}.onnx").is_file()
    capsys.readouterr()
    assert main(["test", "--checkpoint", str(path), "--data", str(tiny_fashion_mnist), "test.latency_batch=4",
                 "test.latency_repeats=2", ONE_THREAD]) == 0
    assert "(plain weights, 100 test images of fashion_mnist)" in capsys.readouterr().out

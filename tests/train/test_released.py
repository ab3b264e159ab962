"""Checkpoints laid out as the released Cream models are, built here from the paper's code, not from ours.

The paper's ChildNet (lib/models/structures/childnet.py on timm 0.1.20) names its weights ``conv_stem``, ``bn1``,
``blocks.S.B.*`` (a depthwise-separable block, the searched inverted-residual blocks with squeeze-excite, a 1x1
conv), ``conv_head`` and ``classifier``; its tools/retrain.py saves them with timm's CheckpointSaver under
``state_dict`` and ``state_dict_ema``, beside its yacs config as ``args``. ``paper_weights`` below writes those keys
and shapes from the paper's channel arithmetic, and ``paper_forward`` computes the paper's forward pass with plain
torch functions, so a test fails if our nets name, shape or use the weights differently.
"""

import json
import sys
import types

import pytest
import torch
import torch.nn.functional as F

from cream.cli import main
from cream.config import DataConfig
from cream.data import build_data
from cream.space.net import build_child
from cream.train.weights import load_into, net_for, read_weights
from tests.conftest import make_image_tree

# NET.SELECTION: (arch_list, DATASET.IMAGE_SIZE), as in the paper's tools/test.py.
PAPER_MODELS = {
    14: ([[0], [3], [3, 3], [3, 3], [3], [3], [0]], 64),
    43: ([[0], [3], [3, 1], [3, 1], [3, 3, 3], [3, 3], [0]], 96),
    114: ([[0], [3], [3, 3], [3, 3], [3, 3, 3], [3, 3], [0]], 160),
    287: ([[0], [3], [3, 3], [3, 1, 3], [3, 3, 3, 3], [3, 3, 3], [0]], 224),
    481: ([[0], [3, 4, 3, 1], [3, 2, 3, 0], [3, 3, 3, 1, 1], [3, 3, 3, 3], [3, 3, 3, 3], [0]], 224),
    604: ([[0], [3, 3, 2, 3, 3], [3, 2, 3, 2, 3], [3, 2, 3, 2, 3], [3, 3, 2, 2, 3, 3], [3, 3, 2, 3, 3, 3], [0]], 224),
}
CHOICES = [(k, e) for k in (3, 5, 7) for e in (4, 6)]  # gen_childnet: op index -> (kernel, expansion)
STAGES = [(24, 2), (40, 2), (80, 2), (96, 1), (192, 2)]  # choice_block_pool: out channels, first-block stride


def make_divisible(v, divisor=8):
    """timm 0.1.20's channel rounding (SE reduction: divisor 8 of the expanded channels, reduce_mid=True)."""
    rounded = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * v else rounded


def paper_layout(arch_list, num_classes):
    """[(key, shape)] of the paper's ChildNet for ``arch_list``."""
    def bn(prefix, chs):
        return [(f"{prefix}.{n}", (chs,)) for n in ("weight", "bias", "running_mean", "running_var")] + \
            [(f"{prefix}.num_batches_tracked", ())]

    def se(prefix, chs):
        rd = make_divisible(chs * 0.25)
        return [(f"{prefix}.conv_reduce.weight", (rd, chs, 1, 1)), (f"{prefix}.conv_reduce.bias", (rd,)),
                (f"{prefix}.conv_expand.weight", (chs, rd, 1, 1)), (f"{prefix}.conv_expand.bias", (chs,))]

    layout = [("conv_stem.weight", (16, 3, 3, 3)), *bn("bn1", 16)]
    p = "blocks.0.0"  # ds_r1_k3_s1_e1_c16_se0.25
    layout += [(f"{p}.conv_dw.weight", (16, 1, 3, 3)), *bn(f"{p}.bn1", 16), *se(f"{p}.se", 16),
               (f"{p}.conv_pw.weight", (16, 16, 1, 1)), *bn(f"{p}.bn2", 16)]
    chs = 16
    for s, ops in enumerate(arch_list[1:-1], 1):
        out = STAGES[s - 1][0]
        for b, op in enumerate(ops):
            kernel, expansion = CHOICES[op]
            mid, p = make_divisible(chs * expansion), f"blocks.{s}.{b}"
            layout += [(f"{p}.conv_pw.weight", (mid, chs, 1, 1)), *bn(f"{p}.bn1", mid),
                       (f"{p}.conv_dw.weight", (mid, 1, kernel, kernel)), *bn(f"{p}.bn2", mid), *se(f"{p}.se", mid),
                       (f"{p}.conv_pwl.weight", (out, mid, 1, 1)), *bn(f"{p}.bn3", out)]
            chs = out
    layout += [("blocks.6.0.conv.weight", (320, chs, 1, 1)), *bn("blocks.6.0.bn1", 320),
               ("conv_head.weight", (1280, 320, 1, 1)), ("conv_head.bias", (1280,)),
               ("classifier.weight", (num_classes, 1280)), ("classifier.bias", (num_classes,))]
    return layout


def paper_weights(arch_list, num_classes, seed):
    """Random weights in the paper's layout, scaled so activations stay moderate through the whole net."""
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape in paper_layout(arch_list, num_classes):
        if key.endswith("num_batches_tracked"):
            state[key] = torch.tensor(1000)
        elif key.endswith("running_var") or (key.endswith(".weight") and len(shape) == 1):
            state[key] = 0.5 + torch.rand(shape, generator=gen)
        elif len(shape) == 1:
            state[key] = 0.1 * torch.randn(shape, generator=gen)
        else:
            fan_in = shape[1] * shape[2] * shape[3] if len(shape) == 4 else shape[1]
            state[key] = torch.randn(shape, generator=gen) / fan_in ** 0.5
    return state


def paper_forward(sd, arch_list, x):
    """The paper's ChildNet.forward in eval mode, in plain torch: Swish, ReLU + hard-sigmoid squeeze-excite,
    'same'-size symmetric padding, residuals where stride 1 keeps the width, pool before conv_head."""
    def swish(t):
        return t * torch.sigmoid(t)

    def bn(t, p):
        return F.batch_norm(t, sd[f"{p}.running_mean"], sd[f"{p}.running_var"], sd[f"{p}.weight"], sd[f"{p}.bias"],
                            False, 0.0, 1e-5)

    def conv(t, key, stride=1, depthwise=False):
        w = sd[f"{key}.weight"]
        return F.conv2d(t, w, sd.get(f"{key}.bias"), stride, w.shape[-1] // 2, 1, t.shape[1] if depthwise else 1)

    def se(t, p):
        s = F.relu(conv(t.mean((2, 3), keepdim=True), f"{p}.conv_reduce"))
        return t * F.relu6(conv(s, f"{p}.conv_expand") + 3) / 6

    x = swish(bn(conv(x, "conv_stem", 2), "bn1"))
    p = "blocks.0.0"
    x = x + bn(conv(se(swish(bn(conv(x, f"{p}.conv_dw", 1, True), f"{p}.bn1")), f"{p}.se"), f"{p}.conv_pw"), f"{p}.bn2")
    for s, ops in enumerate(arch_list[1:-1], 1):
        out, first_stride = STAGES[s - 1]
        for b in range(len(ops)):
            p, stride = f"blocks.{s}.{b}", first_stride if b == 0 else 1
            y = swish(bn(conv(x, f"{p}.conv_pw"), f"{p}.bn1"))
            y = se(swish(bn(conv(y, f"{p}.conv_dw", stride, True), f"{p}.bn2")), f"{p}.se")
            y = bn(conv(y, f"{p}.conv_pwl"), f"{p}.bn3")
            x = x + y if stride == 1 and x.shape[1] == out else y
    x = swish(bn(conv(x, "blocks.6.0.conv"), "blocks.6.0.bn1"))
    x = swish(conv(x.mean((2, 3), keepdim=True), "conv_head"))
    return F.linear(x.flatten(1), sd["classifier.weight"], sd["classifier.bias"])


class YacsStandIn(dict):
    """Pickles as the paper's yacs CfgNode does: a dict subclass of module yacs.config, state in __dict__."""

    def __init__(self, values):
        super().__init__(values)
        self.__dict__["__immutable__"] = False
        self.__dict__["__new_allowed__"] = False


def save_released(path, sets, prefix, legacy, monkeypatch):
    """Save as the paper's tools/retrain.py does (timm's CheckpointSaver: epoch, arch, state_dict(s), optimizer,
    args = the yacs config, version, metric), then make sure yacs cannot be imported when it is read back."""
    yacs, config = types.ModuleType("yacs"), types.ModuleType("yacs.config")
    YacsStandIn.__module__, YacsStandIn.__qualname__ = "yacs.config", "CfgNode"
    config.CfgNode, yacs.config = YacsStandIn, config
    monkeypatch.setitem(sys.modules, "yacs", yacs)
    monkeypatch.setitem(sys.modules, "yacs.config", config)
    cfg = YacsStandIn({"LR": 0.064, "NET": YacsStandIn({"SELECTION": 470}), "PRE_PROB": (0.05, 0.2)})
    ckpt = {"epoch": 499, "arch": "481m_retrain", "optimizer": {"state": {}, "param_groups": [{"lr": 1e-5}]},
            "args": cfg, "version": 2, "metric": 79.2}
    ckpt.update({key: {prefix + k: v for k, v in state.items()} for key, state in sets.items()})
    torch.save(ckpt, path, _use_new_zipfile_serialization=not legacy)  # torch 1.2 wrote the legacy format
    monkeypatch.delitem(sys.modules, "yacs")
    monkeypatch.delitem(sys.modules, "yacs.config")
    return path


# selection: (name given to --arch, weight sets in the file, key prefix, legacy serialization)
VARIANTS = {
    14: ("14", ("state_dict", "state_dict_ema"), "module.", True),
    43: ("42", ("state_dict_ema",), "", False),
    114: ("cream_114", ("state_dict",), "", True),
    287: ("285", ("state_dict", "state_dict_ema"), "", False),
    481: ("470", ("state_dict",), "module.", False),
    604: ("cream_604", ("state_dict", "state_dict_ema"), "module.", True),
}


@pytest.mark.parametrize("selection", list(PAPER_MODELS))
def test_released_checkpoints_of_every_model_load_and_compute_the_papers_logits(tmp_path, monkeypatch, selection):
    arch_list, side = PAPER_MODELS[selection]
    name, keys, prefix, legacy = VARIANTS[selection]
    sets = {key: paper_weights(arch_list, 1000, seed=i) for i, key in enumerate(keys)}
    path = save_released(tmp_path / f"{selection}.pth.tar", sets, prefix, legacy, monkeypatch)
    weights = read_weights(path)
    used, state = weights.preferred()
    assert used == ("ema" if "state_dict_ema" in keys else "plain")
    arch, spec = net_for(weights, name)
    assert spec.resolution == side and spec.num_classes == 1000
    net = build_child(arch, spec).eval()
    load_into(net, state, str(path), "fix")  # strict: every key and shape as the paper's
    x = torch.randn(2, 3, side, side, generator=torch.Generator().manual_seed(1))
    expected = paper_forward(sets["state_dict_ema" if used == "ema" else "state_dict"], arch_list, x)
    with torch.no_grad():
        got = net(x)
    assert torch.allclose(got, expected, rtol=1e-4, atol=1e-4 * expected.abs().max().item())


QUICK = ["test.latency_batch=2", "test.latency_repeats=1", "test.latency_warmup=0", "run.threads=1"]


def test_cream_test_runs_a_released_checkpoint_on_image_folders(tmp_path, monkeypatch, capsys):
    arch_list, side = PAPER_MODELS[14]
    tree = make_image_tree(tmp_path / "data", per_class=3, size=side)
    ema, plain = paper_weights(arch_list, 3, seed=0), paper_weights(arch_list, 3, seed=1)
    path = save_released(tmp_path / "14.pth.tar", {"state_dict": plain, "state_dict_ema": ema}, "module.", True,
                         monkeypatch)
    assert main(["test", "--checkpoint", str(path), "--arch", "14", "--data", str(tree), "data.workers=0", *QUICK]) == 0
    report = json.loads((tmp_path / "test.json").read_text())
    data = build_data(DataConfig(dataset="imagefolder", root=str(tree), workers=0), side, 3, "test")
    images, labels = map(torch.cat, zip(*data.val))
    top1 = 100.0 * (paper_forward(ema, arch_list, images).argmax(1) == labels).float().mean().item()
    assert report["weights"] == "ema" and report["arch"] == "3-33-33-3-3" and report["net"]["resolution"] == 64
    assert report["top1"] == pytest.approx(top1) and report["data"]["images"] == 9


def test_cream_test_official_reads_the_papers_test_yaml(tmp_path, monkeypatch, capsys):
    arch_list, side = PAPER_MODELS[43]
    tree = make_image_tree(tmp_path / "imagenet", per_class=2, size=side)
    ckpt = save_released(tmp_path / "42.pth.tar", {"state_dict_ema": paper_weights(arch_list, 3, seed=0)}, "", False,
                         monkeypatch)
    test_yaml = tmp_path / "test.yaml"  # the paper's experiments/configs/test/test.yaml, with our paths
    test_yaml.write_text(f"""\
AUTO_RESUME: True
DATA_DIR: '{tree}'
MODEL: 'Childnet_Testing'
RESUME_PATH: '{ckpt}'
SAVE_PATH: '{tmp_path}/workspace/test'
SEED: 42
LOG_INTERVAL: 50
WORKERS: 0
NUM_GPU: 2
DATASET:
  NUM_CLASSES: 1000
  IMAGE_SIZE: 224 # image patch size
  INTERPOLATION: 'bilinear' # Image resize interpolation type
  BATCH_SIZE: 32 # batch size
NET:
  GP: 'avg'
  DROPOUT_RATE: 0.0
  SELECTION: 42
  EMA:
    USE: True
    FORCE_CPU: False # force model ema to be tracked on CPU
    DECAY: 0.9998
OPTIMIZER:
  MOMENTUM: 0.9
  WEIGHT_DECAY: 1e-3
""")
    assert main(["test", "--official", str(test_yaml), *QUICK]) == 0
    out = capsys.readouterr().out
    assert "NET.SELECTION 42 -> test.arch='cream_43'  (42 is the paper README's name of cream_43" in out
    report = json.loads((tmp_path / "workspace" / "test" / "Childnet_Testing" / "test.json").read_text())
    assert report["arch"] == "3-31-31-333-33" and report["net"]["resolution"] == 96  # the paper tests 43 at 96 px
    cfg = report["config"]
    assert cfg["data"]["eval_batch_size"] == 4 * 32 and cfg["data"]["interpolation"] == "bicubic"
    assert report["checkpoint"] == str(ckpt) and report["weights"] == "ema"

    other = make_image_tree(tmp_path / "other", classes=("a", "b", "c"), per_class=1, size=side)
    out = tmp_path / "other.json"
    assert main(["test", "--official", str(test_yaml), "--data", str(other), "--out", str(out), *QUICK]) == 0
    report = json.loads(out.read_text())  # --data and --out win over DATA_DIR and SAVE_PATH
    assert report["data"]["root"] == str(other) and report["data"]["images"] == 3

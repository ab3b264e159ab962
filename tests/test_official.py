"""``--official FILE.yaml``: config files of the paper's code, written here with its keys and values."""

import re

import pytest
import torch
import yaml

from cream.cli import main
from cream.config import RetrainConfig
from cream.errors import CreamError
from cream.official import PAPER_KEYS, translate
from cream.train.recipe import create_optimizer, create_scheduler

# The paper's experiments/configs/train/train.yaml, as its repository has it.
SEARCH_FILE = """\
AUTO_RESUME: False
DATA_DIR: './data/imagenet'
MODEL: 'Supernet_Training'
RESUME_PATH: './experiments/workspace/train/resume.pth.tar'
SAVE_PATH: './experiments/workspace/train'
SEED: 42
LOG_INTERVAL: 50
RECOVERY_INTERVAL: 0
WORKERS: 8
NUM_GPU: 8
SAVE_IMAGES: False
AMP: False
OUTPUT: 'None'
EVAL_METRICS: 'prec1'
TTA: 0
LOCAL_RANK: 0

DATASET:
  NUM_CLASSES: 1000
  IMAGE_SIZE: 224 # image patch size
  INTERPOLATION: 'bilinear' # Image resize interpolation type
  BATCH_SIZE: 128 # batch size

NET:
  GP: 'avg'
  DROPOUT_RATE: 0.0

  EMA:
    USE: True
    FORCE_CPU: False # force model ema to be tracked on CPU
    DECAY: 0.9998

OPT: 'sgd'
LR: 1.0
EPOCHS: 120
META_LR: 1e-4

BATCHNORM:
  SYNC_BN: False

SUPERNET:
  UPDATE_ITER: 200
  SLICE: 4
  POOL_SIZE: 10
  RESUNIT: False
  DIL_CONV: False
  UPDATE_2ND: True
  FLOPS_MINIMUM: 0
  FLOPS_MAXIMUM: 600
  PICK_METHOD: 'meta'
  META_STA_EPOCH: 20
  HOW_TO_PROB: 'pre_prob'
  PRE_PROB: (0.05,0.2,0.05,0.5,0.05,0.15)
"""

# A retrain file laid out like the paper's experiments/configs/retrain/NNN.yaml.
RETRAIN_FILE = """\
AUTO_RESUME: False
DATA_DIR: './data/imagenet'
MODEL: '{model}'
RESUME_PATH: './experiments/workspace/retrain/resume.pth.tar'
SAVE_PATH: './experiments/workspace/retrain'
SEED: 42
LOG_INTERVAL: 50
RECOVERY_INTERVAL: 0
WORKERS: 8
NUM_GPU: 8
AMP: False
EVAL_METRICS: 'prec1'

DATASET:
  NUM_CLASSES: 1000
  IMAGE_SIZE: 224 # image patch size
  INTERPOLATION: 'random' # Image resize interpolation type
  BATCH_SIZE: 128 # batch size
  NO_PREFECHTER: False

NET:
  GP: 'avg'
  DROPOUT_RATE: 0.2
  SELECTION: {selection}

  EMA:
    USE: True
    FORCE_CPU: False # force model ema to be tracked on CPU
    DECAY: 0.9999

LR: 0.064
EPOCHS: 500
OPT_EPS: 1e-3
SCHED: '{sched}'
OPT: 'rmsproptf'
WARMUP_LR: 1e-6
DECAY_EPOCHS: 2.4
DECAY_RATE: 0.973
WARMUP_EPOCHS: 3
WEIGHT_DECAY: 1e-5

AUGMENTATION:
  AA: 'rand-m9-mstd0.5'
  RE_PROB: 0.2  # random erase prob
  RE_MODE: 'pixel'  # random erase mode
"""


# The keys of the paper's lib/config.py, in its order.
PAPER_CONFIG_KEYS = """
AUTO_RESUME DATA_DIR MODEL RESUME_PATH SAVE_PATH SEED LOG_INTERVAL RECOVERY_INTERVAL WORKERS NUM_GPU SAVE_IMAGES AMP
OUTPUT EVAL_METRICS TTA LOCAL_RANK VERBOSE
DATASET.NUM_CLASSES DATASET.IMAGE_SIZE DATASET.INTERPOLATION DATASET.BATCH_SIZE DATASET.NO_PREFECHTER DATASET.PIN_MEM
DATASET.VAL_BATCH_MUL
NET.SELECTION NET.GP NET.DROPOUT_RATE NET.EMA.USE NET.EMA.FORCE_CPU NET.EMA.DECAY
OPT OPT_EPS MOMENTUM WEIGHT_DECAY OPTIMIZER.NAME OPTIMIZER.MOMENTUM OPTIMIZER.WEIGHT_DECAY
SCHED LR_NOISE_PCT LR_NOISE_STD WARMUP_LR MIN_LR EPOCHS START_EPOCH DECAY_EPOCHS WARMUP_EPOCHS COOLDOWN_EPOCHS
PATIENCE_EPOCHS DECAY_RATE LR LR_NOISE META_LR
AUGMENTATION.AA AUGMENTATION.COLOR_JITTER AUGMENTATION.RE_PROB AUGMENTATION.RE_MODE AUGMENTATION.MIXUP
AUGMENTATION.MIXUP_OFF_EPOCH AUGMENTATION.SMOOTHING
BATCHNORM.SYNC_BN BATCHNORM.BN_TF BATCHNORM.BN_MOMENTUM BATCHNORM.BN_EPS
SUPERNET.UPDATE_ITER SUPERNET.SLICE SUPERNET.POOL_SIZE SUPERNET.RESUNIT SUPERNET.DIL_CONV SUPERNET.UPDATE_2ND
SUPERNET.FLOPS_MAXIMUM SUPERNET.FLOPS_MINIMUM SUPERNET.PICK_METHOD SUPERNET.META_STA_EPOCH SUPERNET.HOW_TO_PROB
SUPERNET.PRE_PROB
""".split()


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.fixture
def captured(monkeypatch):
    """The config `cream search` / `cream retrain` would run with (the run itself is replaced)."""
    seen = {}

    def search(cfg, force=False, strategy=None, notes=(), after_epoch=None):
        seen["cfg"] = cfg
        return {"arch": "3-3-3-3-3", "flops": 1.0, "params": 1.0, "val_top1": 1.0,
                "config": {"run": {"out_dir": cfg.run.out_dir}}}

    def retrain(cfg, force=False, notes=(), after_epoch=None):
        seen["cfg"] = cfg
        return {"arch": "3-3-3-3-3", "best_top1": 1.0, "best_epoch": 1, "weights": "ema", "elapsed_s": 1.0,
                "checkpoint": "x", "config": {"run": {"out_dir": cfg.run.out_dir}}}

    monkeypatch.setattr("cream.nas.trainer.run_search", search)
    monkeypatch.setattr("cream.analysis.plots.plot_search_run", lambda folder, result: None)  # no run to draw
    monkeypatch.setattr("cream.train.trainer.run_retrain", retrain)
    return seen


def test_the_papers_search_file_maps_to_our_search(tmp_path, captured, capsys):
    path = write(tmp_path, "train.yaml", SEARCH_FILE)
    assert main(["search", "--official", str(path), "search.epochs=3"]) == 0
    cfg, out = captured["cfg"], capsys.readouterr()
    s = cfg.search
    assert (s.lr, s.lr_batch, s.meta_lr) == (1.0, 128 * 8, 1e-4)  # LR 1.0 at 8 GPUs x 128 images
    assert s.epochs == 3  # our own override comes last
    # The paper's board and meta update start when epoch > META_STA_EPOCH (epochs 0..120): 21 epochs before.
    assert s.warmup_epochs == sum(1 for epoch in range(120) if epoch <= 20)
    assert (s.meta_update_every, s.slice_size, s.board_size, s.teacher) == (200, 4, 10, "meta")
    assert (s.sampling, s.op_probs) == ("fixed", [0.05, 0.2, 0.05, 0.5, 0.05, 0.15])
    space = cfg.space
    assert (space.flops_min, space.flops_max, space.resolution, space.num_classes) == (0, 600, 224, 1000)
    assert (cfg.data.dataset, cfg.data.root, cfg.data.batch_size, cfg.data.eval_batch_size) == \
        ("imagefolder", "./data/imagenet", 128, 512)
    assert cfg.run.out_dir == "experiments/workspace/train/Supernet_Training" and cfg.run.seed == 42
    assert s.ema_decay == 0.0  # the paper's search keeps no EMA, whatever NET.EMA says
    assert out.out.count("read for `cream search`") == 1 and "keep our `paper_code` preset's values" in out.out
    # by default the paper code's rules, and the report says so
    assert s.fidelity == "paper_code" and "the search follows the paper code's rules" in out.out
    assert (cfg.space.depth_rule, s.clip_grad, s.off_path_updates, s.meta_net, s.meta_weight, s.meta_update) == \
        ("paper", 0.0, "dense", "paper", "paper", "paper")
    assert "SUPERNET.PRE_PROB (0.05, 0.2, 0.05, 0.5, 0.05, 0.15) -> search.op_probs=[0.05, 0.2" in out.out
    warnings = out.err.splitlines()
    assert all(line.startswith("warning: train.yaml: ") for line in warnings)
    assert [line.split()[2] for line in warnings] == ["LOG_INTERVAL", "DATASET.INTERPOLATION"]


def test_paper_style_overrides_change_the_file_and_a_preset_beside_official_is_refused(tmp_path, captured, capsys):
    path = write(tmp_path, "train.yaml", SEARCH_FILE)
    assert main(["search", "--official", str(path), "SUPERNET.FLOPS_MAXIMUM=300", "SUPERNET.PRE_PROB=(1,1,1,1,1,1)",
                 "SUPERNET.HOW_TO_PROB=even"]) == 0
    cfg = captured["cfg"]
    assert cfg.space.flops_max == 300 and cfg.search.op_probs == [1.0] * 6 and cfg.search.sampling == "uniform"
    assert main(["search", "imagenet", "--official", str(path)]) == 2
    assert "give a preset (imagenet) or --official" in capsys.readouterr().err


@pytest.mark.parametrize("name, selection, model, warned", [
    ("114.yaml", 470, "cream_481", "114.yaml is named after cream_114, but its NET.SELECTION 470 selects cream_481"),
    ("23.yaml", 470, "cream_481", "23.yaml is named 23, which is no paper model, but its NET.SELECTION 470 selects "
                                  "cream_481"),
    ("481.yaml", 481, "cream_481", None),
    ("14.yaml", 14, "cream_14", None),
    ("42.yaml", 42, "cream_43", None),
])
def test_a_retrain_file_retrains_the_model_its_selection_names(tmp_path, captured, capsys, name, selection, model,
                                                               warned):
    path = write(tmp_path, name, RETRAIN_FILE.format(model="my_retrain", selection=selection, sched="cosine"))
    assert main(["retrain", "--official", str(path)]) == 0
    cfg, out = captured["cfg"], capsys.readouterr()
    assert cfg.retrain.arch == model
    warnings = [line for line in out.err.splitlines() if "selects" in line]
    assert warnings == ([f"warning: {warned} (3431-3230-33311-3333-3333); using cream_481, as the file says "
                         "(retrain.arch=... picks another)"] if warned else [])
    if selection == 42:  # the README's name, which the paper's current code no longer accepts
        assert "NET.SELECTION 42 -> retrain.arch='cream_43'  (42 is the paper README's name of cream_43" in out.out
    # Keys the file leaves out keep our preset of the selected model's recipe (label smoothing 0.1 there).
    assert f"keep our `{model.removeprefix('cream_')}` preset's values" in out.out
    assert cfg.retrain.label_smoothing == 0.1 and cfg.space.drop_rate == 0.2


def test_the_retrain_recipe_runs_the_papers_learning_rates(tmp_path, captured):
    path = write(tmp_path, "287.yaml", RETRAIN_FILE.format(model="287m_retrain", selection=287, sched="cosine"))
    assert main(["retrain", "--official", str(path)]) == 0
    r = captured["cfg"].retrain
    assert (r.opt, r.opt_eps, r.weight_decay, r.ema_decay, r.epochs) == ("rmsproptf", 1e-3, 1e-5, 0.9999, 500)
    net = torch.nn.Linear(2, 2)
    # At the paper's total batch (8 GPUs x 128) the lr is its LR: warm-up from 1e-6 over 3 epochs, then cosine.
    optimizer = create_optimizer(net, r, total_batch=8 * 128)
    scheduler = create_scheduler(optimizer, r, steps_per_epoch=10)
    lrs = []
    for epoch in (0, 3, 500 // 2 + 3):
        scheduler.step(epoch)
        lrs.append(optimizer.param_groups[0]["lr"])
    assert lrs[0] == pytest.approx(1e-6)
    assert lrs[1] == pytest.approx(0.064, rel=1e-3)
    assert lrs[2] < 0.064 / 2 * 1.05 and lrs[2] > 0.064 / 2 * 0.9  # half-way down the cosine


def test_a_schedule_the_papers_code_does_not_have_keeps_the_lr_constant(tmp_path, captured, capsys):
    # The paper's retrain.yaml says SCHED 'sgd'; timm 0.1.20's create_scheduler knows no such schedule and returns
    # none, so the paper's code trains at a constant LR (no warm-up either).
    path = write(tmp_path, "retrain.yaml", RETRAIN_FILE.format(model="600m_retrain", selection=42, sched="sgd"))
    assert main(["retrain", "--official", str(path)]) == 0
    r = captured["cfg"].retrain
    assert isinstance(r, RetrainConfig)
    optimizer = create_optimizer(torch.nn.Linear(2, 2), r, total_batch=8 * 128)
    scheduler = create_scheduler(optimizer, r, steps_per_epoch=10)
    lrs = []
    for epoch in range(0, 500, 37):
        scheduler.step(epoch)
        lrs.append(optimizer.param_groups[0]["lr"])
    assert lrs == pytest.approx([0.064] * len(lrs))
    out = capsys.readouterr()
    assert "WARMUP_EPOCHS 3 -> ignored: the paper's code reads no schedule setting with SCHED 'sgd'" in out.out
    assert "retrain.yaml: MODEL '600m_retrain' is named after cream_604, but its NET.SELECTION 42 selects " \
        "cream_43" in out.err


def test_every_paper_key_gets_exactly_one_line_for_every_command(tmp_path):
    lines = {"SUPERNET.PRE_PROB": "(0.05,0.2,0.05,0.5,0.05,0.15)", "NET.SELECTION": "287", "MODEL_SELECTION": "287",
             "SCHED": "cosine", "LR_NOISE": "None", "AUGMENTATION.AA": "rand-m9-mstd0.5", "OPT": "sgd"}
    flat = {key: lines.get(key, "1") for key in PAPER_KEYS}
    nested: dict = {}
    for key, value in flat.items():
        *sections, name = key.split(".")
        node = nested
        for section in sections:
            node = node.setdefault(section, {})
        node[name] = value
    path = write(tmp_path, "all.yaml", yaml.safe_dump(nested))
    for command in ("search", "retrain", "test"):
        official = translate(path, command)
        said = [line.split()[0] for line in official.mapped + official.ignored]
        said += [line.split()[1] for line in official.warnings if " selects " not in line]
        assert sorted(said) == sorted(PAPER_KEYS), command


@pytest.mark.parametrize("text, message", [
    ("SUPERNET:\n  FLOPS_MAXIMUN: 300\n", "SUPERNET.FLOPS_MAXIMUN is not a key of the paper's config; did you mean "
                                          "SUPERNET.FLOPS_MAXIMUM?"),
    ("SUPERNET:\n  PRE_PROB: (0.5,0.5)\n", "SUPERNET.PRE_PROB (0.5, 0.5) is not six numbers"),
    ("NET:\n  SELECTION: 23\n", "NET.SELECTION 23 is not one of the paper's models 14, 43, 114, 287, 481, 604 (the "
                                "README's 42, 112, 285, 470, 600)"),
    ("MODEL_SELECTION: 43\nNET:\n  SELECTION: 481\n", "keep one"),
    ("LR: [oops\n", "is not valid YAML"),
    ("- LR\n", "must be a mapping of the paper's keys"),
])
def test_bad_files_are_one_line_errors(tmp_path, text, message):
    path = write(tmp_path, "bad.yaml", text)
    with pytest.raises(CreamError, match=message.replace("(", r"\(").replace(")", r"\)").replace("?", r"\?")) as info:
        translate(path, "retrain" if "SELECTION" in text else "search")
    assert "\n" not in str(info.value)
    assert main(["search", "--official", str(tmp_path / "missing.yaml")]) == 2


def test_the_table_has_a_row_for_every_key_of_the_papers_config_in_its_order():
    assert [key for key in PAPER_KEYS if key != "MODEL_SELECTION"] == PAPER_CONFIG_KEYS
    assert "MODEL_SELECTION" in PAPER_KEYS  # the README's name of NET.SELECTION
    for row in PAPER_KEYS.values():
        assert re.fullmatch("[s-][r-][t-]", row.reads), row.name
        assert bool(row.unread) == (not row.is_read_by("search")), row.name  # the search says why it skips a key


def test_a_command_lists_the_keys_its_paper_code_does_not_read_as_ignored(tmp_path):
    path = write(tmp_path, "287.yaml", "SEED: 1\n")
    values = {"SUPERNET.PRE_PROB": "(1,1,1,1,1,1)", "NET.SELECTION": "287", "MODEL_SELECTION": "287"}
    every_key = [f"{key}={values.get(key, 1)}" for key in PAPER_KEYS]

    def not_read(command, why):
        return {line.split()[0] for line in translate(path, command, every_key).ignored if line.endswith(why)}

    # The paper's tools/test.py reads these (so does our test); any other key is a training setting there.
    assert not_read("test", "a training setting, which the paper's test does not read") == set(PAPER_KEYS) - {
        "AUTO_RESUME", "DATA_DIR", "MODEL", "RESUME_PATH", "SAVE_PATH", "SEED", "LOG_INTERVAL", "WORKERS", "NUM_GPU",
        "AMP", "TTA", "LOCAL_RANK", "DATASET.NUM_CLASSES", "DATASET.IMAGE_SIZE", "DATASET.INTERPOLATION",
        "DATASET.BATCH_SIZE", "DATASET.PIN_MEM", "DATASET.VAL_BATCH_MUL", "NET.SELECTION", "MODEL_SELECTION",
        "NET.GP", "NET.EMA.USE"}
    assert not_read("retrain", "a search setting, which the paper's retrain does not read") == \
        {key for key in PAPER_KEYS if key.startswith("SUPERNET.")} | {"META_LR"}
    # The paper's search decays its LR linearly to 0, whatever the schedule keys say.
    assert not_read("search", "the paper's search has no such schedule setting") == {
        "OPT_EPS", "LR_NOISE", "LR_NOISE_PCT", "LR_NOISE_STD", "WARMUP_LR", "WARMUP_EPOCHS", "MIN_LR", "DECAY_EPOCHS",
        "DECAY_RATE", "COOLDOWN_EPOCHS", "PATIENCE_EPOCHS"}

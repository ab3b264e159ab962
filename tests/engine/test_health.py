import json

import pytest

from cream.assemble import make_config
from cream.config import RetrainRun, SearchRun
from cream.engine.health import new_warnings, training_health
from cream.nas.trainer import run_search
from cream.train.trainer import run_retrain


def rows(losses, accuracies):
    return [{"epoch": e + 1, "loss": loss, "acc": acc} for e, (loss, acc) in enumerate(zip(losses, accuracies))]


def health(history, classes=10, warmup=1.0):
    return training_health(history, loss="loss", accuracy="acc", what="the validation accuracy",
                           num_classes=classes, warmup_epochs=warmup, lr_key="retrain.lr", lr=1.6)


def test_a_loss_rising_above_the_first_epochs_is_divergence_named_at_its_first_epoch():
    h = health(rows([2.0, 1.5, 2.21, 6.0], [50, 60, 60, 60]))  # 10% above 2.0 is 2.2
    assert h["diverged"] == {"epoch": 3, "loss": 2.21, "first_epoch_loss": 2.0} and h["at_chance"] is None
    assert h["warnings"] == ["the training loss rose from 2.000 in epoch 1 to 2.210 in epoch 3: the training "
                             "diverges; lower retrain.lr (now 1.6), e.g. to 0.8"]
    assert health(rows([2.0, 2.2, 1.9], [50, 60, 60]))["diverged"] is None  # the noise of a net that stalls
    assert health(rows([2.0], [50]))["warnings"] == []


@pytest.mark.parametrize("classes, accuracy, flagged", [
    (10, 18.9, True),   # chance 10%: the line is 10 + 0.1 * 90 = 19%
    (10, 19.0, False),
    (2, 54.9, True),    # chance 50%: 50 + 0.1 * 50 = 55%
    (2, 55.0, False),
    (100, 10.8, True),  # chance 1%: 1 + 0.1 * 99 = 10.9%
])
def test_accuracy_near_chance_after_the_warmup_is_flagged(classes, accuracy, flagged):
    h = health(rows([2.0, 1.9, 1.8], [5.0, accuracy, 90.0]), classes)
    assert (h["at_chance"] is not None) == flagged
    if flagged:
        chance = 100 / classes
        assert h["at_chance"] == {"epoch": 2, "accuracy": accuracy, "chance": chance}
        assert h["warnings"] == [f"the validation accuracy is {accuracy:.1f}% in epoch 2, after the warm-up, near "
                                 f"chance ({chance:.1f}%): the net is not learning; lower retrain.lr (now 1.6), e.g. "
                                 "to 0.8, or check that each class folder holds its class's images"]


def test_epochs_of_the_warmup_are_not_judged():
    history = rows([2.0, 1.9, 1.8, 1.7], [10, 10, 10, 50])
    assert health(history, warmup=3)["at_chance"] is None
    assert health(history, warmup=2.5)["at_chance"] is None  # epoch 3 still holds part of the warm-up
    assert health(history, warmup=2)["at_chance"]["epoch"] == 3
    assert health(history, warmup=0)["at_chance"]["epoch"] == 2  # epoch 1 is never judged


def test_new_warnings_are_those_that_appear_with_the_last_epoch():
    history = rows([2.0, 1.5, 2.5, 3.0], [50, 60, 15, 12])  # both warnings first hold in epoch 3
    assert new_warnings(health(history[:2]), health(history[:3])) == health(history[:3])["warnings"]
    assert len(health(history[:3])["warnings"]) == 2
    assert new_warnings(health(history[:3]), health(history)) == []  # already given: not again


def test_a_retrain_that_cannot_learn_says_so_in_its_log_and_result(tiny_fashion_mnist, tmp_path):
    out = tmp_path / "r"
    cfg = make_config(RetrainRun, None, [
        f"data.root={tiny_fashion_mnist}", f"run.out_dir={out}", "retrain.arch=0-0-0-0-0", "retrain.epochs=2",
        "retrain.opt=sgd", "retrain.lr=1e-9", "retrain.warmup_epochs=0", "retrain.ema_decay=0", "data.batch_size=32",
        "data.val_fraction=0.2", "run.quiet=true", "run.threads=1"])
    result = run_retrain(cfg)
    at_chance = json.loads((out / "result.json").read_text())["health"]["at_chance"]
    assert at_chance["epoch"] == 2 and at_chance["accuracy"] == result["history"][1]["val_top1"] < 19
    log = (out / "retrain.log").read_text()
    assert log.count("warning: the validation accuracy is") == 1 and "lower retrain.lr (now 1e-09)" in log


def test_a_search_whose_supernet_cannot_learn_says_so_in_its_log_and_result(tiny_fashion_mnist, tmp_path):
    out = tmp_path / "s"
    cfg = make_config(SearchRun, None, [
        f"data.root={tiny_fashion_mnist}", f"run.out_dir={out}", "data.batch_size=32", "data.val_fraction=0.2",
        "data.train_per_class=null", "search.algorithm=spos", "search.epochs=2", "search.warmup_epochs=0",
        "search.lr=1e-9", "search.val_images=60", "search.bn_batches=1", "search.candidates=2",
        "search.probe_steps=0", "run.quiet=true", "run.threads=1"])
    run_search(cfg)
    health = json.loads((out / "result.json").read_text())["health"]
    assert health["at_chance"]["epoch"] == 2 and health["diverged"] is None
    assert health["warnings"][0].startswith("the supernet's training accuracy is")
    log = (out / "search.log").read_text()
    assert f"warning: {health['warnings'][0]}" in log and "lower search.lr (now 1e-09)" in log

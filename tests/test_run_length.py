"""A run's length in steps, said once, and the warning for a run far shorter than the length
its defaults were tuned for (a small folder with mnist-5k's epochs)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch

from ganops.config import params_hash
from ganops.data.dataset import Split, load_split
from ganops.metrics.evaluator import fit_evaluator
from ganops.params import load_params, parse_params
from ganops.run_length import (
    EVALUATOR,
    GAN,
    RESTYLER,
    TEXT,
    TRANSLATOR,
    describe_length,
    in_whole_epochs,
)
from tests.helpers import ROOT, run_stages_in, train_record


def test_the_defaults_on_mnist_5k_are_the_tuned_lengths_and_get_no_warning() -> None:
    params = load_params(ROOT / "params.yaml")  # the default
    gan = describe_length(GAN, params.train.epochs, 4000, params.train.batch_size, 2480)
    assert gan == ("train.epochs: 40 epochs of 4,000 images in batches of 64 = 2,480 steps", None)
    assert describe_length(TRANSLATOR, 8, 4000, 32, 1000)[1] is None
    assert describe_length(EVALUATOR, 15, 4000, 128, 480)[1] is None


def test_a_small_folder_is_told_what_to_set() -> None:
    line, warning = describe_length(TRANSLATOR, 8, 360, 32, 88)
    assert line == "translate.epochs: 8 epochs of 360 images in batches of 32 = 88 steps"
    assert warning == (
        "translate.epochs: 88 steps is 9% of the 1,000 the defaults were tuned for "
        "(mnist-5k's 4,000 pairs); set translate.steps=1000 (or translate.epochs=91) for "
        "about as many"
    )
    half = describe_length(GAN, 20, 4000, 64, 1240)  # half the tuned length: still no warning
    assert half[1] is None
    assert describe_length(GAN, 19, 4000, 64, 1178)[1] is not None


def test_a_real_evaluator_run_on_a_small_split_warns_once(
    prepared: Path, caplog: pytest.LogCaptureFixture
) -> None:
    train = load_split(prepared / "processed", "train")
    test = load_split(prepared / "processed", "test")
    small = Split(train.images[:300], train.labels[:300], train.class_names)
    cfg = parse_params({"evaluator": {"epochs": 1, "min_accuracy": 0.0}}).evaluator
    with caplog.at_level(logging.INFO, logger="ganops"):
        fit_evaluator(cfg, small, test, torch.device("cpu"))
    said = [r.getMessage() for r in caplog.records if r.name == "ganops"]
    assert "evaluator.epochs: 1 epochs of 300 images in batches of 128 = 3 steps" in said
    assert any(m.startswith("evaluator.epochs: 3 steps is 1% of the 480") for m in said)


def test_steps_become_the_whole_passes_that_hold_them(caplog: pytest.LogCaptureFixture) -> None:
    cfg = parse_params({"translate": {"steps": 1000}}).translate
    with caplog.at_level(logging.INFO, logger="ganops"):
        small = in_whole_epochs(cfg, TRANSLATOR, 12)  # 360 pairs in batches of 32
        mnist = in_whole_epochs(cfg, TRANSLATOR, 125)  # mnist-5k's 4,000 pairs
    assert (small.epochs, mnist.epochs) == (84, 8)  # 1,008 steps; exactly the default's 1,000
    assert caplog.messages[0] == (
        "translate.steps: 1,000 steps at 12 a pass = 84 epochs (1,008 steps; translate.epochs "
        "not read)"
    )
    unset = parse_params({}).translate
    assert in_whole_epochs(unset, TRANSLATOR, 12) is unset  # null: the epochs as they are


def test_an_unset_steps_key_leaves_the_params_hash_as_before_it_existed() -> None:
    """The defaults' hash (dvc.lock's run.json names it) is unchanged by the new null keys;
    with `steps` set, the epochs it replaces no longer count."""
    default = load_params(ROOT / "params.yaml")
    assert default.train.steps is None
    assert params_hash(default) == train_record()["params_hash"]
    counted = parse_params({"train": {"steps": 2480}})
    assert params_hash(counted) != params_hash(parse_params({}))
    relabelled = parse_params({"train": {"steps": 2480, "epochs": 7}})
    assert params_hash(counted) == params_hash(relabelled)


@pytest.mark.slow
def test_a_real_translator_run_counted_in_steps(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """`translate.steps` on a tiny real run: the whole passes that hold them, trained."""
    work = tmp_path / "work"
    work.mkdir()
    overrides = {
        "task": "translate",
        "data": {"train_per_class": 6},
        "evaluator": {"min_accuracy": 0.0},
        "translate": {"steps": 7, "batch_size": 16, "width": 4, "blocks": 1, "semantic": 0},
    }
    run_stages_in(work, ("fetch", "preprocess", "train_evaluator", "train"), overrides)
    # 60 pairs in batches of 16 = 4 steps a pass (the last one short): 2 passes hold 7
    said = capfd.readouterr().err
    assert "translate.steps: 7 steps at 4 a pass = 2 epochs (8 steps; translate.epochs" in said
    assert train_record(work / "data/train/run.json")["steps"] == 8


def test_the_tuned_lengths_in_steps_are_the_defaults_epochs_on_mnist_5k() -> None:
    """Each default's length in steps, given as `steps`, makes the same number of epochs on
    mnist-5k's 4,000 training images, so the same batches in the same order."""
    from ganops.gan.loop import epoch_steps
    from ganops.restyle.loop import steps_per_epoch as restyle_steps
    from ganops.text.loop import steps_per_epoch as text_steps
    from ganops.translation.loop import steps_per_epoch as translate_steps

    default = load_params(ROOT / "params.yaml")
    per_epoch = {
        GAN: epoch_steps(4000, default.train),
        TRANSLATOR: translate_steps(4000, default.translate.batch_size),
        RESTYLER: restyle_steps(4000, default.restyle.batch_size),
        TEXT: text_steps(4000, default.text.batch_size),
        EVALUATOR: -(-4000 // default.evaluator.batch_size),
    }
    for tuned, steps in per_epoch.items():
        section = getattr(default, tuned.section)
        counted = in_whole_epochs(section.model_copy(update={"steps": tuned.steps}), tuned, steps)
        assert counted.epochs == section.epochs, tuned
        assert counted.epochs * steps == tuned.steps, tuned

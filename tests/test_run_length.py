"""A run's length in steps, said once, and the warning for a run far shorter than the length
its defaults were tuned for (a small folder with mnist-5k's epochs)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch

from ganops.config import params_hash
from ganops.data.dataset import Split, load_split
from ganops.errors import ConfigError
from ganops.metrics.evaluator import fit_evaluator
from ganops.params import load_params, parse_params
from ganops.run_length import (
    EVALUATOR,
    GAN,
    RESTYLER,
    TEXT,
    TRANSLATOR,
    describe_length,
    epoch_stride,
    in_whole_epochs,
    with_whole_epochs,
)
from tests.helpers import ROOT, run_stages_in, train_record


def test_the_defaults_on_mnist_5k_are_the_tuned_lengths_and_get_no_warning() -> None:
    params = with_whole_epochs(load_params(ROOT / "params.yaml"), GAN, 62)  # the default
    gan = describe_length(GAN, params.train.passes, 4000, params.train.batch_size, 2480)
    assert gan == ("train.epochs: 40 epochs of 4,000 images in batches of 64 = 2,480 steps", None)
    assert describe_length(TRANSLATOR, 8, 4000, 32, 1000)[1] is None
    assert describe_length(EVALUATOR, 15, 4000, 128, 480)[1] is None


def test_a_short_run_is_told_what_to_set() -> None:
    line, warning = describe_length(TRANSLATOR, 8, 360, 32, 88)
    assert line == "translate.epochs: 8 epochs of 360 images in batches of 32 = 88 steps"
    assert warning == (
        "translate.epochs: 88 steps is 9% of the 1,000 the defaults were tuned for "
        "(mnist-5k's 4,000 pairs); set translate.epochs=91 (or translate.steps=1000 with "
        "translate.epochs=null) for about as many"
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
    cfg = load_params(ROOT / "params.yaml").translate  # the default: 1,000 steps
    assert (cfg.epochs, cfg.steps) == (None, 1000)
    with caplog.at_level(logging.INFO, logger="ganops"):
        small = in_whole_epochs(cfg, TRANSLATOR, 12)  # 360 pairs in batches of 32
        mnist = in_whole_epochs(cfg, TRANSLATOR, 125)  # mnist-5k's 4,000 pairs
    assert (small.epochs, mnist.epochs) == (84, 8)  # 1,008 steps; exactly the default's 1,000
    assert (
        caplog.messages[0] == "translate.steps: 1,000 steps at 12 a pass = 84 epochs (1,008 steps)"
    )


def test_set_epochs_are_the_length_and_leave_steps_unread(caplog: pytest.LogCaptureFixture) -> None:
    """`-S translate.epochs=3` over the default's steps: epochs, as a user means it."""
    cfg = parse_params({"translate": {"epochs": 3, "steps": 1000}}).translate
    with caplog.at_level(logging.INFO, logger="ganops"):
        assert in_whole_epochs(cfg, TRANSLATOR, 12) is cfg
    assert caplog.messages == ["translate.epochs: 3 set, so translate.steps (1,000) is not read"]


@pytest.mark.parametrize("section", ["train", "evaluator", "translate", "restyle", "text"])
def test_both_lengths_null_is_an_error_at_the_steps_key(section: str) -> None:
    """The line names `<section>.steps`, the key to set, whether `steps` is written or left
    out; an `epochs` of the wrong type is that key's error alone."""
    for lengths in ({"epochs": None, "steps": None}, {"epochs": None}):
        with pytest.raises(ConfigError, match="epochs and steps are both null") as caught:
            parse_params({section: lengths})
        assert f"{section}.steps: epochs and steps are both null" in str(caught.value)
    with pytest.raises(ConfigError) as caught:
        parse_params({section: {"epochs": "many", "steps": None}})
    assert f"{section}.epochs: " in str(caught.value)
    assert "both null" not in str(caught.value)


def test_a_run_counted_in_steps_hashes_as_the_same_run_counted_in_epochs() -> None:
    """The defaults' hash (dvc.lock's run.json names it) is the one the params had when they
    counted 40 epochs: the hash names a length in the passes it takes, once they are known."""
    default = load_params(ROOT / "params.yaml")
    assert (default.train.epochs, default.train.steps) == (None, 2480)
    resolved = with_whole_epochs(default, GAN, 62)  # mnist-5k: 4,000 in batches of 64
    assert params_hash(resolved) == train_record()["params_hash"]
    in_epochs = default.model_copy(
        update={"train": default.train.model_copy(update={"epochs": 40, "steps": None})}
    )
    assert params_hash(in_epochs) == params_hash(resolved)
    assert params_hash(default) != params_hash(resolved)  # unresolved: named in steps
    longer = default.model_copy(update={"train": default.train.model_copy(update={"epochs": 41})})
    assert params_hash(longer) != params_hash(resolved)


def test_short_epochs_thin_the_per_epoch_work_and_mnist_5k_keeps_every_epoch() -> None:
    default = load_params(ROOT / "params.yaml")  # counted in steps
    gan, translate = default.train, default.translate
    assert [epoch_stride(gan, GAN, 62), epoch_stride(translate, TRANSLATOR, 125)] == [1, 1]
    assert epoch_stride(default.text, TEXT, 63) == 1
    assert epoch_stride(gan, GAN, 5) == 12  # 360 images in batches of 64: a grid every 60 steps
    assert epoch_stride(translate, TRANSLATOR, 12) == 10
    assert epoch_stride(gan, GAN, 124) == 1  # longer epochs than the tuned run's: every one
    counted = gan.model_copy(update={"epochs": 400})  # a user counting in epochs: every one
    assert epoch_stride(counted, GAN, 5) == 1


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
    assert "translate.steps: 7 steps at 4 a pass = 2 epochs (8 steps)" in said
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
        assert (section.epochs, section.steps) == (None, tuned.steps), tuned
        counted = in_whole_epochs(section, tuned, steps)
        assert counted.epochs == tuned.epochs, tuned
        assert counted.epochs * steps == tuned.steps, tuned


@pytest.mark.slow
def test_a_real_gan_run_on_a_small_split_thins_its_grids_and_quick_scores(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """The default's unit, steps, on 60 images: 44 short epochs, and the grids and quick FIDs
    of about every 62 steps (every 21 epochs and the last), not of every epoch."""
    work = tmp_path / "work"
    work.mkdir()
    overrides = {
        "data": {"train_per_class": 6},
        "evaluator": {"min_accuracy": 0.0},
        "train": {"epochs": None, "steps": 130, "batch_size": 16, "eval_every": 1},
    }
    run_stages_in(work, ("fetch", "preprocess", "train_evaluator", "train"), overrides)
    said = capfd.readouterr().err
    assert "train.steps: 130 steps at 3 a pass = 44 epochs (132 steps)" in said
    assert "train: an epoch here is 3 steps, against 62 on mnist-5k's 4,000 images" in said
    assert "every 21 epochs (63 steps)" in said
    quick = (work / "data/train/fid.tsv").read_text().splitlines()[1:]
    assert [row.split("\t")[0] for row in quick] == ["63", "126", "132"]
    assert train_record(work / "data/train/run.json")["steps"] == 132

"""A run's length in steps, said once, and the warning for a run far shorter than the length
its defaults were tuned for (a small folder with mnist-5k's epochs)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch

from ganops.data.dataset import Split, load_split
from ganops.metrics.evaluator import fit_evaluator
from ganops.params import load_params, parse_params
from ganops.run_length import EVALUATOR, GAN, TRANSLATOR, describe_length
from tests.helpers import ROOT


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
        "(mnist-5k's 4,000 pairs); set translate.epochs=91 for about as many"
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

"""The downstream experiment: the arms' batches, classical augmentation, paired gains."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from ganops.classifier_arms import (
    ARMS,
    Labelled,
    Trial,
    _Batches,
    arm_workers,
    confident,
    random_affine,
    run_arms,
    summarise,
    train_arm,
)
from ganops.config import DownstreamConfig, EvaluatorConfig
from ganops.data.dataset import Split, load_split
from ganops.errors import DataError
from ganops.metrics.evaluator import Evaluator, EvaluatorSpec, accuracy, extract

CPU = torch.device("cpu")


def test_batches_use_every_item_equally_and_are_seeded() -> None:
    batches = _Batches(10, torch.Generator().manual_seed(0))
    seen = torch.cat([batches.take(3) for _ in range(10)])  # 30 = three passes
    again = _Batches(10, torch.Generator().manual_seed(0)).take(30)
    assert torch.equal(seen, again)
    assert np.bincount(seen.numpy(), minlength=10).tolist() == [3] * 10
    assert sorted(seen[:10].tolist()) == list(range(10))  # the first pass is a permutation


def test_random_affine_keeps_the_background_and_moves_the_digit() -> None:
    images = torch.full((64, 1, 28, 28), -1.0)
    images[:, :, 10:18, 12:16] = 1.0  # a bar
    cfg = DownstreamConfig()
    moved = random_affine(images, cfg, torch.Generator().manual_seed(0))
    assert moved.shape == images.shape
    assert moved.min() >= -1.0 - 1e-6 and moved.max() <= 1.0 + 1e-6
    assert moved[:, :, 0, :].eq(-1).all()  # the border stays background
    assert not torch.equal(moved[0], moved[1])  # drawn per image
    still = DownstreamConfig(affine_degrees=0, affine_translate=0, affine_scale=0)
    torch.testing.assert_close(random_affine(images, still, torch.Generator()), images)


def test_gains_are_paired_t_tests_with_the_spread_floored_at_one_image() -> None:
    accuracies = {
        "real": [0.90, 0.92, 0.91],
        "real_synthetic": [0.93, 0.95, 0.94],  # +3 points on every seed: no spread at all
        "real_affine": [0.94, 0.92, 0.96],
    }
    summary = summarise(accuracies, 1000)
    assert summary["real"] == {"accuracy_mean": 0.91, "accuracy_std": 0.01}
    gain = summary["gain_synthetic_vs_real"]
    # the spread floored at one test image of 1,000: standard error 0.001 / sqrt(3)
    assert gain["mean"] == pytest.approx(0.03)
    assert gain["stderr"] == pytest.approx(0.001 / np.sqrt(3), abs=1e-6)
    assert gain["band"] == pytest.approx(4.303 * 0.001 / np.sqrt(3), abs=1e-5)
    assert gain["significant"] is True  # 30 images on every seed is a gain
    versus = summary["gain_synthetic_vs_affine"]  # differences -0.01, +0.03, -0.02
    assert versus["mean"] == pytest.approx(0.0)
    assert versus["stderr"] == pytest.approx(
        np.std([-0.01, 0.03, -0.02], ddof=1) / np.sqrt(3), abs=1e-6
    )
    assert versus["significant"] is False
    single = summarise({arm: [0.9] for arm in ARMS}, 1000)["gain_synthetic_vs_real"]
    assert single == {"mean": 0.0, "stderr": None, "band": None, "significant": False}


def test_one_image_apart_on_every_seed_is_not_significant() -> None:
    # the default pipeline's record before the t-test: -0.001 on three seeds, stderr 0,
    # `significant: true`
    accuracies = {"real": [0.983] * 3, "real_synthetic": [0.982] * 3, "real_affine": [0.981] * 3}
    gain = summarise(accuracies, 1000)["gain_synthetic_vs_real"]
    assert gain["mean"] == pytest.approx(-0.001) and gain["significant"] is False
    with pytest.raises(ValueError, match="a test split of 0 images"):
        summarise(accuracies, 0)


def test_confidence_filter_keeps_what_the_evaluator_recognises() -> None:
    images = np.zeros((4, 1, 2, 2), np.uint8)
    synthetic = Labelled(images, np.array([0, 1, 0, 1]))
    logits = torch.tensor([[5.0, 0.0], [5.0, 0.0], [0.0, 5.0], [0.0, 5.0]])
    kept, dropped = confident(synthetic, logits, 0.9)
    assert kept.labels.tolist() == [0, 1] and dropped == 2
    assert confident(synthetic, logits, 0.0) == (synthetic, 0)
    with pytest.raises(DataError, match=r"downstream\.min_confidence: the evaluator gives no"):
        confident(synthetic, logits, 0.999999)


@pytest.fixture(scope="module")
def digits(prepared: Path) -> tuple[Split, Split]:
    return load_split(prepared / "processed", "train"), load_split(prepared / "processed", "test")


def test_synthetic_images_fill_their_share_of_each_batch(digits: tuple[Split, Split]) -> None:
    train, _ = digits
    spec = EvaluatorSpec((1, 28, 28), train.class_names, 4)
    real = Labelled(train.images[:100], train.labels[:100])
    synthetic = Labelled(255 - train.images[100:200], train.labels[100:200])  # inverted: marked
    cfg = DownstreamConfig(steps=3, synthetic_share=0.25)
    recipe = EvaluatorConfig(batch_size=40)
    shares: list[float] = []
    original = Evaluator.forward

    def spied(self: Evaluator, images: torch.Tensor) -> torch.Tensor:
        shares.append(float((images.mean(dim=(1, 2, 3)) > 0).float().mean()))  # bright = fake
        return original(self, images)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Evaluator, "forward", spied)
        network = train_arm("real_synthetic", recipe, spec, real, synthetic, cfg, 0, CPU)
        mixed = list(shares)
        shares.clear()
        train_arm("real", recipe, spec, real, synthetic, cfg, 0, CPU)
    assert not network.training
    assert mixed == [0.25] * 3 and shares == [0.0] * 3


def test_arms_on_real_digits_give_accuracies_per_seed(digits: tuple[Split, Split]) -> None:
    train, test = digits
    spec = EvaluatorSpec((1, 28, 28), train.class_names, 4)
    real = Labelled(train.images[:200], train.labels[:200])
    # "synthetic" images that are more real digits: a generator as good as the data
    synthetic = Labelled(train.images[200:1200], train.labels[200:1200])
    cfg = DownstreamConfig(steps=40, seeds=2)
    small_test = Split(test.images[:300], test.labels[:300], test.class_names)
    tests = {
        "test": small_test,
        "first half": Split(test.images[:150], test.labels[:150], test.class_names),
    }
    trial = Trial(EvaluatorConfig(batch_size=64), spec, tests)
    arms = {arm: (arm, real, synthetic) for arm in ARMS}
    threads = torch.get_num_threads()
    by_set = run_arms(trial, arms, cfg.model_copy(update={"workers": 1}), CPU)
    assert torch.get_num_threads() == threads  # one thread while they trained, then as it was
    assert set(by_set) == set(tests)  # every classifier tested on every set
    accuracies = by_set["test"]
    assert set(accuracies) == set(ARMS) and all(len(v) == 2 for v in accuracies.values())
    assert all(0.1 < value <= 1 for values in accuracies.values() for value in values)
    # five times the images beat the same 200 seen over and over, on both seeds
    assert min(accuracies["real_synthetic"]) > max(accuracies["real"])
    # each classifier in its place: the second seed's affine arm, trained here on one thread
    torch.set_num_threads(1)
    try:
        network = train_arm("real_affine", trial.recipe, spec, real, synthetic, cfg, 1, CPU)
    finally:
        torch.set_num_threads(threads)
    _, logits = extract(network, small_test.images, 64, CPU)
    assert accuracies["real_affine"][1] == accuracy(logits, small_test.labels)
    # two spawned workers, one thread each: every classifier the same, in the same place
    assert run_arms(trial, arms, cfg.model_copy(update={"workers": 2}), CPU) == by_set


def test_workers_are_one_a_thread_at_most_one_a_classifier_and_one_on_a_gpu() -> None:
    threads = torch.get_num_threads()
    auto, two = DownstreamConfig(), DownstreamConfig(workers=2)
    assert arm_workers(auto, CPU, 9) == threads
    assert arm_workers(two, CPU, 9) == 2 and arm_workers(two, CPU, 1) == 1
    assert arm_workers(DownstreamConfig(workers=64), CPU, 9) == 9
    assert arm_workers(two, torch.device("cuda"), 9) == 1
    with pytest.raises(ValueError, match="auto or a whole number from 1 to 64"):
        DownstreamConfig(workers=0)


def test_a_seed_gives_the_same_classifier_bit_for_bit(digits: tuple[Split, Split]) -> None:
    train, _ = digits
    spec = EvaluatorSpec((1, 28, 28), train.class_names, 4)
    real = Labelled(train.images[:100], train.labels[:100])
    cfg, recipe = DownstreamConfig(steps=4), EvaluatorConfig(batch_size=32)
    weights = [
        train_arm("real_affine", recipe, spec, real, real, cfg, seed, CPU).state_dict()
        for seed in (0, 0, 1)
    ]
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
    assert not all(torch.equal(weights[0][k], weights[2][k]) for k in weights[0])

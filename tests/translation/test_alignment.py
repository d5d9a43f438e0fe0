"""The alignment arms of the translate task's downstream stage (self-training, DANN, FixMatch), on
real digits: MNIST as the source, MNIST's test digits with their ink inverted as the
unlabelled target (a real shift between the two)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from ganops.classifier_arms import Labelled, train_arm
from ganops.config import DownstreamConfig, EvaluatorConfig
from ganops.data.dataset import load_split
from ganops.metrics.evaluator import EvaluatorSpec, accuracy, extract
from ganops.translation.adaptation import run_adaptation
from ganops.translation.alignment import (
    ALIGNMENT_ARMS,
    dann_weight,
    pseudo_labelled,
    reverse_gradient,
    train_alignment_arm,
    train_dann,
    train_self_training,
)

CPU = torch.device("cpu")
RECIPE = EvaluatorConfig(batch_size=32, width=8)
STEPS = DownstreamConfig(steps=40, seeds=1)


@pytest.fixture(scope="module")
def domains(prepared: Path) -> tuple[EvaluatorSpec, Labelled, np.ndarray]:
    train = load_split(prepared / "processed", "train")
    test = load_split(prepared / "processed", "test")
    source = Labelled(train.images[:600], train.labels[:600])
    target = (255 - test.images[:300]).astype(np.uint8)  # (M, 1, 28, 28), no labels
    return EvaluatorSpec((1, 28, 28), train.class_names, RECIPE.width), source, target


def test_the_reversal_is_the_identity_forward_and_flips_the_gradient() -> None:
    features = torch.randn(4, 3, requires_grad=True)
    out = reverse_gradient(features, 0.5)
    torch.testing.assert_close(out, features)
    (out * torch.arange(3.0)).sum().backward()  # type: ignore[no-untyped-call]
    assert features.grad is not None
    torch.testing.assert_close(features.grad, -0.5 * torch.arange(3.0).expand(4, 3))


def test_the_reversal_weight_follows_the_papers_schedule() -> None:
    assert dann_weight(0.0) == 0.0
    assert dann_weight(1.0) == pytest.approx(0.99991, abs=1e-5)
    assert dann_weight(0.1) == pytest.approx(2 / (1 + np.exp(-1)) - 1)
    steps = [dann_weight(p / 10) for p in range(11)]
    assert steps == sorted(steps)


def test_dann_learns_the_classes_seeded_and_differs_from_the_plain_arm(
    domains: tuple[EvaluatorSpec, Labelled, np.ndarray],
) -> None:
    spec, source, target = domains
    first = train_dann(RECIPE, spec, source, target, STEPS, 0, CPU)
    again = train_dann(RECIPE, spec, source, target, STEPS, 0, CPU)
    for name, value in first.state_dict().items():
        torch.testing.assert_close(value, again.state_dict()[name], rtol=0, atol=0)
    assert not first.training
    _, logits = extract(first, source.images, 256, CPU)
    assert accuracy(logits, source.labels) > 0.5  # the class loss still teaches (chance 0.1)
    plain = train_arm("real", RECIPE, spec, source, source, STEPS, 0, CPU)
    weights = first.state_dict()["head.weight"]
    assert not torch.equal(weights, plain.state_dict()["head.weight"])  # the domain term acts


def test_pseudo_labels_keep_what_the_teacher_is_sure_of(
    domains: tuple[EvaluatorSpec, Labelled, np.ndarray],
) -> None:
    spec, source, target = domains
    teacher = train_arm("real", RECIPE, spec, source, source, STEPS, 0, CPU)
    _, logits = extract(teacher, target, 256, CPU)
    confidence = logits.softmax(1).max(1).values.numpy()
    threshold = float(np.median(confidence))
    chosen = pseudo_labelled(teacher, target, threshold, 256, CPU)
    assert len(chosen.labels) == int((confidence >= threshold).sum())
    assert 0 < len(chosen.labels) < len(target)
    np.testing.assert_array_equal(chosen.images, target[confidence >= threshold])
    np.testing.assert_array_equal(chosen.labels, logits.argmax(1).numpy()[confidence >= threshold])
    assert chosen.labels.dtype == np.int64
    every = pseudo_labelled(teacher, target, 0.0, 256, CPU)
    assert len(every.labels) == len(target)
    cfg = STEPS.model_copy(update={"pseudo_label_threshold": threshold})
    student, count = train_self_training(RECIPE, spec, source, target, teacher, cfg, 0, CPU)
    assert count == len(chosen.labels) and not student.training
    _, logits = extract(student, source.images, 256, CPU)
    assert accuracy(logits, source.labels) > 0.5


def test_fixmatch_arms_learn_seeded_and_run_only_beside_their_base_arm(
    domains: tuple[EvaluatorSpec, Labelled, np.ndarray], prepared: Path
) -> None:
    """FixMatch from each source arm; from `handmade` only where the task has that arm."""
    spec, source, target = domains
    teacher = train_arm("real", RECIPE, spec, source, source, STEPS, 0, CPU)
    first, count = train_alignment_arm("fixmatch", RECIPE, spec, (source, teacher), target,
                                       STEPS, 0, CPU)  # fmt: skip
    assert count is None and not first.training
    short = STEPS.model_copy(update={"steps": 5})
    twice = [train_alignment_arm("fixmatch", RECIPE, spec, (source, teacher), target, short, 3,
                                 CPU)[0].state_dict() for _ in range(2)]  # fmt: skip
    for name, value in twice[0].items():  # seeded: the same weights again
        torch.testing.assert_close(value, twice[1][name], rtol=0, atol=0)
    _, logits = extract(first, source.images, 256, CPU)
    assert accuracy(logits, source.labels) > 0.5
    assert not torch.equal(first.state_dict()["head.weight"], teacher.state_dict()["head.weight"])
    test = load_split(prepared / "processed", "test")
    cfg = DownstreamConfig(steps=4, seeds=1, alignment=True)
    arms = {"source": ("real", source), "translated": ("real", source)}  # no hand-made arm
    accuracies, pseudo = run_adaptation(RECIPE, spec, arms, (target, test), cfg, CPU)
    expected = {a for a, (base, _) in ALIGNMENT_ARMS.items() if base != "handmade"}
    assert set(accuracies) == {"source", "translated"} | expected
    assert "handmade_fixmatch" not in accuracies and "translated_fixmatch" in accuracies
    assert set(pseudo) == {"self_training", "translated_self_training"}

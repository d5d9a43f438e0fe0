"""Intra-class diversity: 1 for real spread, 0 for one image per class, grouped right."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ganops.metrics.diversity import class_diversity, intra_class_diversity, mean_pairwise_distance


def _clusters(per_class: int, spread: float, seed: int = 0) -> tuple[torch.Tensor, np.ndarray]:
    """Features of 3 classes around distinct centres, with `spread` around each."""
    rng = torch.Generator().manual_seed(seed)
    labels = np.repeat(np.arange(3), per_class)
    centres = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    noise = torch.randn(len(labels), 2, generator=rng) * spread
    return centres[torch.from_numpy(labels)] + noise, labels


def test_mean_pairwise_distance_of_known_points() -> None:
    points = torch.tensor([[0.0, 0.0], [3.0, 4.0], [6.0, 8.0]])
    assert mean_pairwise_distance(points) == pytest.approx((5 + 10 + 5) / 3)
    assert mean_pairwise_distance(points[:1]) == 0.0


def test_real_against_its_own_kind_scores_about_one() -> None:
    real, real_labels = _clusters(200, 1.0, seed=0)
    fresh, labels = _clusters(200, 1.0, seed=1)
    ratios = class_diversity(fresh, labels, real, real_labels)
    assert ratios.shape == (3,)
    assert np.all(np.abs(ratios - 1) < 0.15)


def test_one_image_per_class_scores_zero_and_half_the_spread_about_half() -> None:
    real, real_labels = _clusters(200, 1.0)
    collapsed, labels = _clusters(200, 0.0)
    narrow, _ = _clusters(200, 0.5, seed=2)
    scores = intra_class_diversity(collapsed, torch.zeros(600, 3), real, real_labels, labels)
    assert scores == {"intra_class_diversity": 0.0, "intra_class_diversity_min": 0.0}
    halved = intra_class_diversity(narrow, torch.zeros(600, 3), real, real_labels, labels)
    assert 0.4 < halved["intra_class_diversity_min"] <= halved["intra_class_diversity"] < 0.6


def test_one_collapsed_class_is_the_worst_class() -> None:
    real, real_labels = _clusters(100, 1.0)
    features, labels = _clusters(100, 1.0, seed=3)
    features[labels == 1] = features[labels == 1][0]  # class 1: one image repeated
    scores = intra_class_diversity(features, torch.zeros(300, 3), real, real_labels, labels)
    assert scores["intra_class_diversity_min"] == 0.0
    assert scores["intra_class_diversity"] == pytest.approx(2 / 3, abs=0.1)


def test_without_labels_the_evaluators_reading_groups_the_samples() -> None:
    real, real_labels = _clusters(100, 1.0)
    features, labels = _clusters(100, 1.0, seed=4)
    logits = torch.nn.functional.one_hot(torch.from_numpy(labels), 3).float()
    read = intra_class_diversity(features, logits, real, real_labels)
    given = intra_class_diversity(features, torch.zeros(300, 3), real, real_labels, labels)
    assert read == given
    # a conditional generator that ignores its labels: its classes mix every cluster
    shuffled = np.random.default_rng(0).permutation(labels)
    mixed = intra_class_diversity(features, logits, real, real_labels, shuffled)
    assert mixed["intra_class_diversity_min"] > 3  # far more spread than a real class


def test_a_class_without_two_samples_is_left_out() -> None:
    real, real_labels = _clusters(50, 1.0)
    features, labels = _clusters(50, 1.0, seed=5)
    keep = np.r_[np.flatnonzero(labels != 2), np.flatnonzero(labels == 2)[:1]]
    ratios = class_diversity(features[keep], labels[keep], real, real_labels)
    assert np.isnan(ratios[2]) and ratios[:2].min() > 0.8
    scores = intra_class_diversity(features[keep], torch.zeros(101, 3), real, real_labels,
                                   labels[keep])  # fmt: skip
    assert scores["intra_class_diversity_min"] == pytest.approx(ratios[:2].min())
    nothing = intra_class_diversity(features[:1], torch.zeros(1, 3), real, real_labels, labels[:1])
    assert nothing == {"intra_class_diversity": 0.0, "intra_class_diversity_min": 0.0}

"""Scores of a class-conditional generator, from the classes its samples were drawn for.

`conditional_accuracy` is the evaluator's accuracy at naming the class each sample was
generated for: does a 7 look like a 7. The classification accuracy score (CAS, Ravuri &
Vinyals 2019) trains a fresh classifier of the evaluator's architecture and recipe only on
the samples, labelled with their classes, and tests it on the real test split: it is high
only when every class is both recognisable and varied enough to teach the class, so it
sees the missing modes and low diversity that a fidelity score misses. `cas_real` is the
same recipe trained on as many real training images: what a generator indistinguishable
from the data would score.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ganops.config import EvalConfig, EvaluatorConfig
from ganops.data.dataset import Split
from ganops.metrics.evaluator import EvaluatorSpec, accuracy, extract, train_evaluator


@dataclass(frozen=True)
class Conditioning:
    """What the conditional scores need besides the samples."""

    labels: np.ndarray  # (N,) int64: the class each sample was generated for
    test: Split  # the real images both CAS classifiers are tested on
    recipe: EvaluatorConfig  # how a CAS classifier is trained (see `cas_recipe`)


def cas_recipe(evaluator_cfg: EvaluatorConfig, cfg: EvalConfig) -> EvaluatorConfig:
    """The evaluator's training recipe (batch size, learning rate, augmentation) with the
    epochs and seed of `eval.cas_epochs` and `eval.cas_seed`."""
    return evaluator_cfg.model_copy(update={"epochs": cfg.cas_epochs, "seed": cfg.cas_seed})


def classification_accuracy_score(
    train_images: np.ndarray,
    train_labels: np.ndarray,
    test_images: np.ndarray,
    test_labels: np.ndarray,
    spec: EvaluatorSpec,
    recipe: EvaluatorConfig,
    device: torch.device,
) -> float:
    """Test accuracy of a classifier of architecture `spec`, trained with `recipe` on uint8
    `train_images` `(N, C, H, W)` and their `train_labels` `(N,)`, on the test pair."""
    network = train_evaluator(recipe, spec, (train_images, train_labels), device)
    _, logits = extract(network, test_images, recipe.batch_size, device)
    return accuracy(logits, test_labels)


def class_accuracy(logits: torch.Tensor, labels: np.ndarray, num_classes: int) -> np.ndarray:
    """`(num_classes,)` share of the samples generated for each class that the evaluator,
    from its `logits` `(N, K)`, names as that class; NaN for a class with no sample."""
    correct = logits.argmax(1).numpy() == labels  # (N,)
    counts = np.bincount(labels, minlength=num_classes)
    hits = np.bincount(labels, weights=correct, minlength=num_classes)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, hits / np.maximum(counts, 1), np.nan)


def conditional_scores(
    spec: EvaluatorSpec,
    sample_logits: torch.Tensor,
    samples: np.ndarray,
    train: Split,
    conditioning: Conditioning,
    device: torch.device,
) -> dict[str, float]:
    """`conditional_accuracy`, `cas` and `cas_real` of uint8 `samples` `(N, C, H, W)`, whose
    evaluator logits are `sample_logits` `(N, K)`. Both classifiers learn from the same number
    of images, `min(N, len(train))`: the first samples (their classes are drawn at random, so
    any prefix is a fair one) and a seeded random choice of the real training images."""
    labels, recipe, test = conditioning.labels, conditioning.recipe, conditioning.test
    count = min(len(samples), len(train.images))
    chosen = np.random.default_rng(recipe.seed).choice(len(train.images), count, replace=False)
    cas = classification_accuracy_score(
        samples[:count], labels[:count], test.images, test.labels, spec, recipe, device
    )
    cas_real = classification_accuracy_score(
        train.images[chosen], train.labels[chosen], test.images, test.labels, spec, recipe, device
    )
    return {
        "conditional_accuracy": accuracy(sample_logits, labels),
        "cas": cas,
        "cas_real": cas_real,
    }

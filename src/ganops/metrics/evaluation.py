"""The evaluate stage's computation: scores, real floor, class histogram, nearest neighbours,
and for a conditional generator's samples the conditional scores."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ganops.config import EvalConfig
from ganops.data.dataset import Split
from ganops.metrics.conditional import Conditioning, conditional_scores
from ganops.metrics.diversity import intra_class_diversity
from ganops.metrics.evaluator import LoadedEvaluator
from ganops.metrics.scores import (
    FeatureSet,
    check_sizes,
    class_histogram,
    copy_check,
    nearest_neighbours,
    score,
)


@dataclass(frozen=True)
class Evaluation:
    """Everything the evaluate stage reports."""

    scores: dict[str, float]  # generated vs the real test split (+ conditional scores)
    real_floor: dict[str, float]  # the real train split vs the real test split
    generated_share: np.ndarray  # (K,) class histogram of the samples
    real_share: np.ndarray  # (K,) class histogram of the test split
    neighbours: np.ndarray  # (nn_samples,) index into the train split of each one's nearest


def evaluate(
    evaluator: LoadedEvaluator,
    samples: np.ndarray,
    train: Split,
    cfg: EvalConfig,
    device: torch.device,
    conditioning: Conditioning | None = None,
) -> Evaluation:
    """Score uint8 `samples` `(N, C, H, W)`; the real floor scores the `train` split the
    same way. The intra-class diversity groups the samples by the classes in `conditioning`
    when given (else by the evaluator's reading); with `conditioning` the scores also add
    `conditional_accuracy`, `cas` and `cas_real`."""
    from ganops.metrics.features import evaluator_reference, feature_set

    reference = evaluator_reference(evaluator)
    check_sizes(len(samples), len(reference), cfg)
    check_sizes(len(train.images), len(reference), cfg)
    generated = feature_set(evaluator, samples, cfg.batch_size, device)
    train_set = feature_set(evaluator, train.images, cfg.batch_size, device)
    scores = score(generated, reference, cfg)
    scores |= copy_check(generated.features, reference.features, train_set.features)
    real_labels = evaluator.reference_labels
    labels = conditioning.labels if conditioning is not None else None
    scores |= intra_class_diversity(
        generated.features, generated.logits, reference.features, real_labels, labels
    )
    floor = score(train_set, reference, cfg)
    # grouped by their classes, or (some kept without one) by the evaluator's reading
    known = train.labels if train.fully_labelled else None
    floor |= intra_class_diversity(
        train_set.features, train_set.logits, reference.features, real_labels, known
    )
    if conditioning is not None:
        spec = evaluator.network.spec
        scores |= conditional_scores(spec, generated.logits, samples, train, conditioning, device)
    shown = generated.features[: cfg.nn_samples]
    return Evaluation(
        scores=scores,
        real_floor=floor,
        generated_share=class_histogram(generated.logits),
        real_share=class_histogram(reference.logits),
        neighbours=nearest_neighbours(shown, train_set.features)[0],
    )


def as_metrics(evaluation: Evaluation, num_samples: int) -> dict[str, object]:
    """The DVC metrics file: scores at the top, the real floor under `real_floor`."""
    rounded = {key: round(value, 6) for key, value in evaluation.scores.items()}
    floor = {key: round(value, 6) for key, value in evaluation.real_floor.items()}
    return {**rounded, "num_samples": num_samples, "real_floor": floor}


__all__ = ["Conditioning", "Evaluation", "FeatureSet", "as_metrics", "evaluate"]

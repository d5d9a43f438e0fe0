"""The evaluate stage's computation: scores, real floor, class histogram, nearest neighbours."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ganops.config import EvalConfig
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

    scores: dict[str, float]  # generated vs the real test split
    real_floor: dict[str, float]  # the real train split vs the real test split
    generated_share: np.ndarray  # (K,) class histogram of the samples
    real_share: np.ndarray  # (K,) class histogram of the test split
    neighbours: np.ndarray  # (nn_samples,) index into the train split of each one's nearest


def evaluate(
    evaluator: LoadedEvaluator,
    samples: np.ndarray,
    train_images: np.ndarray,
    cfg: EvalConfig,
    device: torch.device,
) -> Evaluation:
    """Score uint8 `samples` `(N, C, H, W)`; the real floor uses `train_images` the same way."""
    from ganops.metrics import evaluator_reference, feature_set

    reference = evaluator_reference(evaluator)
    check_sizes(len(samples), len(reference), cfg)
    check_sizes(len(train_images), len(reference), cfg)
    generated = feature_set(evaluator, samples, cfg.batch_size, device)
    train = feature_set(evaluator, train_images, cfg.batch_size, device)
    scores = score(generated, reference, cfg)
    scores |= copy_check(generated.features, reference.features, train.features)
    shown = generated.features[: cfg.nn_samples]
    return Evaluation(
        scores=scores,
        real_floor=score(train, reference, cfg),
        generated_share=class_histogram(generated.logits),
        real_share=class_histogram(reference.logits),
        neighbours=nearest_neighbours(shown, train.features)[0],
    )


def as_metrics(evaluation: Evaluation, num_samples: int) -> dict[str, object]:
    """The DVC metrics file: scores at the top, the real floor under `real_floor`."""
    rounded = {key: round(value, 6) for key, value in evaluation.scores.items()}
    floor = {key: round(value, 6) for key, value in evaluation.real_floor.items()}
    return {**rounded, "num_samples": num_samples, "real_floor": floor}


__all__ = ["Evaluation", "FeatureSet", "as_metrics", "evaluate"]

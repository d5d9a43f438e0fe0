"""The evaluate stage's computation: scores, real floor, class histogram, nearest neighbours,
and for a conditional generator's samples the conditional scores."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ganops.config import EvalConfig
from ganops.data.dataset import Split
from ganops.metrics.conditional import Conditioning, class_accuracy, conditional_scores
from ganops.metrics.diversity import class_diversity, intra_class_diversity
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
    # (K,) per class, NaN where a class has too few samples: `diversity` (the ratio behind
    # intra_class_diversity) and, for a conditional generator, `accuracy` (the evaluator's
    # accuracy on the samples generated for the class)
    per_class: dict[str, np.ndarray]


def weakest(scores: np.ndarray) -> int:
    """The index of the lowest of per-class `scores` `(K,)`, NaN left out; -1 if all are."""
    return -1 if np.isnan(scores).all() else int(np.nanargmin(scores))


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
    `conditional_accuracy`, `cas` and `cas_real`. Per class, `per_class` holds the diversity
    (and with `conditioning` the accuracy), and the scores name the weakest class by its
    index: `intra_class_diversity_min_class` (and `conditional_accuracy_min_class`, with
    `conditional_accuracy_min`)."""
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
    # per class: which one the generator does worst (by the classes asked for, or read)
    grouped = labels if labels is not None else generated.logits.argmax(1).numpy()
    per_class = {
        "diversity": class_diversity(generated.features, grouped, reference.features, real_labels)
    }
    scores["intra_class_diversity_min_class"] = float(weakest(per_class["diversity"]))
    if conditioning is not None:
        spec = evaluator.network.spec
        scores |= conditional_scores(spec, generated.logits, samples, train, conditioning, device)
        count = len(spec.class_names)
        per_class["accuracy"] = class_accuracy(generated.logits, conditioning.labels, count)
        worst = weakest(per_class["accuracy"])
        scores["conditional_accuracy_min"] = float(per_class["accuracy"][worst])
        scores["conditional_accuracy_min_class"] = float(worst)
    shown = generated.features[: cfg.nn_samples]
    return Evaluation(
        scores=scores,
        real_floor=floor,
        generated_share=class_histogram(generated.logits),
        real_share=class_histogram(reference.logits),
        neighbours=nearest_neighbours(shown, train_set.features)[0],
        per_class=per_class,
    )


def as_metrics(evaluation: Evaluation, num_samples: int) -> dict[str, object]:
    """The DVC metrics file: scores at the top, the real floor under `real_floor`."""
    rounded = {key: round(value, 6) for key, value in evaluation.scores.items()}
    floor = {key: round(value, 6) for key, value in evaluation.real_floor.items()}
    return {**rounded, "num_samples": num_samples, "real_floor": floor}


__all__ = ["Conditioning", "Evaluation", "FeatureSet", "as_metrics", "evaluate"]

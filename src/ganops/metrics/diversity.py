"""Diversity within each class: the score that catches a generator which ignores z.

A generator that draws one image per class whatever its latent can still score a fair FID
and a perfect class balance; what it cannot fake is spread inside a class. For each class,
`intra_class_diversity` is the mean pairwise distance between generated images of that
class in the evaluator's feature space, divided by the same for real images of that class.
About 1 means real spread; near 0, one image per class.

A conditional generator's samples are grouped by the class they were generated for (so a
generator that ignores z scores 0 even when the evaluator is unsure of its images); an
unconditional one's by the class the evaluator names. A class with fewer than two samples
has no spread to measure and is left out of the mean and the worst class: a class the
generator misses is what `classes_covered` reports (and an early generator misses many).
"""

from __future__ import annotations

import numpy as np
import torch

MAX_PER_CLASS = 1000  # images per class the mean distance uses; more changes it little
_EPS = 1e-12


def mean_pairwise_distance(features: torch.Tensor) -> float:
    """Mean L2 distance over all pairs of distinct rows of `(N, D)` features; 0 for N < 2."""
    count = features.shape[0]
    if count < 2:
        return 0.0
    distances = torch.cdist(features.double(), features.double())  # (N, N), zero diagonal
    return float(distances.sum() / (count * (count - 1)))


def _spread_by_class(features: torch.Tensor, classes: np.ndarray, num_classes: int) -> np.ndarray:
    """`(num_classes,)` mean pairwise distance of each class's rows (first `MAX_PER_CLASS`);
    NaN for a class with fewer than two."""
    spreads = []
    for k in range(num_classes):
        rows = np.flatnonzero(classes == k)[:MAX_PER_CLASS]
        spreads.append(mean_pairwise_distance(features[rows]) if len(rows) >= 2 else np.nan)
    return np.array(spreads)


def class_diversity(
    features: torch.Tensor,
    classes: np.ndarray,
    real_features: torch.Tensor,
    real_classes: np.ndarray,
) -> np.ndarray:
    """`(K,)` per-class diversity ratio of generated `features` `(N, D)` grouped by
    `classes` `(N,)` against `real_features` `(M, D)` grouped by `real_classes` `(M,)`;
    K is the number of classes of the real set. NaN for a class with fewer than two
    generated or real images, or no real spread."""
    num_classes = int(real_classes.max()) + 1
    ours = _spread_by_class(features, classes, num_classes)
    theirs = _spread_by_class(real_features, real_classes, num_classes)
    with np.errstate(invalid="ignore"):
        ratio: np.ndarray = np.where(theirs > _EPS, ours / np.maximum(theirs, _EPS), np.nan)
    return ratio


def intra_class_diversity(
    features: torch.Tensor,
    logits: torch.Tensor,
    real_features: torch.Tensor,
    real_classes: np.ndarray,
    labels: np.ndarray | None = None,
) -> dict[str, float]:
    """`intra_class_diversity` (mean over classes) and `intra_class_diversity_min` (the
    worst class) of generated images with evaluator `features` `(N, D)` and `logits`
    `(N, K)`, grouped by their conditioning `labels` `(N,)` when given, else by the
    evaluator's argmax. Classes without two samples are left out; 0 when none has two."""
    classes = labels if labels is not None else logits.argmax(1).numpy()
    ratios = class_diversity(features, classes, real_features, real_classes)
    measured = ratios[~np.isnan(ratios)]
    if not len(measured):
        return {"intra_class_diversity": 0.0, "intra_class_diversity_min": 0.0}
    return {
        "intra_class_diversity": float(measured.mean()),
        "intra_class_diversity_min": float(measured.min()),
    }

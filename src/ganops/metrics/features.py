"""What every score starts from: a loaded evaluator's features of a set of images, and the
checks that the images (and their labels) are what the evaluator takes."""

from __future__ import annotations

import numpy as np
import torch

from ganops.errors import DataError
from ganops.metrics.evaluator import LoadedEvaluator, extract
from ganops.metrics.scores import FeatureSet


def check_image_shape(images: np.ndarray, evaluator: LoadedEvaluator, what: str) -> None:
    """A one-line error when `images` `(N, C, H, W)` are not what the evaluator takes."""
    expected = evaluator.network.spec.image_shape
    if tuple(images.shape[1:]) != tuple(expected):
        got = "x".join(str(side) for side in images.shape[1:])
        want = "x".join(str(side) for side in expected)
        raise DataError(f"{what}: images are {got} (CxHxW) but the evaluator takes {want}")


def feature_set(
    evaluator: LoadedEvaluator, images: np.ndarray, batch_size: int, device: torch.device
) -> FeatureSet:
    """The evaluator's features and logits of uint8 `(N, C, H, W)` images."""
    features, logits = extract(evaluator.network, images, batch_size, device)
    return FeatureSet(features, logits)


def evaluator_reference(evaluator: LoadedEvaluator) -> FeatureSet:
    """The cached features of the real test split, computed when the evaluator was trained."""
    return FeatureSet(evaluator.reference_features, evaluator.reference_logits)


def check_sample_labels(labels: np.ndarray, evaluator: LoadedEvaluator, what: str) -> None:
    """A one-line error when class `labels` `(N,)` name a class the evaluator does not know."""
    classes = len(evaluator.network.spec.class_names)
    if len(labels) and (labels.min() < 0 or labels.max() >= classes):
        raise DataError(
            f"{what}: labels run from {labels.min()} to {labels.max()} but the evaluator knows "
            f"{classes} classes (0 to {classes - 1})"
        )

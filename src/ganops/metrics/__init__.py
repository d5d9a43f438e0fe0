"""The evaluator network and the scores computed with its features.

evaluator = load_evaluator(path)
generated = feature_set(evaluator, images, batch_size, device)
scores = score(generated, evaluator_reference(evaluator), cfg)   # {"fid": ..., ...}
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ganops.errors import DataError
from ganops.metrics.diversity import intra_class_diversity
from ganops.metrics.evaluator import (
    Evaluator,
    EvaluatorSpec,
    LoadedEvaluator,
    extract,
    load_evaluator,
    save_evaluator,
    train_evaluator,
)
from ganops.metrics.scores import (
    SCORES,
    FeatureSet,
    class_histogram,
    copy_check,
    fid_from_statistics,
    fid_statistics,
    nearest_neighbours,
    score,
)
from ganops.sampling import generate

__all__ = [
    "SCORES",
    "Evaluator",
    "EvaluatorSpec",
    "FeatureSet",
    "LoadedEvaluator",
    "QuickProbe",
    "check_image_shape",
    "check_sample_labels",
    "class_histogram",
    "copy_check",
    "evaluator_reference",
    "feature_set",
    "intra_class_diversity",
    "load_evaluator",
    "nearest_neighbours",
    "save_evaluator",
    "score",
    "train_evaluator",
]


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


class QuickProbe:
    """The quick scores during training: a fixed latent batch (and, for a conditional
    generator, fixed class `labels` `(N,)`) against the cached test split. Returns
    `quick_fid` and the intra-class diversity (`quick_intra_class_diversity`, `_min`), both
    from one pass of the evaluator."""

    def __init__(
        self,
        evaluator: LoadedEvaluator,
        latents: torch.Tensor,
        batch_size: int,
        device: torch.device,
        labels: torch.Tensor | None = None,
    ) -> None:
        self.evaluator = evaluator
        self.latents = latents
        self.labels = labels
        self.batch_size = batch_size
        self.device = device
        self.reference = fid_statistics(evaluator.reference_features)

    def __call__(self, generator: nn.Module) -> dict[str, float]:
        # (N, C, H, W) uint8
        images = generate(generator, self.latents, self.batch_size, labels=self.labels)
        features, logits = extract(self.evaluator.network, images, self.batch_size, self.device)
        labels = None if self.labels is None else self.labels.cpu().numpy()
        diversity = intra_class_diversity(
            features,
            logits,
            self.evaluator.reference_features,
            self.evaluator.reference_labels,
            labels,
        )
        fid = fid_from_statistics(fid_statistics(features), self.reference)
        return {"quick_fid": fid} | {f"quick_{key}": value for key, value in diversity.items()}

"""A restyler's scores that need no style measurement: whether each output still shows its
content's class (`content_kept`: the evaluator's accuracy against the content's class), the
realism scores of the outputs against the real test split in the evaluator's space (FID,
KID, precision, recall) and the near-copy check against the train split
(`nn_distance_ratio`, as for a generator).

The test split is both the source of every content and style image and the reference of
FID: the content images as they are would score FID 0, so the realism scores say how far
the drawing moves the outputs from real digits, not how new they are.
"""

from __future__ import annotations

import numpy as np
import torch

from ganops.config import EvalConfig
from ganops.metrics.evaluator import LoadedEvaluator, accuracy, extract
from ganops.metrics.scores import FeatureSet, copy_check, score

KEPT = ("fid", "kid_mean", "precision", "recall")  # of the registry's scores


def restyle_scores(
    outputs: np.ndarray, content_labels: np.ndarray, train_images: np.ndarray,
    evaluator: LoadedEvaluator, cfg: EvalConfig, device: torch.device,
) -> dict[str, float]:  # fmt: skip
    """The scores of uint8 `outputs` `(N, C, H, W)` whose contents are of `content_labels`."""
    features, logits = extract(evaluator.network, outputs, cfg.batch_size, device)
    reference = FeatureSet(evaluator.reference_features, evaluator.reference_logits)
    realism = score(FeatureSet(features, logits), reference, cfg)
    results = {key: value for key, value in realism.items() if key in KEPT}
    results["content_kept"] = accuracy(logits, content_labels)
    train_features, _ = extract(evaluator.network, train_images, cfg.batch_size, device)
    results |= copy_check(features, evaluator.reference_features, train_features)
    return {key: round(float(value), 6) for key, value in results.items()}

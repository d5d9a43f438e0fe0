"""A translator's scores, each beside the baselines that need no training.

Every method (the translation, `identity`: A as it is, `handmade`: the transform a domain
expert would write, `bicubic`: the paired super-resolution's upsampling of the 8x8 input,
for the UCI degradation only: a user's own pairs have no 8x8 input) is
scored the same way against domain B's test split in B's evaluator space: FID, KID,
precision, recall; label preservation (B's evaluator's accuracy against A's labels); and, for
a paired task, L1, PSNR and SSIM against the true B image.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch

from ganops.config import EvalConfig
from ganops.metrics.evaluator import LoadedEvaluator, accuracy, extract
from ganops.metrics.paired import paired_scores
from ganops.metrics.scores import FeatureSet, score
from ganops.translation.baselines import bicubic, handmade_for, identity, low_resolution
from ganops.translation.domains import Domains

SHOWN = (
    "kid_std",
    "isc_mean",
    "isc_std",
    "classes_covered",
    "class_kl",
)  # left out: one-domain scores


def baselines(
    test: Domains, names: tuple[str, str]
) -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    """The methods a translator must beat on this task, by name."""
    methods: dict[str, Callable[[np.ndarray], np.ndarray]] = {"identity": identity}
    handmade = handmade_for(*names)
    if handmade is not None:
        methods["handmade"] = handmade
    if test.aligned and names[0] == f"{names[1]}:uci":  # A is B through the UCI acquisition
        size = test.b.images.shape[-1]
        methods["bicubic"] = lambda images: bicubic(low_resolution(images), size)
    return methods


def method_scores(
    images: np.ndarray, test: Domains, evaluator: LoadedEvaluator, cfg: EvalConfig,
    device: torch.device,
) -> dict[str, float]:  # fmt: skip
    """The scores of one method's images (A's test split transformed) against B's test split."""
    features, logits = extract(evaluator.network, images, cfg.batch_size, device)
    reference = FeatureSet(evaluator.reference_features, evaluator.reference_logits)
    scores = score(FeatureSet(features, logits), reference, cfg)
    kept = {key: value for key, value in scores.items() if key not in SHOWN}
    kept["label_preservation"] = accuracy(logits, test.a.labels)
    if test.aligned:
        kept |= paired_scores(images, test.b.images)
    return {key: round(float(value), 6) for key, value in kept.items()}


def score_methods(
    translated: np.ndarray, test: Domains, names: tuple[str, str], evaluator: LoadedEvaluator,
    cfg: EvalConfig, device: torch.device,
) -> dict[str, Any]:  # fmt: skip
    """`{"translation": scores, "identity": scores, ...}` plus what B's own train images
    score (`real_floor`: what a perfect translator could reach) is left to generation."""
    results = {"translation": method_scores(translated, test, evaluator, cfg, device)}
    for name, transform in baselines(test, names).items():
        results[name] = method_scores(transform(test.a.images), test, evaluator, cfg, device)
    return results


def scores_table(results: Mapping[str, Mapping[str, float | None]]) -> str:
    """A TSV: one row per method, one column per score (the file `dvc plots` can draw); a
    score that is not defined (None) is `nan`."""
    columns = list(next(iter(results.values())))
    lines = ["method\t" + "\t".join(columns)]
    for method, scores in results.items():
        cells = ("nan" if scores[c] is None else f"{scores[c]:.6g}" for c in columns)
        lines.append(f"{method}\t" + "\t".join(cells))
    return "\n".join(lines) + "\n"

"""Scores between a set of images and a reference set, in the evaluator's feature space.

A registry of named functions, each returning `dict[str, float]`; computing is separate
from reporting. The mathematics of FID, KID, precision/recall (Kynkäänniemi et al. 2019)
and the Inception Score is torch-fidelity's, applied to the evaluator's features and
logits; mode coverage and the nearest-neighbour copy check are written here because no
library computes them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from ganops.config import EvalConfig, kid_subset_problem
from ganops.errors import DataError

# torch-fidelity is imported where it is used: it loads torchvision's models, seconds that a
# stage which never scores (downstream, a training run without quick FIDs) need not spend


@dataclass(frozen=True)
class FeatureSet:
    """What the evaluator sees of a set of images."""

    features: torch.Tensor  # (N, D) float32
    logits: torch.Tensor  # (N, K) float32

    def __len__(self) -> int:
        return int(self.features.shape[0])


FidStatistics = dict[str, np.ndarray]


def fid_statistics(features: torch.Tensor) -> FidStatistics:
    """Mean and covariance (float64) of `(N, D)` features."""
    from torch_fidelity.metric_fid import fid_features_to_statistics

    if not bool(torch.isfinite(features).all()):
        raise DataError(
            "the evaluator's features are not finite (NaN or infinite): "
            "the evaluator or the images are damaged"
        )
    return fid_features_to_statistics(features.double().cpu())  # type: ignore[no-any-return]


def fid_from_statistics(generated: FidStatistics, reference: FidStatistics) -> float:
    """Fréchet distance between two Gaussians fitted to features."""
    from torch_fidelity.metric_fid import fid_statistics_to_metric

    value = fid_statistics_to_metric(generated, reference, verbose=False)[
        "frechet_inception_distance"
    ]
    return max(float(value), 0.0)  # rounding can leave -1e-12 for identical sets


def fid(generated: FeatureSet, reference: FeatureSet, cfg: EvalConfig) -> dict[str, float]:
    """Fréchet distance (Heusel et al. 2017); 0 for identical distributions."""
    return {
        "fid": fid_from_statistics(
            fid_statistics(generated.features), fid_statistics(reference.features)
        )
    }


def kid(generated: FeatureSet, reference: FeatureSet, cfg: EvalConfig) -> dict[str, float]:
    """Kernel Inception Distance (Bińkowski et al. 2018): unbiased MMD², cubic kernel, over
    `eval.kid_subsets` random subsets of `eval.kid_subset_size`."""
    from torch_fidelity.metric_kid import kid_features_to_metric

    out = kid_features_to_metric(
        generated.features,
        reference.features,
        kid_subsets=cfg.kid_subsets,
        kid_subset_size=cfg.kid_subset_size,
        rng_seed=cfg.seed,
        verbose=False,
    )
    return {"kid_mean": float(out["kernel_inception_distance_mean"]),
            "kid_std": float(out["kernel_inception_distance_std"])}  # fmt: skip


def precision_recall(
    generated: FeatureSet, reference: FeatureSet, cfg: EvalConfig
) -> dict[str, float]:
    """Improved precision (fidelity) and recall (diversity), Kynkäänniemi et al. 2019:
    k-nearest-neighbour balls with k = `eval.prc_neighborhood`."""
    from torch_fidelity.metric_prc import prc_features_to_metric

    out = prc_features_to_metric(
        generated.features,
        reference.features,
        prc_neighborhood=cfg.prc_neighborhood,
        prc_batch_size=10_000,
        save_cpu_ram=True,
        verbose=False,
    )
    return {"precision": float(out["precision"]), "recall": float(out["recall"])}


def inception_score(
    generated: FeatureSet, reference: FeatureSet, cfg: EvalConfig
) -> dict[str, float]:
    """The Inception Score's formula on the evaluator's logits: exp E[KL(p(y|x) || p(y))],
    at most the number of classes (confident and evenly spread)."""
    from torch_fidelity.metric_isc import isc_features_to_metric

    out = isc_features_to_metric(
        generated.logits, splits=cfg.isc_splits, shuffle=True, rng_seed=cfg.seed
    )
    return {
        "isc_mean": float(out["inception_score_mean"]),
        "isc_std": float(out["inception_score_std"]),
    }


def class_histogram(logits: torch.Tensor) -> np.ndarray:
    """Share of images the evaluator assigns to each class, `(K,)`."""
    counts = np.bincount(logits.argmax(1).numpy(), minlength=logits.shape[1])
    shares: np.ndarray = counts / max(counts.sum(), 1)
    return shares


def mode_coverage(
    generated: FeatureSet, reference: FeatureSet, cfg: EvalConfig
) -> dict[str, float]:
    """How many classes the generator covers, and KL(generated || reference) of the class
    histograms. A class is covered when its share of the generated images is at least
    `eval.coverage_threshold` times its share of the reference images."""
    ours, theirs = class_histogram(generated.logits), class_histogram(reference.logits)
    present = theirs > 0
    covered = int(np.sum(ours[present] >= cfg.coverage_threshold * theirs[present]))
    seen = ours > 0  # 0 * log 0 = 0
    floor = np.maximum(theirs[seen], 1e-6)  # finite where the reference has no such images
    kl = np.sum(ours[seen] * np.log(ours[seen] / floor))
    return {"classes_covered": float(covered), "class_kl": float(kl)}


ScoreFn = Callable[[FeatureSet, FeatureSet, EvalConfig], dict[str, float]]
SCORES: dict[str, ScoreFn] = {
    "fid": fid,
    "kid": kid,
    "precision_recall": precision_recall,
    "inception_score": inception_score,
    "mode_coverage": mode_coverage,
}


def check_sizes(generated: int, reference: int, cfg: EvalConfig) -> None:
    """One-line errors for sets too small for the scores, before any is computed."""
    smallest = min(generated, reference)
    problem = kid_subset_problem(cfg.kid_subset_size, generated, reference)
    if problem:
        raise DataError(f"{problem} ({generated} generated, {reference} reference images)")
    if smallest <= cfg.prc_neighborhood:
        raise DataError(f"precision/recall need more than {cfg.prc_neighborhood} images per set")
    if generated < cfg.isc_splits:
        raise DataError(
            f"the Inception Score needs at least eval.isc_splits = {cfg.isc_splits} images"
        )


def score(generated: FeatureSet, reference: FeatureSet, cfg: EvalConfig) -> dict[str, float]:
    """Every registered score of `generated` against `reference`."""
    check_sizes(len(generated), len(reference), cfg)
    results: dict[str, float] = {}
    for compute in SCORES.values():
        results.update(compute(generated, reference, cfg))
    return results


def nearest_neighbours(queries: torch.Tensor, pool: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """For each query row, the index of and distance to its nearest `pool` row (L2)."""
    indices, distances = [], []
    for start in range(0, queries.shape[0], 2048):
        chunk = queries[start : start + 2048]
        dist = torch.cdist(chunk.double(), pool.double())  # (n, M)
        best = dist.min(dim=1)
        indices.append(best.indices.numpy())
        distances.append(best.values.numpy())
    return np.concatenate(indices), np.concatenate(distances)


def copy_check(
    generated: torch.Tensor, held_out: torch.Tensor, train: torch.Tensor
) -> dict[str, float]:
    """`nn_distance_ratio`: median distance from generated images to their nearest training
    image over the same for held-out real images. Near 1, the generator is as far from its
    training data as new real data is; well below 1, it is copying training images."""
    generated_distance = np.median(nearest_neighbours(generated, train)[1])
    held_out_distance = np.median(nearest_neighbours(held_out, train)[1])
    return {"nn_distance_ratio": float(generated_distance / max(held_out_distance, 1e-12))}

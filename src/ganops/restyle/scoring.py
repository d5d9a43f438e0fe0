"""A restyler's scores that need no style measurement: whether each output still shows its
content's class (`content_kept`: the evaluator's accuracy against the content's class), the
realism scores of the outputs against the real test split in the evaluator's space (FID,
KID, precision, recall) and the near-copy check against the train split
(`nn_distance_ratio`, as for a generator).

The test split is both the source of every content and style image and the reference of
FID: the content images as they are would score FID 0, so the realism scores say how far
the drawing moves the outputs from real digits, not how new they are.

`scored_ways` puts the restyled pairs beside the four ways that need no GAN (the content as
it is, the style image as it is, the hand-made transform, retrieval of a training digit:
`ganops.metrics.restyle_scores`), all scored alike on the same `eval.style_pairs` pairs
(a seeded draw), with how far each moved the style: the correlation across pairs of each
Morpho-MNIST measurement of the output with the style image's, beside that with the
content's.
"""

from __future__ import annotations

import numpy as np
import torch

from ganops.config import EvalConfig
from ganops.data.dataset import Split
from ganops.metrics import morpho
from ganops.metrics.evaluator import LoadedEvaluator, accuracy, extract
from ganops.metrics.restyle_scores import hand_made_restyle, retrieve_restyle, style_correlations
from ganops.metrics.scores import FeatureSet, copy_check, score
from ganops.restyle.outputs import CONTENT_INDEX_FILE, STYLE_INDEX_FILE
from ganops.sampling import LABELS_FILE, SAMPLES_FILE

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


def _finite(scores: dict[str, float]) -> dict[str, float | None]:
    """Rounded, a NaN (a correlation that is not defined) as None: JSON has no NaN."""
    return {key: round(float(v), 6) if np.isfinite(v) else None for key, v in scores.items()}


def scored_ways(
    arrays: dict[str, np.ndarray], test: Split, train: Split, evaluator: LoadedEvaluator,
    cfg: EvalConfig, device: torch.device,
) -> dict[str, dict[str, float | None]]:  # fmt: skip
    """The restyler's outputs (`arrays`, as the sample stage wrote them: pairs of test images)
    and the four ways that need no GAN, on the same `cfg.style_pairs` pairs (drawn with
    `cfg.seed`; all of them when there are no more): per way, the scores of `restyle_scores`
    and the style correlations (`style_r_<m>`, `content_r_<m>`)."""
    pairs = len(arrays[SAMPLES_FILE])
    # a seeded draw of the pairs, not the first ones: a split may be stored class by class
    chosen = np.sort(np.random.default_rng(cfg.seed).permutation(pairs)[: cfg.style_pairs])
    labels = arrays[LABELS_FILE][chosen]
    contents = test.images[arrays[CONTENT_INDEX_FILE][chosen]]
    styles = test.images[arrays[STYLE_INDEX_FILE][chosen]]
    measured = {"content": morpho.measure_batch(contents), "style": morpho.measure_batch(styles)}
    train_shapes = morpho.measure_batch(train.images)
    ways = {
        "restyle": arrays[SAMPLES_FILE][chosen],
        "content": contents,
        "style": styles,
        "hand_made": hand_made_restyle(contents, styles),
        "retrieval": retrieve_restyle(
            labels, styles, train.images, train.labels, train_measures=train_shapes
        ),
    }
    table = {}
    for name, images in ways.items():
        shapes = measured[name] if name in measured else morpho.measure_batch(images)
        moved = style_correlations(shapes, measured["content"], measured["style"])
        realism = restyle_scores(images, labels, train.images, evaluator, cfg, device)
        table[name] = _finite({**realism, **moved})
    return table

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

With two domains the contents are A's test images, the styles B's, and the reference, the
evaluator and the near-copy check B's. A score the data does not define is None (null in
`metrics.json`, `nan` in the table, left out of MLflow), never made up: `content_kept` where
the domains do not share two classes or more; the style correlations, the hand-made transform
and retrieval (which reads the hand in the same measurements) where they are not both digits
(`not_defined` says which, and why).
"""

from __future__ import annotations

import numpy as np
import torch

from ganops.config import EvalConfig
from ganops.data.dataset import Split
from ganops.metrics import morpho
from ganops.metrics.evaluator import LoadedEvaluator, accuracy, extract
from ganops.metrics.restyle_scores import (
    MEASUREMENTS,
    Measures,
    hand_made_restyle,
    retrieve_restyle,
    style_correlations,
)
from ganops.metrics.scores import FeatureSet, copy_check, score
from ganops.restyle.domains import RestyleSplit
from ganops.restyle.outputs import CONTENT_INDEX_FILE, STYLE_INDEX_FILE
from ganops.sampling import LABELS_FILE, SAMPLES_FILE

KEPT = ("fid", "kid_mean", "precision", "recall")  # of the registry's scores


def restyle_scores(
    outputs: np.ndarray, content_labels: np.ndarray, train_images: np.ndarray,
    evaluator: LoadedEvaluator, cfg: EvalConfig, device: torch.device, by_class: bool = True,
) -> dict[str, float]:  # fmt: skip
    """The scores of uint8 `outputs` `(N, C, H, W)` whose contents are of `content_labels`
    (`content_kept` only `by_class`, where the evaluator knows the contents' classes)."""
    features, logits = extract(evaluator.network, outputs, cfg.batch_size, device)
    reference = FeatureSet(evaluator.reference_features, evaluator.reference_logits)
    realism = score(FeatureSet(features, logits), reference, cfg)
    results = {key: value for key, value in realism.items() if key in KEPT}
    results["content_kept"] = accuracy(logits, content_labels) if by_class else float("nan")
    train_features, _ = extract(evaluator.network, train_images, cfg.batch_size, device)
    results |= copy_check(features, evaluator.reference_features, train_features)
    return {key: round(float(value), 6) for key, value in results.items()}


def _finite(scores: dict[str, float]) -> dict[str, float | None]:
    """Rounded, a NaN (a correlation that is not defined) as None: JSON has no NaN."""
    return {key: round(float(v), 6) if np.isfinite(v) else None for key, v in scores.items()}


def not_defined(test: RestyleSplit) -> dict[str, str]:
    """The scores and ways the data does not define, each with why (empty on one domain)."""
    why: dict[str, str] = {}
    if not test.by_class:
        why["content_kept"] = (
            "the two domains do not share two classes or more: the evaluator cannot read a "
            "content's class"
        )
    if not test.digits:
        digits = "the images are not digits of a registered source (mnist, mnist-5k, uci-digits)"
        why["style_r, content_r"] = f"{digits}: the Morpho-MNIST measurements do not apply"
        why["hand_made"] = f"{digits}: it sets those measurements"
    if not (test.digits and test.by_class):
        why["retrieval"] = "it finds a training image of the content's class by those measurements"
    return why


def _undefined(row: dict[str, float]) -> dict[str, float]:
    """A way's row of the same keys, every score not defined (NaN, None once rounded)."""
    return {key: (value if key == "pairs" else float("nan")) for key, value in row.items()}


def _correlations(
    images: np.ndarray, measured: dict[str, Measures] | None, name: str, pairs: int
) -> dict[str, float]:
    """`style_r_<m>` and `content_r_<m>` of `images` (NaN each without measurements)."""
    if measured is None:
        nan = float("nan")
        moved = {f"{side}_r_{m}": nan for m in MEASUREMENTS for side in ("style", "content")}
        blanks = ("pairs_measured", "blank_outputs", "blank_contents", "blank_styles")
        return moved | {"pairs": float(pairs)} | dict.fromkeys(blanks, nan)
    shapes = measured[name] if name in measured else morpho.measure_batch(images)
    return style_correlations(shapes, measured["content"], measured["style"])


def scored_ways(
    arrays: dict[str, np.ndarray], test: RestyleSplit | Split, train: Split,
    evaluator: LoadedEvaluator, cfg: EvalConfig, device: torch.device,
) -> dict[str, dict[str, float | None]]:  # fmt: skip
    """The restyler's outputs (`arrays`, as the sample stage wrote them: pairs of test images)
    and the four ways that need no GAN, on the same `cfg.style_pairs` pairs (drawn with
    `cfg.seed`; all of them when there are no more): per way, the scores of `restyle_scores`
    and the style correlations (`style_r_<m>`, `content_r_<m>`). `train` is the style images'
    train split (retrieval's pool and the near-copy check's); a plain `Split` as `test` is
    one domain's, contents and styles alike. What `not_defined(test)` names is None."""
    if isinstance(test, Split):
        test = RestyleSplit(test, test, by_class=True, digits=True)
    pairs = len(arrays[SAMPLES_FILE])
    # a seeded draw of the pairs, not the first ones: a split may be stored class by class
    chosen = np.sort(np.random.default_rng(cfg.seed).permutation(pairs)[: cfg.style_pairs])
    labels = arrays[LABELS_FILE][chosen]
    contents = test.content.images[arrays[CONTENT_INDEX_FILE][chosen]]
    styles = test.style.images[arrays[STYLE_INDEX_FILE][chosen]]
    measured = None
    if test.digits:
        measured = {
            "content": morpho.measure_batch(contents),
            "style": morpho.measure_batch(styles),
        }
    ways: dict[str, np.ndarray | None] = {
        "restyle": arrays[SAMPLES_FILE][chosen],
        "content": contents,
        "style": styles,
        "hand_made": hand_made_restyle(contents, styles) if measured else None,
        "retrieval": None,
    }
    if measured is not None and test.by_class:
        ways["retrieval"] = retrieve_restyle(
            labels, styles, train.images, train.labels,
            train_measures=morpho.measure_batch(train.images),
        )  # fmt: skip
    table: dict[str, dict[str, float | None]] = {}
    first: dict[str, float] = {}
    for name, images in ways.items():
        if images is None:  # not defined for this data: the row says so, no number made up
            table[name] = _finite(_undefined(first))
            continue
        moved = _correlations(images, measured, name, len(chosen))
        realism = restyle_scores(
            images, labels, train.images, evaluator, cfg, device, test.by_class
        )
        first = first or {**realism, **moved}
        table[name] = _finite({**realism, **moved})
    return table

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

Two scores need no measurement and apply to any images, digits or not, in the evaluator's
features (`ganops.metrics.restyle_scores`):

- `style_retrieval`, over the same pairs: the share of (pair i, other pair j) comparisons in
  which style image i is nearer output i than output j (a tie counts half). Chance, an
  output that ignores its style, is 0.5 (`RETRIEVAL_CHANCE`) whatever the number of pairs;
  the style image as it is scores 1, the ceiling (a hair under where two pairs share a style
  image: a tie). Where each style is of another class than its content, the content as it
  is lands a little under 0.5: its own style is of another class by construction, another
  pair's content need not be. `style_retrieval_in_class` compares each pair only with the
  pairs whose content is of its class, which takes that out: chance is 0.5 there too, for
  any features (on a user's folders without class sub-folders every content is of one
  class, and the two are the same);
- the spread over styles (`SPREAD`), on the sample stage's contents each drawn in K (10)
  styles, as many contents as `eval.style_pairs` outputs hold (50 at the default 500):
  `style_spread`, the mean over contents of the mean pairwise distance of its K outputs
  (`style_spread_min`, the least); `style_spread_real`, the same of the real test images of
  the content's class (of all of them where the evaluator does not know the contents'
  classes); `style_spread_ratio`, the mean over contents of the two's ratio (about 1: as
  varied as real images of that class). The content as it is scores 0; `spread_contents` and
  `spread_styles` say how many were drawn.

With two domains the contents are A's test images, the styles B's, and the reference, the
evaluator and the near-copy check B's. A score the data does not define is None (null in
`metrics.json`, `nan` in the table, left out of MLflow), never made up: `content_kept` where
the domains do not share two classes or more; the style correlations, the hand-made transform
and retrieval (which reads the hand in the same measurements) where they are not both digits;
the spread where a content has fewer than two style images to be drawn in (`not_defined` says
which, and why).
"""

from __future__ import annotations

import numpy as np
import torch

from ganops.config import EvalConfig
from ganops.data.dataset import Split
from ganops.metrics import morpho, shared_work
from ganops.metrics.evaluator import LoadedEvaluator, accuracy, extract
from ganops.metrics.restyle_scores import (
    MEASUREMENTS,
    Measures,
    diversity_over_styles,
    hand_made_restyle,
    retrieve_restyle,
    style_correlations,
    style_retrieval,
)
from ganops.metrics.scores import FeatureSet, copy_check, score
from ganops.restyle.domains import RestyleSplit
from ganops.restyle.outputs import (
    CONTENT_INDEX_FILE,
    SPREAD_CONTENT_INDEX_FILE,
    SPREAD_SAMPLES_FILE,
    SPREAD_STYLE_INDEX_FILE,
    STYLE_INDEX_FILE,
    styles_per_content,
)
from ganops.sampling import LABELS_FILE, SAMPLES_FILE

KEPT = ("fid", "kid_mean", "precision", "recall")  # of the registry's scores
SPREAD = ("style_spread", "style_spread_min", "style_spread_real", "style_spread_ratio")
COUNTS = ("pairs", "spread_contents", "spread_styles")  # how much was scored, not scores
RETRIEVAL_CHANCE = 0.5  # style_retrieval of outputs that ignore their style


def restyle_scores(
    outputs: np.ndarray, content_labels: np.ndarray, train_images: np.ndarray,
    evaluator: LoadedEvaluator, cfg: EvalConfig, device: torch.device, by_class: bool = True,
    style_features: torch.Tensor | None = None,
) -> dict[str, float]:  # fmt: skip
    """The scores of uint8 `outputs` `(N, C, H, W)` whose contents are of `content_labels`
    (`content_kept` only `by_class`, where the evaluator knows the contents' classes), and
    with the evaluator's features of each output's style image `(N, D)`, `style_retrieval`
    (NaN for fewer than two pairs) and `style_retrieval_in_class` (each pair against the pairs
    of its content's class alone; NaN where no two share one)."""
    features, logits = extract(evaluator.network, outputs, cfg.batch_size, device)
    reference = FeatureSet(evaluator.reference_features, evaluator.reference_logits)
    realism = score(FeatureSet(features, logits), reference, cfg)
    results = {key: value for key, value in realism.items() if key in KEPT}
    results["content_kept"] = accuracy(logits, content_labels) if by_class else float("nan")
    if style_features is not None:
        two = len(features) >= 2
        results["style_retrieval"] = (
            style_retrieval(features, style_features) if two else float("nan")
        )
        results["style_retrieval_in_class"] = (
            style_retrieval(features, style_features, content_labels) if two else float("nan")
        )
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
    if len(test.content.images) < 2:
        why["style_retrieval, style_retrieval_in_class"] = (
            "it compares a pair with the others: there is one pair"
        )
    few = [c for c in np.unique(test.content.labels) if (test.style.labels == c).sum() < 2]
    if test.by_class and few:
        why["style_spread_real, style_spread_ratio"] = (
            f"class {few[0]} has fewer than two real test images: no real spread to compare with"
        )
    if styles_per_content(test.content.labels, test.style.labels, test.by_class) < 2:
        why[", ".join(SPREAD)] = (
            "there are not two style images for a content (of another class) to draw it in"
        )
    return why


def _undefined(row: dict[str, float]) -> dict[str, float]:
    """A way's row of the same keys, every score not defined (NaN, None once rounded), the
    counts kept."""
    return {key: (value if key in COUNTS else float("nan")) for key, value in row.items()}


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


def _spread_pairs(
    arrays: dict[str, np.ndarray], test: RestyleSplit, budget: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The sample stage's contents drawn in K styles each: the first contents whose outputs
    `budget` holds (at least one) `(S,)`, and each output's content and style image, content
    by content `(S * K, C, H, W)` each."""
    index = arrays[SPREAD_STYLE_INDEX_FILE]  # (S, K)
    shown = arrays[SPREAD_CONTENT_INDEX_FILE][: max(1, budget // max(index.shape[1], 1))]
    contents = test.content.images[np.repeat(shown, index.shape[1])]
    return shown, contents, test.style.images[index[: len(shown)].ravel()]


def _spread_ways(
    arrays: dict[str, np.ndarray], test: RestyleSplit, train: Split,
    pairs: tuple[np.ndarray, np.ndarray, np.ndarray], hand_made: np.ndarray | None,
    train_measures: Measures | None, hands: Measures | None = None,
) -> tuple[dict[str, np.ndarray | None], np.ndarray]:  # fmt: skip
    """Each way's outputs for the `_spread_pairs` `pairs`, content by content
    `(S * K, C, H, W)` (the hand-made transform's, `hand_made`, made by the caller, as are
    `hands`, the styles' measurements), and the contents' classes `(S,)`. Every way None when
    K < 2 (no spread to measure)."""
    shown, contents, styles = pairs
    per_content = arrays[SPREAD_STYLE_INDEX_FILE].shape[1]
    names = ("restyle", "content", "style", "hand_made", "retrieval")
    if per_content < 2:
        return dict.fromkeys(names), test.content.labels[shown]
    outputs = arrays[SPREAD_SAMPLES_FILE][: len(shown)]  # (S, K, C, H, W)
    ways: dict[str, np.ndarray | None] = {
        "restyle": outputs.reshape(-1, *outputs.shape[2:]),
        "content": contents,
        "style": styles,
        "hand_made": hand_made,
        "retrieval": None,
    }
    if train_measures is not None:
        ways["retrieval"] = retrieve_restyle(
            np.repeat(test.content.labels[shown], per_content), styles, train.images,
            train.labels, train_measures=train_measures, style_measures=hands,
        )  # fmt: skip
    return ways, test.content.labels[shown]


def _hand_made_both(
    contents: np.ndarray, styles: np.ndarray, spread_contents: np.ndarray,
    spread_styles: np.ndarray, hands: tuple[Measures, Measures],
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """The hand-made transform of the scored pairs and of the spread's, in one call, given
    the two sets of styles' measurements `hands`. Each image is transformed alone, so the
    bytes are those of two calls."""
    both = hand_made_restyle(
        np.concatenate([contents, spread_contents]), np.concatenate([styles, spread_styles]),
        hands={field: np.concatenate([hand[field] for hand in hands]) for field in hands[0]},
    )  # fmt: skip
    return both[: len(contents)], both[len(contents) :]


def _spread_scores(
    images: np.ndarray | None, classes: np.ndarray, by_class: bool,
    evaluator: LoadedEvaluator, cfg: EvalConfig, device: torch.device,
) -> dict[str, float]:  # fmt: skip
    """`diversity_over_styles` of `_spread_ways`' outputs of one way, against the real test
    split's spread in each content's class (in all of it where the evaluator does not know
    the contents' classes); NaN each without outputs."""
    if images is None:
        return dict.fromkeys(SPREAD, float("nan"))
    features, _ = extract(evaluator.network, images, cfg.batch_size, device)
    by_content = features.reshape(len(classes), -1, features.shape[1])  # (S, K, D)
    real_classes = evaluator.reference_labels
    if not by_class:  # one class: every real image
        classes, real_classes = np.zeros_like(classes), np.zeros_like(real_classes)
    spread = diversity_over_styles(by_content, classes, evaluator.reference_features, real_classes)
    return {key: spread.get(key, float("nan")) for key in SPREAD}


def scored_ways(
    arrays: dict[str, np.ndarray], test: RestyleSplit | Split, train: Split,
    evaluator: LoadedEvaluator, cfg: EvalConfig, device: torch.device,
) -> dict[str, dict[str, float | None]]:  # fmt: skip
    """The restyler's outputs (`arrays`, as the sample stage wrote them: pairs of test images)
    and the four ways that need no GAN, on the same `cfg.style_pairs` pairs (drawn with
    `cfg.seed`; all of them when there are no more): per way, the scores of `restyle_scores`
    with `style_retrieval`, and the style correlations (`style_r_<m>`, `content_r_<m>`); and
    on the sample stage's contents each in K styles (as many as `cfg.style_pairs` outputs
    hold), the spread over styles (`SPREAD`). `train` is the style images' train split
    (retrieval's pool and the near-copy check's); a plain `Split` as `test` is one domain's,
    contents and styles alike. What `not_defined(test)` names is None.

    Morpho-MNIST's measurements and the hand-made transform, one core's work an image, are
    shared among as many processes as torch has threads (`shared_work.shared`)."""
    with shared_work.shared():
        return _scored_ways(arrays, test, train, evaluator, cfg, device)


def _scored_ways(
    arrays: dict[str, np.ndarray], test: RestyleSplit | Split, train: Split,
    evaluator: LoadedEvaluator, cfg: EvalConfig, device: torch.device,
) -> dict[str, dict[str, float | None]]:  # fmt: skip
    if isinstance(test, Split):
        test = RestyleSplit(test, test, by_class=True, digits=True)
    pairs = len(arrays[SAMPLES_FILE])
    # a seeded draw of the pairs, not the first ones: a split may be stored class by class
    chosen = np.sort(np.random.default_rng(cfg.seed).permutation(pairs)[: cfg.style_pairs])
    labels = arrays[LABELS_FILE][chosen]
    contents = test.content.images[arrays[CONTENT_INDEX_FILE][chosen]]
    styles = test.style.images[arrays[STYLE_INDEX_FILE][chosen]]
    style_features, _ = extract(evaluator.network, styles, cfg.batch_size, device)  # (N, D)
    measured = None
    if test.digits:
        measured = {
            "content": morpho.measure_batch(contents),
            "style": morpho.measure_batch(styles),
        }
    spread_pairs = _spread_pairs(arrays, test, cfg.style_pairs)
    hand_made = spread_hand = spread_hands = None
    if measured is not None:
        _, spread_contents, spread_styles = spread_pairs
        if arrays[SPREAD_STYLE_INDEX_FILE].shape[1] < 2:  # no spread to measure: none made
            spread_contents, spread_styles = spread_contents[:0], spread_styles[:0]
        spread_hands = morpho.measure_batch(spread_styles)
        hand_made, spread_hand = _hand_made_both(
            contents, styles, spread_contents, spread_styles, (measured["style"], spread_hands)
        )
    ways: dict[str, np.ndarray | None] = {
        "restyle": arrays[SAMPLES_FILE][chosen],
        "content": contents,
        "style": styles,
        "hand_made": hand_made,
        "retrieval": None,
    }
    train_measures = None
    if measured is not None and test.by_class:
        train_measures = morpho.measure_batch(train.images)
        ways["retrieval"] = retrieve_restyle(
            labels, styles, train.images, train.labels, train_measures=train_measures,
            style_measures=measured["style"],
        )  # fmt: skip
    spread_ways, spread_classes = _spread_ways(
        arrays, test, train, spread_pairs, spread_hand, train_measures, spread_hands
    )
    counts = {  # of the spread's outputs, as `pairs` is of the pairs'
        "spread_contents": float(len(spread_classes)),
        "spread_styles": float(arrays[SPREAD_STYLE_INDEX_FILE].shape[1]),
    }
    table: dict[str, dict[str, float | None]] = {}
    first: dict[str, float] = {}
    for name, images in ways.items():
        if images is None:  # not defined for this data: the row says so, no number made up
            table[name] = _finite(_undefined(first))
            continue
        moved = _correlations(images, measured, name, len(chosen))
        realism = restyle_scores(
            images, labels, train.images, evaluator, cfg, device, test.by_class, style_features
        )
        spread = _spread_scores(
            spread_ways[name], spread_classes, test.by_class, evaluator, cfg, device
        )
        first = first or {**realism, **spread, **counts, **moved}
        table[name] = _finite({**realism, **spread, **counts, **moved})
    return table

"""Style from one image onto another: how much of the style moved, and the baselines that
need no GAN.

For handwritten digits the style meter is Morpho-MNIST's shape measurements (`morpho`:
Castro et al. 2019): a restyled digit has taken the hand of its style image when, across
pairs, its thickness, slant, width and height follow the style image's, not the content
image's. `style_moved` gives both correlations per measurement. The same correlations score
the baselines a translator must beat:

- the content as it is (style correlation ~0, content correlation 1);
- the style image as it is (style correlation 1, but the wrong digit);
- `hand_made_restyle`: the content sheared to the style's slant, scaled to its width and
  height, and thickened or thinned to its thickness, with Morpho-MNIST's own perturbations;
- `retrieve_restyle`: the training image of the content's class whose hand (thickness,
  slant, width, height, each standardised by its spread over the training split) is nearest
  the style's.

For a user's images that are not digits there is no shape to measure: `style_retrieval`
(whether a style image is nearer to its own output than to the others, in given features)
and `diversity_over_styles` (one content in several styles gives several images) apply to
any features. Pure: numpy and torch, no files, no MLflow.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from skimage import morphology

from ganops.errors import DataError
from ganops.metrics import morpho, shared_work
from ganops.metrics.diversity import MAX_PER_CLASS, mean_pairwise_distance
from ganops.metrics.skeleton import medial_axis

# score name -> Morpho-MNIST field; the hand first, then the two that also depend on the digit
MEASUREMENTS = {
    "thickness": "thickness",
    "slant": "slant_deg",
    "width": "width",
    "height": "height",
    "area": "area",
    "length": "length",
}
# what retrieval matches: the hand, not the digit (a 3's skeleton is longer than a 7's)
RETRIEVAL_FIELDS = ("thickness", "slant_deg", "width", "height")
MIN_PAIRS = 3  # a correlation over fewer measured pairs is NaN
MIN_PER_WORKER = 100  # hand_made_restyle: the fewest images worth a process's start (~26 ms each)
SLANT_LIMIT_DEG = 80.0  # shear_to's bound
_FLAT = 1e-9  # values that vary less than this (relative to their size) do not vary

Measures = dict[str, np.ndarray]  # Morpho-MNIST field -> (N,) float64, NaN for a blank image
ValueRange = tuple[float, float] | None


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson correlation of the pairs where both values are finite; NaN when fewer than
    `MIN_PAIRS` are, or when either side does not vary over them."""
    finite = np.isfinite(x) & np.isfinite(y)
    if finite.sum() < MIN_PAIRS:
        return float("nan")
    a, b = x[finite] - x[finite].mean(), y[finite] - y[finite].mean()
    flat = [np.abs(d).max() <= _FLAT * (1.0 + np.abs(v[finite]).max()) for d, v in ((a, x), (b, y))]
    if any(flat):  # rounding noise (upright shapes' slant, 1e-15 degrees) correlates at random
        return float("nan")
    return float(a @ b / np.sqrt((a @ a) * (b @ b)))


def _blank(measures: Measures) -> np.ndarray:
    """`(N,)` bool: which images had nothing drawn (every measurement NaN)."""
    return np.isnan(measures["area"])  # type: ignore[no-any-return]


def style_correlations(outputs: Measures, contents: Measures, styles: Measures) -> dict[str, float]:
    """`style_moved` on measurements already taken (`morpho.measure_batch`'s dicts of one
    length): `style_r_<m>` and `content_r_<m>` for each of `MEASUREMENTS`, the pairs, and
    how many had a blank output, content or style (left out of every correlation)."""
    sizes = {len(side["area"]) for side in (outputs, contents, styles)}
    if len(sizes) != 1:
        raise DataError(
            f"style_moved: outputs, contents and styles must pair up one to one, got "
            f"{len(outputs['area'])}, {len(contents['area'])} and {len(styles['area'])} images"
        )
    blank_out, blank_content, blank_style = _blank(outputs), _blank(contents), _blank(styles)
    usable = ~(blank_out | blank_content | blank_style)
    scores: dict[str, float] = {}
    for name, field in MEASUREMENTS.items():
        out = np.where(usable, outputs[field], np.nan)
        scores[f"style_r_{name}"] = pearson(out, styles[field])
        scores[f"content_r_{name}"] = pearson(out, contents[field])
    scores.update(
        pairs=float(sizes.pop()),
        pairs_measured=float(usable.sum()),
        blank_outputs=float(blank_out.sum()),
        blank_contents=float(blank_content.sum()),
        blank_styles=float(blank_style.sum()),
    )
    return scores


def style_moved(
    outputs: np.ndarray,
    contents: np.ndarray,
    styles: np.ndarray,
    value_range: ValueRange = None,
) -> dict[str, float]:
    """How far the hand of each style image moved into its output, for pairs `outputs[i]`
    (content `contents[i]` in the style of `styles[i]`), each `(N, H, W)` or `(N, 1, H, W)`
    in `value_range` (uint8 0..255 or float 0..1 by default, as `morpho.measure`).

    For each measurement m of `MEASUREMENTS`: `style_r_<m>`, the Pearson correlation across
    pairs of the output's m with the style image's, and `content_r_<m>`, with the content
    image's. A translator that moves the style has the first near 1 and above the second.
    A blank image (nothing drawn) has no shape: its pair is left out of every correlation
    and counted (`blank_outputs`, `blank_contents`, `blank_styles`; `pairs_measured` is
    what is left). A correlation over fewer than `MIN_PAIRS` pairs, or of a value that
    does not vary, is NaN."""
    return style_correlations(
        morpho.measure_batch(outputs, value_range),
        morpho.measure_batch(contents, value_range),
        morpho.measure_batch(styles, value_range),
    )


def _paired_stacks(contents: np.ndarray, styles: np.ndarray, what: str) -> np.ndarray:
    """`(N, H, W)` contents, checked to pair up one to one with `styles`."""
    stack = morpho._as_stack(contents)
    if len(stack) != len(morpho._as_stack(styles)):
        raise DataError(
            f"{what}: contents and styles must pair up one to one, got {len(stack)} contents "
            f"and {len(morpho._as_stack(styles))} styles"
        )
    return stack


def _thickness(big: np.ndarray) -> float:
    """The thickness an upscaled grey image will measure once downscaled: the steps of
    `morpho.measure` that thickness needs, and no others (the bounding parallelogram of
    width and height was a third of the transform's time). NaN for a blank image."""
    foreground = morpho._binarise(morpho.upscale(morpho._unit_image(morpho.downscale(big), None)))
    if foreground is None:
        return math.nan
    skeleton, distance = medial_axis(np.pad(foreground, 1))
    return 2.0 * float(distance[1:-1, 1:-1][skeleton[1:-1, 1:-1]].mean()) / morpho.SCALE


def _restroked(
    big: np.ndarray, thickness: float, now: float | None = None
) -> tuple[np.ndarray, float]:
    """An upscaled grey image dilated or eroded (as `morpho.thicken` and `thin`) by what its
    thickness (`now`, measured when not given) lacks of `thickness`, and the thickness of
    what it returns; kept as it was when that lands further from it (the 0.5 px steps, and a
    dilation that rounds corners and forks the skeleton, can), or when it thins the digit
    away."""
    now = _thickness(big) if now is None else now
    if np.isnan(now):
        return big, now
    change = morphology.dilation if thickness >= now else morphology.erosion
    changed: np.ndarray = change(big, morpho._stroke_disk(thickness - now))  # type: ignore[operator]
    after = _thickness(changed)
    return (changed, after) if abs(after - thickness) < abs(now - thickness) else (big, now)


def restyle_one(
    content: np.ndarray,
    slant_deg: float,
    thickness: float,
    width: float,
    height: float,
    value_range: ValueRange = None,
) -> np.ndarray:
    """One `(H, W)` content image given a hand with Morpho-MNIST's perturbations, all in
    one pass at the upscaled resolution (each of `morpho`'s own functions upscales and
    downscales once, which blurs: five in a row leave a grey smear): sheared to `slant_deg`,
    scaled to `width` x `height`, thickened or thinned to `thickness` (twice: a stroke
    stretched far thins back short of the target in one go), scaled again (a stroke change
    moves the sides) and restroked once more. On 60 mnist-5k pairs this copies the style's
    slant, thickness, width and height with correlations 0.99, 0.92, 0.99 and 0.93. A
    blank image comes back blank; no stroke change that would thin the digit away is made."""
    slant = float(np.clip(slant_deg, -SLANT_LIMIT_DEG, SLANT_LIMIT_DEG))

    def change(big: np.ndarray) -> np.ndarray:
        big = morpho.scale_upscaled(morpho.shear_upscaled(big, slant), width, height)
        big, now = _restroked(big, thickness)
        big, _ = _restroked(big, thickness, now)
        return _restroked(morpho.scale_upscaled(big, width, height), thickness)[0]

    return morpho._perturbed(content, value_range, change)


def _restyled_rows(stack: np.ndarray, hands: Measures, value_range: ValueRange) -> np.ndarray:
    """`restyle_one` of each content of `stack` `(N, H, W)` with its style's measurements
    `hands` (N each); a blank style's content as it is."""
    out = np.empty_like(stack)
    for i, content in enumerate(stack):
        if np.isnan(hands["area"][i]):
            out[i] = content
            continue
        out[i] = restyle_one(
            content,
            hands["slant_deg"][i],
            hands["thickness"][i],
            hands["width"][i],
            hands["height"][i],
            value_range,
        )
    return out


def hand_made_restyle(
    contents: np.ndarray, styles: np.ndarray, value_range: ValueRange = None,
    workers: int | None = None, hands: Measures | None = None,
) -> np.ndarray:  # fmt: skip
    """The hand-made transform a domain expert would write: each content image
    (`(N, H, W)` or `(N, 1, H, W)`, in `value_range`) given the slant, width, height and
    thickness of its style image by Morpho-MNIST's perturbations (`restyle_one`). Returns
    the contents' shape, dtype and range. A blank content comes back as it is, and so does
    a content whose style image is blank (there is no hand to copy). `hands`: the styles'
    measurements (`morpho.measure_batch`), where the caller has them.

    The styles are measured and the contents transformed in contiguous parts (at least
    `MIN_PER_WORKER` images each: fewer are not worth a process's start) by the processes
    of the open `shared_work.shared()` block, or else by `workers` processes (None: as many
    as torch has threads) started for this call. Each image is transformed alone, in numpy
    and scikit-image on one core, so the bytes are the same whatever their number."""
    stack = _paired_stacks(contents, styles, "hand_made_restyle")
    wanted = torch.get_num_threads() if workers is None else workers
    with shared_work.shared(max(1, min(wanted, len(stack) // MIN_PER_WORKER))):
        if hands is None:
            hands = morpho.measure_batch(styles, value_range)
        elif len(hands["area"]) != len(stack):
            raise DataError(
                f"hand_made_restyle: {len(hands['area'])} measured styles for {len(stack)} pairs"
            )
        parts = shared_work.in_parts(
            _restyled_rows, len(stack), [stack, hands], [value_range], MIN_PER_WORKER
        )
        if parts is None:
            out = _restyled_rows(stack, hands, value_range)
        else:
            out = np.concatenate(list(parts))
    return out.reshape(np.shape(contents))


def _standardised(measures: Measures, scale: np.ndarray) -> np.ndarray:
    """`(N, len(RETRIEVAL_FIELDS))`: each field divided by its training-split spread."""
    return np.stack([measures[f] for f in RETRIEVAL_FIELDS], axis=1) / scale  # type: ignore[no-any-return]


def retrieve_restyle(
    content_labels: np.ndarray,
    styles: np.ndarray,
    train_images: np.ndarray,
    train_labels: np.ndarray,
    value_range: ValueRange = None,
    train_measures: Measures | None = None,
    style_measures: Measures | None = None,
) -> np.ndarray:
    """Retrieval: for each pair, the training image of class `content_labels[i]` whose hand
    is nearest that of `styles[i]`. The hand is `RETRIEVAL_FIELDS` (thickness, slant,
    width, height), each divided by its standard deviation over the whole training split
    (so that a degree of slant and a pixel of width weigh by how much they vary), and
    nearest is Euclidean in those units. Blank training images are never retrieved; for a
    blank style, the class's training image nearest the training split's mean hand.

    `train_measures` (`morpho.measure_batch` of `train_images`) saves measuring the
    training split again on a second call, `style_measures` (of `styles`) measuring styles
    the caller has measured. Returns the training images' shape and dtype,
    one image a pair."""
    content_labels = np.asarray(content_labels)
    train_labels = np.asarray(train_labels)
    train_stack = morpho._as_stack(train_images)
    if len(train_stack) != len(train_labels):
        raise DataError(
            f"retrieve_restyle: {len(train_stack)} training images but {len(train_labels)} labels"
        )
    if len(content_labels) != len(morpho._as_stack(styles)):
        raise DataError(
            f"retrieve_restyle: {len(content_labels)} content labels but "
            f"{len(morpho._as_stack(styles))} styles"
        )
    missing = sorted(set(content_labels.tolist()) - set(train_labels.tolist()))
    if missing:
        raise DataError(f"retrieve_restyle: no training image of class {missing[0]}")
    if train_measures is None:
        train_measures = morpho.measure_batch(train_stack, value_range)
    elif len(train_measures["area"]) != len(train_stack):
        raise DataError("retrieve_restyle: train_measures do not match the training images")
    pool = np.stack([train_measures[f] for f in RETRIEVAL_FIELDS], axis=1)  # (M, 4)
    usable = np.isfinite(pool).all(axis=1)
    scale = pool[usable].std(axis=0)
    scale[scale == 0] = 1.0
    pool_units = pool / scale
    if style_measures is None:
        style_measures = morpho.measure_batch(styles, value_range)
    elif len(style_measures["area"]) != len(content_labels):
        raise DataError("retrieve_restyle: style_measures do not match the styles")
    style_units = _standardised(style_measures, scale)  # (N, 4)
    centre = pool_units[usable].mean(axis=0)
    chosen = np.empty(len(content_labels), dtype=np.int64)
    for i, label in enumerate(content_labels):
        candidates = np.flatnonzero((train_labels == label) & usable)
        if not len(candidates):
            raise DataError(f"retrieve_restyle: every training image of class {label} is blank")
        target = style_units[i] if np.isfinite(style_units[i]).all() else centre
        distance = np.linalg.norm(pool_units[candidates] - target, axis=1)
        chosen[i] = candidates[int(np.argmin(distance))]
    return np.asarray(train_images)[chosen]


def style_retrieval(
    output_features: np.ndarray | torch.Tensor, style_features: np.ndarray | torch.Tensor,
    content_classes: np.ndarray | None = None,
) -> float:  # fmt: skip
    """How often a style image is nearer its own output than another pair's, for any
    images: over every pair i and every other pair j, the share where the L2 distance in
    the given features `(N, D)` from style i to output i is below that to output j (a tie
    counts half). 0.5 is chance (the output ignores its style), 1 every style is nearest
    its own output. Needs at least two pairs.

    With `content_classes` `(N,)`, the class of each pair's content, pair i is compared only
    with the pairs j whose content is of its class: the outputs compared then show one class,
    so an output that ignores its style is at chance even where the features mostly read
    the class and each style is of another class than its content (over all pairs such an
    output is farther from its own style than from the outputs of the style's class, and
    lands under 0.5). NaN where no two pairs share a class."""
    outputs = torch.as_tensor(np.asarray(output_features), dtype=torch.float64)
    styles = torch.as_tensor(np.asarray(style_features), dtype=torch.float64)
    if outputs.ndim != 2 or outputs.shape != styles.shape:
        raise DataError(
            f"style_retrieval: expected (N, D) output and style features of one shape, got "
            f"{tuple(outputs.shape)} and {tuple(styles.shape)}"
        )
    count = outputs.shape[0]
    if count < 2:
        raise DataError(f"style_retrieval: needs at least 2 pairs, got {count}")
    distance = torch.cdist(styles, outputs)  # (N, N): style i to output j
    own = distance.diagonal().unsqueeze(1)  # (N, 1)
    others = ~torch.eye(count, dtype=torch.bool)
    if content_classes is not None:
        classes = np.asarray(content_classes)
        if classes.shape != (count,):
            raise DataError(
                f"style_retrieval: expected one content class a pair ({count}), got shape "
                f"{classes.shape}"
            )
        others &= torch.as_tensor(classes[:, None] == classes[None, :])
        if not others.any():
            return float("nan")
    wins = (own < distance).double() + 0.5 * (own == distance).double()
    return float(wins[others].mean())


def diversity_over_styles(
    features_by_content: Sequence[np.ndarray | torch.Tensor] | np.ndarray | torch.Tensor,
    content_classes: np.ndarray | None = None,
    real_features: np.ndarray | torch.Tensor | None = None,
    real_classes: np.ndarray | None = None,
) -> dict[str, float]:
    """The spread of one content drawn in several styles: `features_by_content[c]` `(S, D)`
    are the features of content c's S outputs (S >= 2; an `(C, S, D)` array works too).

    `style_spread`: the mean over contents of the mean pairwise L2 distance of their
    outputs (`diversity.mean_pairwise_distance`); `style_spread_min`, the least of them
    (0: some content came out the same whatever the style). With `content_classes` `(C,)`
    and real images' `real_features` `(M, D)` and `real_classes` `(M,)`:
    `style_spread_ratio`, the mean over contents of its spread divided by the spread of the
    real images of its class (about 1: as varied as the real hands of that digit), and
    `style_spread_real`, the mean over contents of that real spread (at most
    `diversity.MAX_PER_CLASS` real images a class, evenly strided); both left out where a
    content's class has fewer than two real images (no real spread). For images without
    classes, class 0 for every content and real image compares with all real images."""
    groups = [
        torch.as_tensor(np.asarray(group), dtype=torch.float64) for group in features_by_content
    ]
    if not groups:
        raise DataError("diversity_over_styles: no contents given")
    for c, group in enumerate(groups):
        if group.ndim != 2 or group.shape[0] < 2:
            raise DataError(
                f"diversity_over_styles: content {c} needs (S, D) features with S >= 2 "
                f"styles, got shape {tuple(group.shape)}"
            )
    spreads = np.array([mean_pairwise_distance(group) for group in groups])
    scores = {"style_spread": float(spreads.mean()), "style_spread_min": float(spreads.min())}
    given = [x is not None for x in (content_classes, real_features, real_classes)]
    if any(given) and not all(given):
        raise DataError(
            "diversity_over_styles: content_classes, real_features and real_classes go together"
        )
    if content_classes is None or real_features is None or real_classes is None:
        return scores
    content_classes, real_classes = np.asarray(content_classes), np.asarray(real_classes)
    if len(content_classes) != len(groups):
        raise DataError(
            f"diversity_over_styles: {len(content_classes)} content classes for "
            f"{len(groups)} contents"
        )
    real = torch.as_tensor(np.asarray(real_features), dtype=torch.float64)
    real_spread = {}
    for label in set(content_classes.tolist()):
        rows = np.flatnonzero(real_classes == label)
        if len(rows) < 2:  # no real spread to compare with (a small folder's class)
            return scores
        # evenly strided, not the first: images without classes may be stored by folder
        rows = rows[:: -(-len(rows) // MAX_PER_CLASS)]
        real_spread[label] = mean_pairwise_distance(real[rows])
    reals = [real_spread[k] for k in content_classes.tolist()]
    scores["style_spread_real"] = float(np.mean(reals))
    scores["style_spread_ratio"] = float(
        np.mean([s / max(r, 1e-12) for s, r in zip(spreads, reals, strict=True)])
    )
    return scores

"""Does writing every training digit in other writers' hands make a classifier generalise to
writers it has never seen? The downstream stage of a restyler.

The classifier of the evaluator's architecture and recipe (`evaluator.*`) is trained, over
paired seeds and for equal steps (`downstream.*`, `ganops.classifier_arms`), on the content
images' labelled train split

- `real`: as it is;
- `affine`: under classical augmentation (rotation, shift, zoom), every image of every batch;
- `handmade`: with each train digit through the hand-made transform (Morpho-MNIST's
  perturbations to the slant, width, height and thickness of its style digit,
  `ganops.metrics.restyle_scores.hand_made_restyle`) added;
- `restyled`: with each train digit drawn by the trained restyler in the hand of its style
  digit added.

Each digit's style digit is a seeded draw (`downstream.seed`) among the style images' train
digits of another class, the same draw for both transforms, so the two arms differ only in
who drew the hand. Both are added, not put in place: each batch is real digits and, making
up `downstream.synthetic_share` of it, transformed ones (the generate task's real + synthetic
mix). In place, a restyler that loses some digits' class (`content_kept` below 1) would be
measured for that rather than for the hands it adds; added, every arm keeps every real digit.

Every classifier is tested on the data's test split (writers of the training source) and on
all 1,797 UCI handwritten digits (`uci-digits`, scikit-learn's copy of the UCI set's test
part: 13 writers, none of whom wrote a training digit), brought to the data's size as
preprocess brings a source (`center_crop_resize`, `UNSEEN`), and the same digits in MNIST's
geometry (`UNSEEN_FRAMED`: shrunk into a 20 px box and centred by mass, the translate task's
`mnist_geometry`). UCI's digits fill their frame where MNIST's sit in a 20 px box: as
preprocess sizes them, a classifier of MNIST's digits meets a new framing as well as new
hands; in MNIST's geometry, mostly the hands.

With two domains (`restyle.content_source`) of digits, the classifier learns A's train digits,
their styles are B's train digits, and it is tested on B's test split and on UCI. The arms are
not defined where the images are not digits of a registered source (a user's folders,
another source): there are no Morpho-MNIST measurements to transform and no unseen writers to
test on (`not_defined`). UCI is no set of unseen writers when it is a training source: then
only the data's test split is reported.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ganops.classifier_arms import ArmData, Labelled, per_seed, summarise
from ganops.config import Params
from ganops.data.dataset import Split
from ganops.data.processing import center_crop_resize, per_class_subset
from ganops.data.sources import DIGITS, fetch_source, get_source
from ganops.errors import DataError
from ganops.metrics.restyle_scores import hand_made_restyle
from ganops.restyle.domains import RestyleSplit
from ganops.restyle.networks import Restyler
from ganops.restyle.outputs import restyle_split
from ganops.restyle.pairs import pairs_across
from ganops.translation.baselines import mnist_geometry
from ganops.translation.domains import config_of

UCI = "uci-digits"
UNSEEN = "uci"  # the name of the unseen writers' test set in the metrics
UNSEEN_FRAMED = "uci_mnist_geometry"  # the same digits in MNIST's geometry
_SUBSET_STREAM = 3  # the random stream of the transformed digits' choice (not the pairs')
# arm -> how `classifier_arms.train_arm` trains it (`real_synthetic`: the arm's images added)
ARMS = {"real": "real", "affine": "real_affine", "handmade": "real_synthetic",
        "restyled": "real_synthetic"}  # fmt: skip
# the comparisons reported on each test set: (name, arm, baseline arm)
GAINS = (
    ("gain_restyled_vs_real", "restyled", "real"),
    ("gain_restyled_vs_affine", "restyled", "affine"),
    ("gain_restyled_vs_handmade", "restyled", "handmade"),
    ("gain_handmade_vs_real", "handmade", "real"),
)


def not_defined(params: Params, split: RestyleSplit) -> str | None:
    """Why the arms are not defined for this data, or None where they are."""
    digits = split.digits and split.style.class_names == DIGITS and params.data.folder is None
    if not digits or not split.by_class:
        return (
            "the images are not both digits of a registered source (mnist, mnist-5k, "
            "uci-digits): there is no hand-made transform of their shape and no test set of "
            "unseen writers"
        )
    return None


def unseen_is_trained_on(params: Params) -> bool:
    """Whether UCI's writers wrote training images (then they are not unseen)."""
    return UCI in (params.data.source, params.restyle.content_source)


def unseen_writers(params: Params, size: int) -> Split:
    """All of UCI's digits (the scikit-learn file, checked against its pinned sha256) as
    preprocess would bring them to `size` px: centre-cropped, resized; uint8 `(N, 1, H, W)`."""
    with tempfile.TemporaryDirectory(prefix="ganops-uci-") as folder:
        raw = fetch_source(config_of(params.data, UCI), Path(folder) / "raw")
        decoded = get_source(UCI).load(raw)
    return Split(center_crop_resize(decoded.images, size), decoded.labels, decoded.class_names)


def check_restyler(restyler: Restyler, images: np.ndarray) -> None:
    """A one-line error when the restyler does not take images `(N, C, H, W)`."""
    spec = restyler.spec
    want = (spec.channels, spec.image_size, spec.image_size)
    if tuple(images.shape[1:]) != want:
        got = "x".join(str(side) for side in images.shape[1:])
        raise DataError(
            f"the restyler takes {'x'.join(map(str, want))} (CxHxW) images but the train split "
            f"holds {got}; rerun the train stage on this data"
        )


@dataclass(frozen=True)
class Transformed:
    """The train digits the handmade and restyled arms add: which (indices into the content
    train split, `(M,)` int64) and each through the hand-made transform and the restyler,
    uint8 `(M, C, H, W)`."""

    chosen: np.ndarray
    handmade: np.ndarray
    restyled: np.ndarray


def transformed(
    restyler: Restyler, content: Split, style: Split, seed: int, device: torch.device,
    per_class: int | None = None, batch_size: int = 500,
) -> Transformed:  # fmt: skip
    """Every content train digit (`per_class` of each class, a seeded choice, when given)
    through the hand-made transform and through the restyler, each toward the same seeded
    style train digit of another class (`pairs_across`, seed `seed`)."""
    check_restyler(restyler, content.images)
    chosen = np.arange(len(content.labels), dtype=np.int64)
    if per_class is not None:
        key = "downstream.transformed_per_class"
        chosen = per_class_subset(content.labels, per_class, seed, key, _SUBSET_STREAM)
    images = content.images[chosen]
    _, styles = pairs_across(content.labels[chosen], style.labels, seed, by_class=True)
    restyled = restyle_split(
        restyler, images, np.arange(len(images)), styles, device, batch_size, style.images
    )
    return Transformed(chosen, hand_made_restyle(images, style.images[styles]), restyled)


def training_arms(source: Labelled, added: Transformed) -> dict[str, ArmData]:
    """Each arm's kind of training, its real images and the images it adds (`real` and
    `affine` add none: their own), checked: one transformed digit of the source's shape and
    dtype per chosen one."""
    want = (len(added.chosen), *source.images.shape[1:])
    drawn = {"handmade": added.handmade, "restyled": added.restyled}
    for name, images in drawn.items():
        if images.shape != want or images.dtype != source.images.dtype:
            raise DataError(
                f"downstream: the {name} digits are {images.dtype} {tuple(images.shape)}, not "
                f"one per chosen train digit, {source.images.dtype} {want}"
            )
    labels = source.labels[added.chosen]
    return {
        arm: (kind, source, Labelled(drawn[arm], labels) if arm in drawn else source)
        for arm, kind in ARMS.items()
    }


def test_sets(params: Params, test: Split) -> dict[str, Split]:
    """The sets every classifier is tested on: the data's test split (`test`) and, unless its
    writers wrote training images, UCI's digits at the same shape (`UNSEEN`) and in MNIST's
    geometry (`UNSEEN_FRAMED`)."""
    sets = {"test": test}
    if not unseen_is_trained_on(params):
        uci = unseen_writers(params, test.images.shape[-1])
        sets[UNSEEN] = uci
        sets[UNSEEN_FRAMED] = Split(mnist_geometry(uci.images), uci.labels, uci.class_names)
    return sets


def flat_rows(
    accuracies: dict[str, dict[str, list[float]]], summary: dict[str, Any]
) -> tuple[dict[str, list[float]], dict[str, Any]]:
    """The accuracies and their summary rows keyed `arm (test set)`, one row each, for the
    arms plot."""
    keys = [(arm, name) for name, arms in accuracies.items() for arm in arms]
    rows = {f"{arm} ({name})": accuracies[name][arm] for arm, name in keys}
    return rows, {f"{arm} ({name})": summary[name][arm] for arm, name in keys}


def summary_of(
    accuracies: dict[str, dict[str, list[float]]], tests: dict[str, Split], first_seed: int
) -> dict[str, Any]:
    """The metrics: per test set, each arm's accuracy (mean and standard deviation over the
    seeds) and each of `GAINS` with its paired verdict (`classifier_arms.summarise`); each
    set's size; and every classifier's accuracy by seed (`per_seed`), the pairs the gains
    are computed from."""
    summary: dict[str, Any] = {
        name: summarise(accuracies[name], len(test.labels), GAINS) for name, test in tests.items()
    }
    summary |= {f"{name}_images": len(test.labels) for name, test in tests.items()}
    summary["per_seed"] = {name: per_seed(arms, first_seed) for name, arms in accuracies.items()}
    return summary
